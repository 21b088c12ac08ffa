#include "server/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>

#include "exec/cgroup.h"
#include "exec/process.h"
#include "exec/supervisor.h"
#include "server/watcher.h"
#include "util/fs.h"
#include "util/logger.h"

namespace jenky {

void SupervisorLauncher::Start(const SpareOptions& options) {
  options_ = options;
  // A cgroup per run where the host offers one; else the supervisors'
  // other two nets (subreaper, run marker) hold a run together alone.
  if (auto tree = OpenCgroupTree(); tree.ok()) {
    cgroup_tree_ = tree->path;
    RemoveStaleCgroups(cgroup_tree_);
    std::string controllers;
    for (const std::string& c : tree->controllers) controllers += " " + c;
    LogInfo("each run gets a cgroup in {} (controllers:{})", cgroup_tree_,
            controllers.empty() ? " none; cpu.stat and cgroup.kill need none" : controllers);
  } else {
    LogInfo(
        "runs get no cgroup: {}; each run is still contained by its supervisor "
        "(subreaper) and the run marker in its processes' environment",
        tree.status().message());
  }
  // Stages of spares that died with an earlier server (run_dir.h).
  if (int n = RemoveStaleStages(options_.runs_dir); n > 0) {
    LogInfo("removed {} run director{} a spare supervisor left unused", n, n == 1 ? "y" : "ies");
  }
  SpawnSpare();
}

void SupervisorLauncher::Reconfigure(const SpareOptions& options) {
  options_ = options;
  // The spare was made for the old configuration (its warm shell, the
  // environment it keeps from scripts): a new one for the new.
  if (spare_.valid() && !shutting_down_) {
    DropSpare();
    SpawnSpare();
  }
}

void SupervisorLauncher::Shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  spare_.Abandon();  // the spare reads EOF and exits
}

Result<bool> SupervisorLauncher::MakeRunDir(const RunDir& dir, const std::string& script,
                                            const std::string& meta) {
  if (spare_.valid() && !spare_.Alive()) {
    LogWarning("the spare supervisor pid={} died; starting another", spare_.pid());
    DropSpare();
  }
  if (!spare_.valid()) SpawnSpare();
  if (spare_.UseStage(dir, script, meta)) return true;
  if (Status s = MakeDirs(dir.path, 0750); !s.ok()) return s;
  if (Status s = WriteFile(dir.script(), script, 0640); !s.ok()) return s;
  // Also the check that the disk has room for the run's files: a run that
  // cannot have them fails here, with the reason, before any process starts.
  if (Status s = WriteFile(dir.meta(), meta, 0640); !s.ok()) return s;
  return false;
}

Result<Launched> SupervisorLauncher::Launch(const RunDir& dir, const std::string& script,
                                            const std::string& meta, RunSpec spec) {
  // The run directory first: once the supervisor has it, the run no longer
  // needs this process. No fsync here, on the trigger's path: the supervisor
  // makes the directory durable when the run ends (and a run lost before
  // that is `interrupted`).
  auto staged = MakeRunDir(dir, script, meta);
  if (!staged.ok()) return staged.status();
  spec.staged = *staged;
  if (!PathExists(spec.workdir)) {
    if (Status s = MakeDirs(spec.workdir); !s.ok()) {
      if (spec.staged) DropSpare();  // its stage is this run's directory now
      return s;
    }
  }
  if (!spare_.valid()) return Status::Error("cannot start a supervisor process");
  Spare sup = std::exchange(spare_, Spare{});
  // A staged run's warm shell starts from here, while the spare reads its
  // RunSpec: the two run side by side (supervisor.h, WarmFds).
  if (spec.staged) spec.warm_started = sup.HandOffToWarmShell(spec, cgroup_tree_);
  sup.CloseWarmFds();
  Status sent = sup.SendSpec(EncodeRunSpec(spec));
  if (!sent.ok()) {
    // With a warm start the script runs, and the supervisor that was to
    // watch it is gone.
    if (spec.warm_started) {
      return Status::Error("its supervisor died before it was handed the run",
                           StatusCode::kSupervisorLost);
    }
    return sent;
  }
  if (!spec.staged) {
    // The supervisor is on its way. The empty log lets followers open it
    // before the first byte (the supervisor creates it too, whoever comes
    // first). A stage has one.
    int log_fd = open(dir.log().c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (log_fd >= 0) close(log_fd);
  }
  // The next trigger's supervisor, off this trigger's path: a moment later,
  // so that starting it does not compete with this script for the CPU.
  auto timer = std::make_shared<net::steady_timer>(io_, std::chrono::milliseconds(20));
  timer->async_wait([this, timer](boost::system::error_code ec) {
    if (!ec && !spare_.valid() && !shutting_down_) SpawnSpare();
  });
  Launched out;
  out.pid = sup.pid();
  out.pidfd = sup.TakePidfd();
  return Result<Launched>(std::move(out));
}

void SupervisorLauncher::DropSpare() {
  if (!spare_.valid()) return;
  pid_t pid = spare_.pid();
  UniqueFd pidfd = std::exchange(spare_, Spare{}).Release();
  if (!pidfd) return;
  // Reaped once it exits (its pidfd becomes readable), off the loop's path.
  auto watch = std::make_shared<std::unique_ptr<ProcessWatch>>();
  *watch = std::make_unique<ProcessWatch>(io_, pidfd.release(), [this, pid, watch] {
    waitpid(pid, nullptr, WNOHANG);
    net::post(io_, [watch] { watch->reset(); });
  });
}

void SupervisorLauncher::SpawnSpare() {
  if (shutting_down_) return;
  SpareOptions o = options_;
  o.cgroup_tree = cgroup_tree_;
  auto spare = Spare::Spawn(o);
  if (!spare.ok()) {
    LogError("{}", spare.status().message());
    return;
  }
  spare_ = std::move(*spare);
}

bool SupervisorLauncher::LockHeld(const RunDir& dir) { return SupervisorAlive(dir); }

std::optional<ExitRecord> SupervisorLauncher::ReadExitRecord(const RunDir& dir) {
  return jenky::ReadExitRecord(dir);
}

bool SupervisorLauncher::ExitReserved(const RunDir& dir) { return PathExists(dir.exit_reserve()); }

UniqueFd SupervisorLauncher::OpenSupervisor(const RunDir& dir) {
  if (auto sid = ReadSupervisorId(dir))
    return UniqueFd(PidfdOpenVerified(sid->pid, sid->start_time));
  return UniqueFd();
}

ExitRecord SupervisorLauncher::DeclareInterrupted(const RunDir& dir, const std::string& reason) {
  return jenky::DeclareInterrupted(dir, reason);
}

bool SupervisorLauncher::ChildRunning(pid_t pid) { return waitpid(pid, nullptr, WNOHANG) == 0; }

bool SupervisorLauncher::Cancel(const RunDir& dir, int pidfd, const std::string& reason) {
  WriteFileAtomic(dir.cancel(), reason);
  if (pidfd >= 0 && PidfdSendSignal(pidfd, SIGTERM) == 0) return true;
  UniqueFd verified = OpenSupervisor(dir);
  return verified && PidfdSendSignal(verified.get(), SIGTERM) == 0;
}

}  // namespace jenky
