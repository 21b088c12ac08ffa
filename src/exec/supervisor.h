// The supervisor: a small process, separate from the server, that owns one
// run from start to exit record. The server re-executes its own binary as
// `jenky __supervise` (like podman's conmon) ahead of need, and hands it a
// RunSpec on stdin when a run starts; from then on the run no longer depends
// on the server: restarting or killing `jenky serve` leaves it running, and
// the next server adopts it through the run directory (run_dir.h).
//
// Lifecycle:
//   1. read the RunSpec, one line, from stdin (EOF with nothing: the server no longer
//      needs this spare; exit 0)
//   2. take `lock`, refuse if an exit record already exists, write
//      supervisor.json
//   3. spawn argv in its own process group, stdin /dev/null, stdout+stderr
//      into one pipe; become a child subreaper so that double-forked
//      descendants stay in reach
//   4. copy the pipe into log + log.idx as bytes arrive; a log that would
//      grow past max_log_bytes is cut there and the run stopped as in 5
//   5. on timeout (own timer) or SIGTERM (cancel: reason in `cancel`), TERM
//      the whole run, then KILL it after kill_grace. The whole run is found
//      three ways: descendants (a spare is a subreaper from its first
//      instruction), the run's cgroup where there is one (cgroup.h), and
//      every process whose environment carries the run's JENKY_RUN_DIR or
//      the warm shell's marker
//   6. when the script exits, end whatever it left behind the same way, and
//      record what the run used (cgroup: cpu.stat, memory.peak, pids.peak)
//   7. fsync the log, write exit.json atomically, exit (dropping the lock)
//
// Its pieces, one file each: the RunSpec and its wire form (run_spec.h), the
// warm shell (warm_shell.h), the stage (stage.h); this file runs them.
// Threads: a supervisor is one single-threaded process; it owns its run's
// files, the script's process tree and the run's cgroup until it exits.
#pragma once

#include <string>
#include <vector>

#include "exec/run_dir.h"
#include "exec/run_spec.h"
#include "exec/warm_shell.h"

namespace jenky {

class RunCgroup;  // exec/cgroup.h
struct Stage;     // exec/stage.h

// Runs SPEC to completion in this process (steps 2-7). Returns the process
// exit code for the supervisor: 0 when an exit record was written.
int Supervise(const RunSpec& spec);

// `jenky __supervise [--warm-shell SHELL] [--stage RUNS_DIR]`: steps 1-7.
//
// With a stage, the spare also makes its run directory before its run
// exists: RUNS_DIR/.spare-PID with step 2's files and an empty log (run_dir.h).
// A RunSpec that is `staged` runs in it, under the name the server gave it;
// any other RunSpec, or none, and the spare removes it.
//
// With a warm shell, the spare starts SHELL (bash) before its run exists and
// hands it the run instead of starting one (warm_shell.h); WARM_FDS are the
// pipe and memfd the server made for it (`--warm-fds R,D,W`).
//
// With a cgroup tree (`--cgroup TREE`, cgroup.h), the spare makes its run's
// cgroup there before anything else, starts its warm shell (and later the
// script) in it, ends the run by killing it, measures the run from it and
// removes it at the end; it stays outside it itself.
int SupervisorMain(const std::string& warm_shell = "", const std::string& stage_in = "",
                   const WarmFds* warm_fds = nullptr, const std::string& cgroup_tree = "");

// The signals a supervisor handles (SIGTERM and SIGINT cancel, SIGHUP too,
// SIGCHLD). Whoever starts one blocks them in SpawnOptions::blocked_signals:
// a cancel sent while the new process is still loading would otherwise kill
// it by the default action, before it could block them itself, and the run
// would have no result.
const std::vector<int>& SupervisorSignals();

// The supervisor proper, for SupervisorMain (supervisor_main.cc): runs SPEC
// with what this process made before it had a run; WARM, STAGE and CGROUP
// may each be null. Returns the process's exit code.
int SuperviseWith(const RunSpec& spec, WarmShell* warm, Stage* stage, const SupervisorId& self,
                  RunCgroup* cgroup);

}  // namespace jenky
