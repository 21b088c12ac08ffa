// The run directory, data_dir/runs/ID: the durable record of one execution,
// shared by the server and the run's supervisor (docs/run_dir.md).
//
//   meta.json        the run as triggered (server, before start)
//   script           the exact text that runs (server, before start)
//   log, log.idx     output and line index (supervisor, append-only)
//   lock             flock'ed LOCK_EX by the supervisor for its whole life
//   supervisor.json  {pid, start_time} of the supervisor (supervisor)
//   cancel           why the run is being cancelled (server, before signalling)
//   exit.json        final status (supervisor; or server when declaring it
//                    interrupted while holding the lock) - written atomically
//   exit.reserve     the exit record's disk space, taken by the supervisor at
//                    start, so a full disk cannot keep it from recording why
//                    the run ended; renamed to exit.json when written
//
// A spare supervisor makes its run directory before its run exists, as
// runs/.spare-PID (StagePath), with lock held, exit.reserve taken, an empty
// log, log.idx, script and meta.json, and supervisor.json: creating files is
// the slow part of starting a run on many disks. The server fills script and
// meta.json and renames the directory to runs/ID; the supervisor then has its
// files open already. A stage whose lock nobody holds is left over from a
// spare that died, and is removed (RemoveStaleStages).
//
// Liveness never rests on a pid: the supervisor holds `lock`; the kernel drops
// it the instant the supervisor dies, whatever pids do after a reboot.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "core/run.h"
#include "util/status.h"

namespace jenky {

struct RunDir {
  std::string path;

  static RunDir For(const std::string& data_dir, int64_t run_id);
  // RUNS_DIR/.spare-PID: the run directory spare supervisor PID made ahead
  // of need. (Never a run id: recovery only reads names made of digits.)
  static std::string StagePath(const std::string& runs_dir, pid_t spare_pid);
  std::string meta() const { return path + "/meta.json"; }
  std::string script() const { return path + "/script"; }
  std::string log() const { return path + "/log"; }
  std::string index() const { return path + "/log.idx"; }
  std::string lock() const { return path + "/lock"; }
  std::string supervisor() const { return path + "/supervisor.json"; }
  std::string cancel() const { return path + "/cancel"; }
  std::string exit() const { return path + "/exit.json"; }
  std::string exit_reserve() const { return path + "/exit.reserve"; }
};

struct ExitRecord {
  RunStatus status = RunStatus::kFailed;
  std::optional<int> exit_code;
  std::string reason;
  int64_t started_at = 0;
  int64_t finished_at = 0;
  int64_t log_bytes = 0;
  std::optional<RunResources> resources;  // what the supervisor measured
};

// Takes kExitReserveBytes of disk for the exit record (exit.reserve).
constexpr int64_t kExitReserveBytes = 16 * 1024;
Status ReserveExitRecord(const RunDir& dir);
// Writes exit.json atomically, into the reserved space if there is one.
Status WriteExitRecord(const RunDir& dir, const ExitRecord& record);
// nullopt when there is none (yet).
std::optional<ExitRecord> ReadExitRecord(const RunDir& dir);

struct SupervisorId {
  pid_t pid = 0;
  uint64_t start_time = 0;
  // The run's cgroup (cgroup.h), "" if it has none: whoever finds the
  // supervisor gone kills what is left in it.
  std::string cgroup;
};
Status WriteSupervisorId(const RunDir& dir, const SupervisorId& id);
std::optional<SupervisorId> ReadSupervisorId(const RunDir& dir);

// "JENKY_SUPERVISOR=PID.START": the environment entry a supervisor's warm
// shell starts with (supervisor.h). The shell learns its run's JENKY_RUN_DIR
// only later, and /proc/PID/environ shows a process's environment as it was
// at its start: this entry is how a warm shell whose supervisor died is found.
std::string WarmShellMarker(const SupervisorId& id);

// True while some process holds `lock` exclusively (the supervisor lives).
bool SupervisorAlive(const RunDir& dir);

// Removes the stages in RUNS_DIR whose spare is gone (their lock is free);
// returns how many.
int RemoveStaleStages(const std::string& runs_dir);

// For a run whose supervisor is gone without an exit record: takes the lock
// (so a supervisor that has not started yet will see the record and refuse to
// run), ends what the run left running (its cgroup, and processes with its
// JENKY_RUN_DIR or its supervisor's WarmShellMarker) and writes an `interrupted` exit record.
// Returns the record in force, which is the supervisor's own if it finished in the meantime.
ExitRecord DeclareInterrupted(const RunDir& dir, const std::string& reason);

}  // namespace jenky
