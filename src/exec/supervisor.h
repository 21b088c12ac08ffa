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
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace jenky {

struct RunSpec {
  std::string run_dir;
  int64_t run_id = 0;
  std::string project;
  std::vector<std::string> argv;  // shell and the script file
  std::vector<std::string> env;   // KEY=VALUE, complete
  std::string workdir;
  int64_t timeout_ms = 0;
  int64_t kill_grace_ms = 10'000;
  // The log is cut at this many bytes and the script's tree stopped; the run
  // fails. 0 = no limit. The log then ends with one line saying so.
  int64_t max_log_bytes = 0;
  std::vector<std::string> secrets;  // values masked in the log (masker.h)
  // run_dir is the stage this spare supervisor made (run_dir.h), renamed by
  // the server: its files are made and open already.
  bool staged = false;
  // The server started the spare's warm shell on this run already, through
  // the descriptors it gave the spare (WarmFds): the script runs.
  bool warm_started = false;
  // The project's limits for the run's cgroup (memory.max, pids.max);
  // 0 = none. A run that has them and cannot have them applied fails.
  int64_t memory_max = 0;
  int64_t tasks_max = 0;
};

// One line of JSON, ending in a newline.
std::string EncodeRunSpec(const RunSpec& spec);
Result<RunSpec> DecodeRunSpec(const std::string& text);

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
// With a warm shell, the spare starts SHELL (bash) before its run exists,
// waiting on a pipe with a small bootstrap; a run for `SHELL -e SCRIPT` is
// then handed to that shell instead of starting one, which takes the shell's
// start-up (about a millisecond and a half of exec, dynamic linking and
// initialisation here) off the trigger's path. The bootstrap changes to the
// workdir, exports the run's environment, resets SECONDS, sets -e and sources
// the script with $0 set to its path. Only what a cold start could show
// differently is told apart: BASH_SOURCE and FUNCNAME have one more entry
// (the bootstrap) and a top-level `return` ends the script instead of failing.
// The warm shell's go pipe (both ends) and data memfd, when the server makes
// them and passes them to the spare (`--warm-fds R,D,W`): with a copy of the
// write end and the memfd, the server starts a staged run's warm shell
// itself, in parallel with handing the spare its RunSpec (which then says
// warm_started). The data is WarmStartData, the go byte the same one.
struct WarmFds {
  int go_read = -1;
  int data = -1;
  int go_write = -1;
};

// With a cgroup tree (`--cgroup TREE`, cgroup.h), the spare makes its run's
// cgroup there before anything else, starts its warm shell (and later the
// script) in it, ends the run by killing it, measures the run from it and
// removes it at the end; it stays outside it itself.
int SupervisorMain(const std::string& warm_shell = "", const std::string& stage_in = "",
                   const WarmFds* warm_fds = nullptr, const std::string& cgroup_tree = "");

// The environment a warm shell starts with, from its spare's ENV (which the
// server gives what it keeps from scripts: other projects' secrets, its
// systemd variables): all of it but what bash acts on at start-up or sets
// itself (see WarmStartData, and _, PWD, OLDPWD, SHLVL).
std::vector<std::string> WarmShellEnv(const std::vector<std::string>& env);

// The run as a warm shell that started with SHELL_ENV sources it: `cd` to the
// workdir, one `unset` of what the shell has and the run has not, one
// `export` of what the run has and the shell has not (or has otherwise), and
// BASH_ARGV0 set to the script; every value a single-quoted word (nothing in
// it is expanded). nullopt when a warm start could differ from
// `SHELL -e SCRIPT` started with SPEC's environment in its workdir: another
// command line, a workdir that is not a directory (the cold start reports
// that), or an environment variable the shell treats specially at start-up
// (BASH_ENV, SHELLOPTS, IFS, exported functions, names that are not
// identifiers, ...). SHLVL, PWD, OLDPWD and _ get what a cold start would
// make of them.
std::optional<std::string> WarmStartData(const RunSpec& spec, const std::string& shell,
                                         const std::vector<std::string>& shell_env = {});

// The signals a supervisor handles (SIGTERM and SIGINT cancel, SIGHUP too,
// SIGCHLD). Whoever starts one blocks them in SpawnOptions::blocked_signals:
// a cancel sent while the new process is still loading would otherwise kill
// it by the default action, before it could block them itself, and the run
// would have no result.
const std::vector<int>& SupervisorSignals();

}  // namespace jenky
