// The supervisor: a small process, separate from the server, that owns one
// run from start to exit record. The server re-executes its own binary as
// `jenky __supervise` (like podman's conmon) ahead of need, and hands it a
// RunSpec on stdin when a run starts; from then on the run no longer depends
// on the server: restarting or killing `jenky serve` leaves it running, and
// the next server adopts it through the run directory (run_dir.h).
//
// Lifecycle:
//   1. read the RunSpec from stdin (EOF with nothing: the server no longer
//      needs this spare; exit 0)
//   2. take `lock`, refuse if an exit record already exists, write
//      supervisor.json
//   3. spawn argv in its own process group, stdin /dev/null, stdout+stderr
//      into one pipe; become a child subreaper so that double-forked
//      descendants stay in reach
//   4. copy the pipe into log + log.idx as bytes arrive; a log that would
//      grow past max_log_bytes is cut there and the run stopped as in 5
//   5. on timeout (own timer) or SIGTERM (cancel: reason in `cancel`), TERM
//      the whole tree, then KILL it after kill_grace
//   6. when the script exits, end whatever it left behind the same way
//   7. fsync the log, write exit.json atomically, exit (dropping the lock)
#pragma once

#include <cstdint>
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
};

std::string EncodeRunSpec(const RunSpec& spec);
Result<RunSpec> DecodeRunSpec(const std::string& text);

// Runs SPEC to completion in this process (steps 2-7). Returns the process
// exit code for the supervisor: 0 when an exit record was written.
int Supervise(const RunSpec& spec);

// `jenky __supervise`: steps 1-7.
int SupervisorMain();

// The signals a supervisor handles (SIGTERM and SIGINT cancel, SIGHUP too,
// SIGCHLD). Whoever starts one blocks them in SpawnOptions::blocked_signals:
// a cancel sent while the new process is still loading would otherwise kill
// it by the default action, before it could block them itself, and the run
// would have no result.
const std::vector<int>& SupervisorSignals();

}  // namespace jenky
