// The engine's seam to supervisor processes: starting a run's supervisor
// (through a spare, exec/spare.h) and the probes adoption and recovery rest
// on (is the run's lock held, is there an exit record, which process is the
// supervisor). The engine decides; a Launcher touches processes and the
// files that speak for them. SupervisorLauncher is the real one; tests drive
// the engine through a fake (tests/unit/fake_launcher.h), in the manner of
// ninja's CommandRunner and FakeCommandRunner.
//
// Loop-thread only, like the engine.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "exec/run_dir.h"
#include "exec/spare.h"
#include "net/asio.h"
#include "util/status.h"
#include "util/unique_fd.h"

namespace jenky {

struct RunSpec;  // exec/supervisor.h

// A run's supervisor, started: its pid (the launcher's child) and a pidfd to
// watch it exit by (invalid where pidfds are unavailable).
struct Launched {
  pid_t pid = -1;
  UniqueFd pidfd;
};

class Launcher {
 public:
  // The Status code of a Launch whose script started although its
  // supervisor was lost: the run is interrupted, not failed to start.

  virtual ~Launcher() = default;

  // Once, at the engine's start: the host's cgroups, leftovers of earlier
  // servers, and the first spare, made with OPTIONS.
  virtual void Start(const SpareOptions& options) = 0;
  // OPTIONS for spares from now on: the configuration changed, or, before
  // Start, the runs recovery starts need them already.
  virtual void Reconfigure(const SpareOptions& options) = 0;
  // Lets the spare go. Running supervisors go on.
  virtual void Shutdown() = 0;

  // Makes DIR the run's directory with SCRIPT and META in it and hands SPEC
  // (spec.staged filled in here) to a supervisor. Errors: why the run cannot
  // start (nothing runs), or StatusCode::kSupervisorLost.
  virtual Result<Launched> Launch(const RunDir& dir, const std::string& script,
                                  const std::string& meta, RunSpec spec) = 0;

  // Adoption probes (run_dir.h says what each file means).
  // The run's lock is held: its supervisor lives.
  virtual bool LockHeld(const RunDir& dir) = 0;
  virtual std::optional<ExitRecord> ReadExitRecord(const RunDir& dir) = 0;
  // A supervisor took the run once (exit.reserve exists).
  virtual bool ExitReserved(const RunDir& dir) = 0;
  // A pidfd for the process supervisor.json names, only if it is still that
  // process (pid and start time); invalid otherwise.
  virtual UniqueFd OpenSupervisor(const RunDir& dir) = 0;
  // Ends what is left of a run whose supervisor is gone and writes its
  // `interrupted` exit record (DeclareInterrupted in run_dir.h).
  virtual ExitRecord DeclareInterrupted(const RunDir& dir, const std::string& reason) = 0;
  // PID, a child of this process, has not exited (it is not reaped here).
  virtual bool ChildRunning(pid_t pid) = 0;
  // Asks the run's supervisor to stop (the cancel file with REASON, then
  // SIGTERM through PIDFD, or through supervisor.json): false if no signal
  // could be sent.
  virtual bool Cancel(const RunDir& dir, int pidfd, const std::string& reason) = 0;
};

// The real one: `jenky __supervise` processes, one spare kept ahead of need.
class SupervisorLauncher final : public Launcher {
 public:
  explicit SupervisorLauncher(net::io_context& io) : io_(io) {}
  ~SupervisorLauncher() override { Shutdown(); }

  void Start(const SpareOptions& options) override;
  void Reconfigure(const SpareOptions& options) override;
  void Shutdown() override;
  Result<Launched> Launch(const RunDir& dir, const std::string& script, const std::string& meta,
                          RunSpec spec) override;
  bool LockHeld(const RunDir& dir) override;
  std::optional<ExitRecord> ReadExitRecord(const RunDir& dir) override;
  bool ExitReserved(const RunDir& dir) override;
  UniqueFd OpenSupervisor(const RunDir& dir) override;
  ExitRecord DeclareInterrupted(const RunDir& dir, const std::string& reason) override;
  bool ChildRunning(pid_t pid) override;
  bool Cancel(const RunDir& dir, int pidfd, const std::string& reason) override;

 private:
  // Stages RUN's files in the spare's directory, else makes DIR: whether it
  // was staged, or why neither worked.
  Result<bool> MakeRunDir(const RunDir& dir, const std::string& script, const std::string& meta);
  void SpawnSpare();
  // Lets the spare go (it exits; its stage, if still its own, goes with it).
  void DropSpare();

  net::io_context& io_;
  SpareOptions options_;
  // Where each run gets its cgroup (exec/cgroup.h); "" where the host offers
  // none (Start logs why, once).
  std::string cgroup_tree_;
  Spare spare_;  // !valid() when none
  bool shutting_down_ = false;
};

}  // namespace jenky
