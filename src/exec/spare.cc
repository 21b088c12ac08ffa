#include "exec/spare.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "exec/cgroup.h"
#include "exec/process.h"
#include "exec/supervisor.h"
#include "util/fs.h"

namespace jenky {

namespace {

// The warm shell's go pipe and data memfd, made here so that this process
// can start a staged run's shell itself (HandOffToWarmShell). None when the
// pipe or the memfd cannot be had: the spare then starts no warm shell's run.
struct WarmPipes {
  UniqueFd go_read, go_write, data;
  bool valid() const { return data.valid(); }
};

WarmPipes MakeWarmPipes() {
  WarmPipes w;
  int go[2];
  if (pipe2(go, O_CLOEXEC) != 0) return w;
  w.go_read.reset(go[0]);
  w.go_write.reset(go[1]);
  w.data.reset(memfd_create("jenky-warm-run", MFD_CLOEXEC));
  if (!w.data) return WarmPipes{};
  return w;
}

}  // namespace

Result<Spare> Spare::Spawn(const SpareOptions& options) {
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0) return PosixError("pipe for a supervisor", errno);
  UniqueFd in_read(in[0]), in_write(in[1]);
  SpawnOptions o;
  o.argv = {options.supervisor_binary, "__supervise"};
  WarmPipes warm;
  if (!options.warm_shell.empty()) {
    warm = MakeWarmPipes();
    o.argv.insert(o.argv.end(), {"--warm-shell", options.warm_shell});
  }
  if (warm.valid()) {
    o.argv.insert(o.argv.end(), {"--warm-fds", "3,4,5"});
    o.extra_fds = {{warm.go_read.get(), 3}, {warm.data.get(), 4}, {warm.go_write.get(), 5}};
  }
  o.argv.insert(o.argv.end(), {"--stage", options.runs_dir});
  if (!options.cgroup_tree.empty()) o.argv.insert(o.argv.end(), {"--cgroup", options.cgroup_tree});
  o.env = options.env;
  o.stdin_fd = in_read.get();
  o.stderr_fd = STDERR_FILENO;
  o.new_session = true;  // not in the server's session: a terminal's ^C is not for runs
  o.blocked_signals = SupervisorSignals();  // a cancel before it can block them waits
  auto pid = jenky::Spawn(o);
  // The read ends are the child's now (the go pipe's, once the spare has
  // started its shell); ours close here.
  in_read.reset();
  warm.go_read.reset();
  if (!pid.ok()) {
    return Status::Error("cannot start supervisor " + options.supervisor_binary + ": " +
                         pid.status().message());
  }
  Spare s;
  s.pid_ = *pid;
  s.pidfd_.reset(PidfdOpen(*pid));
  s.stdin_ = std::move(in_write);
  if (warm.valid()) {
    s.warm_shell_ = options.warm_shell;
    s.warm_env_ = WarmShellEnv(o.env);
    s.go_ = std::move(warm.go_write);
    s.data_ = std::move(warm.data);
  }
  s.stage_ = RunDir::StagePath(options.runs_dir, *pid);
  return Result<Spare>(std::move(s));
}

bool Spare::Alive() const {
  if (!pidfd_) return pid_ > 0;
  struct pollfd pfd = {pidfd_.get(), POLLIN, 0};
  return poll(&pfd, 1, 0) == 0;  // a pidfd is readable once its process exited
}

bool Spare::UseStage(const RunDir& dir, const std::string& script, const std::string& meta) const {
  if (pid_ <= 0 || stage_.empty()) return false;
  // Only a complete stage has this name (the spare makes it under another).
  if (!IsDirectory(stage_)) return false;
  RunDir stage{stage_};
  // The files exist: writing them creates nothing. On a failure (a full
  // disk, a directory already named DIR) the run is started the other way,
  // which reports what is wrong; the stage stays the spare's, to be written
  // over by the next run.
  return Overwrite(stage.script(), script).ok() && Overwrite(stage.meta(), meta).ok() &&
         rename(stage.path.c_str(), dir.path.c_str()) == 0;
}

bool Spare::HandOffToWarmShell(const RunSpec& spec, const std::string& cgroup_tree) {
  if (!go_ || !data_) return false;
  if (spec.memory_max > 0 || spec.tasks_max > 0) {
    // The warm shell is in the spare's cgroup already: its limits before it
    // is the script, so that the script never runs a moment without them.
    // (Else the supervisor starts it, and applies them or fails the run.)
    auto start = ProcessStartTime(pid_);
    if (cgroup_tree.empty() || !start ||
        !SetCgroupLimits(cgroup_tree + "/" + CgroupName(pid_, *start), spec.memory_max,
                         spec.tasks_max)
             .ok()) {
      return false;
    }
  }
  std::optional<std::string> data = WarmStartData(spec, warm_shell_, warm_env_);
  // (A failed write to the go pipe, EPIPE, means the shell is gone; the
  // supervisor then starts the script the other way.)
  return data && WriteAll(data_.get(), *data, "warm shell data").ok() &&
         write(go_.get(), "g", 1) == 1;
}

void Spare::CloseWarmFds() {
  go_.reset();
  data_.reset();
}

Status Spare::SendSpec(const std::string& spec_text) {
  Status sent = WriteAll(stdin_.get(), spec_text, "supervisor stdin");
  stdin_.reset();
  if (!sent.ok()) {
    pidfd_.reset();
    waitpid(pid_, nullptr, WNOHANG);
  }
  return sent;
}

UniqueFd Spare::Release() {
  CloseWarmFds();
  stdin_.reset();
  return std::move(pidfd_);
}

void Spare::Abandon() {
  if (pid_ <= 0) return;
  Release().reset();
  waitpid(pid_, nullptr, WNOHANG);
  pid_ = -1;
}

}  // namespace jenky
