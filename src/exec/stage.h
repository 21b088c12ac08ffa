// The stage: a spare supervisor's run directory, made before its run exists
// (`jenky __supervise --stage RUNS_DIR`, supervisor.h; the layout is
// run_dir.h's). RUNS_DIR/.spare-PID holds the lock (taken), a reserved exit
// record, an empty log, script and meta, and supervisor.json; the server
// renames it to a run's directory and the spare then runs there, its files
// open already.
//
// Ownership and threads: a Stage belongs to the one spare supervisor that
// made it (single-threaded): it holds the lock's descriptor and the log's
// writer until the Supervisor takes them (supervisor.cc) or Remove deletes
// the stage. The lock is released only when the process exits.
#pragma once

#include <optional>
#include <string>

#include "exec/log_index.h"
#include "exec/run_dir.h"

namespace jenky {

class RunCgroup;   // exec/cgroup.h
struct WarmShell;  // exec/warm_shell.h

// A spare's run directory, made before its run exists (run_dir.h).
struct Stage {
  RunDir dir;  // runs/.spare-PID until the server renames it
  int lock_fd = -1;
  std::optional<LogWriter> log;

  // Deletes a stage no run will use (the lock goes when this process exits).
  void Remove();

  // The run directory the server renamed this stage to, found through the
  // lock's descriptor; "" while it is still a stage.
  std::string TakenAs() const;
};

// Makes RUNS_DIR/.spare-PID, under another name until it is complete: the
// server uses it only once it has every file. nullopt (and nothing left
// behind) when any step fails; the run is then started the slower way
// (a warning logged).
std::optional<Stage> MakeStage(const std::string& runs_dir, const SupervisorId& self);

// The server renamed this spare's stage to a run's directory and handed its
// warm shell the run, then ended before it sent the RunSpec: the script may
// have begun, with nobody to mask its secrets, keep its log or time it. It
// is stopped at once, and the run's record says so; the next server records
// the run from it instead of starting the script a second time.
void RecordCutOffRun(const RunDir& dir, WarmShell& warm, const SupervisorId& self,
                     const RunCgroup* cgroup);

}  // namespace jenky
