#include "exec/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "exec/cgroup.h"
#include "exec/fleet_state.h"
#include "exec/log_index.h"
#include "exec/masker.h"
#include "exec/process.h"
#include "exec/run_dir.h"
#include "exec/stage.h"
#include "exec/warm_shell.h"
#include "util/duration.h"
#include "util/fs.h"
#include "util/logger.h"
#include "util/time.h"

namespace jenky {

namespace {

int64_t MonotonicMillis() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1'000'000;
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

// The supervisor's reads of the script's output pipe (WidenPipe, process.h).
constexpr size_t kReadBytes = 128 << 10;

class Supervisor {
  enum class Phase { kRunning, kTerminating, kCleaningUp, kKilled };

 public:
  // STAGE, if not null, is the run directory made ahead (spec.staged).
  Supervisor(const RunSpec& spec, WarmShell* warm, Stage* stage, const SupervisorId& self,
             RunCgroup* cgroup)
      : spec_(spec),
        dir_{spec.run_dir},
        masker_(spec.secrets),
        warm_(warm),
        stage_(stage),
        self_(self),
        cgroup_(cgroup) {
    // The run's marks, which every process it starts carries in its
    // environment (the warm shell has its own until it is the script).
    for (const std::string& kv : spec.env) {
      if (kv.rfind("JENKY_RUN_DIR=", 0) == 0) marks_.push_back(kv);
    }
    marks_.push_back(WarmShellMarker(self));
    pids_peak_known_ = cgroup && PathExists(cgroup->path() + "/pids.peak");
  }

  int Run() {
    if (stage_) {
      if (!TakeStage()) return 1;
    } else if (!Lock()) {
      return 1;
    }
    started_at_ = NowMillis();
    if (stage_) {
      log_.emplace(std::move(*stage_->log));
      stage_->log.reset();
      log_->Renamed(dir_.log());
    } else {
      auto writer = LogWriter::Open(dir_.log(), dir_.index());
      if (!writer.ok()) {
        return Finish(RunStatus::kFailed, std::nullopt, writer.status().message());
      }
      log_.emplace(std::move(writer).value());
    }
    if (!SetUpSignals()) return Finish(RunStatus::kFailed, std::nullopt, "cannot set up signals");
    // The server may have started the warm shell already (spec.warm_started):
    // then a cancel is the script's, read from the signalfd like any other.
    bool running = spec_.warm_started && warm_ && warm_->pid > 0;
    if (!running && CancelPending()) {
      // Cancelled while this supervisor was still starting: the script never starts.
      return Finish(RunStatus::kCancelled, std::nullopt, CancelReason());
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1);  // (Supervise: no spare made us one)
    // The project's limits, before the script starts (a handed-off one runs
    // already: at once).
    if (spec_.memory_max > 0 || spec_.tasks_max > 0) {
      Status s = cgroup_ ? cgroup_->SetLimits(spec_.memory_max, spec_.tasks_max)
                         : Status::Error("this run has no cgroup (the supervisor's log says why)");
      if (!s.ok()) {
        limit_error_ = "cannot apply the project's memory_max/tasks_max: " + s.message();
        if (!running) return Finish(RunStatus::kFailed, std::nullopt, limit_error_);
      }
    }

    if (!StartWarm()) {
      int pipefd[2];
      if (pipe2(pipefd, O_CLOEXEC) != 0) {
        return Finish(RunStatus::kFailed, std::nullopt, PosixError("pipe", errno).message());
      }
      WidenPipe(pipefd[0]);
      SpawnOptions o;
      o.argv = spec_.argv;
      o.env = spec_.env;
      o.workdir = spec_.workdir;
      o.stdout_fd = o.stderr_fd = pipefd[1];
      o.new_process_group = true;
      if (cgroup_) o.cgroup_fd = cgroup_->fd();
      auto pid = Spawn(o);
      close(pipefd[1]);
      out_fd_ = pipefd[0];
      if (!pid.ok()) {
        close(out_fd_);
        return Finish(RunStatus::kFailed, 127, pid.status().message());
      }
      child_ = *pid;
      // Who we are, for the server's cancel and adoption; written after the
      // script started, off the trigger's path (the lock already says we live).
      if (!stage_) WriteSupervisorId(dir_, self_);
    }
    deadline_ = MonotonicMillis() + spec_.timeout_ms;
    if (!limit_error_.empty()) Terminate(Phase::kTerminating);
    Loop();
    Measure();
    return Conclude();
  }

 private:
  // Hands the run to the warm shell when it can run it exactly as a cold
  // start would (WarmStartData); otherwise ends the warm shell. True if the
  // warm shell is now the script.
  bool StartWarm() {
    if (!warm_ || warm_->pid <= 0) return false;
    if (spec_.warm_started) return TakeWarmShell();
    std::optional<std::string> data = WarmStartData(spec_, warm_->shell, warm_->env);
    // Before the shell is the run: who we are names it (WarmShellMarker), so
    // that it is found if this supervisor dies. (A stage has it already.)
    if (!data || (!stage_ && !WriteSupervisorId(dir_, self_).ok())) {
      warm_->Discard();
      return false;
    }
    if (!warm_->Send(*data)) {
      warm_->Discard();
      return false;
    }
    return TakeWarmShell();
  }

  // The warm shell was sent its run: it is the script now.
  bool TakeWarmShell() {
    warm_->BecomeScript(&child_, &out_fd_);
    return true;
  }

  // The stage is the run directory now: its lock is ours already.
  bool TakeStage() {
    lock_fd_ = stage_->lock_fd;
    stage_->lock_fd = -1;
    return !AlreadyOver();
  }

  // The server declared this run over before we got here; do not run it.
  bool AlreadyOver() const {
    if (!PathExists(dir_.exit())) return false;
    LogWarning("{}supervisor: run already has an exit record; not starting it",
               RunTag(spec_.run_id, spec_.project));
    return true;
  }

  bool Lock() {
    lock_fd_ = open(dir_.lock().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (lock_fd_ < 0 || flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      LogError("{}supervisor: cannot lock {}: {}", RunTag(spec_.run_id, spec_.project), dir_.lock(),
               std::strerror(errno));
      return false;
    }
    if (AlreadyOver()) return false;
    // Without the reservation the run still runs; only a full disk at its end
    // could then leave it without a record (and the server would call it
    // interrupted).
    if (Status s = ReserveExitRecord(dir_); !s.ok()) {
      LogWarning("{}supervisor: {}", RunTag(spec_.run_id, spec_.project), s.message());
    }
    return true;
  }

  bool SetUpSignals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : SupervisorSignals()) sigaddset(&set, s);
    if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return false;
    signal(SIGPIPE, SIG_IGN);
    sig_fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    return sig_fd_ >= 0;
  }

  void Loop() {
    static char buf[kReadBytes];  // (static: one supervisor, one loop)
    for (;;) {
      if (cgroup_) SampleProcesses();
      if (child_exited_) {
        Reap();  // orphans that were reparented to us and already exited
        size_t rest = Remaining();
        if (rest == 0) {
          // Every writer of the pipe is gone: what is left in it is the end.
          if (out_fd_ >= 0) DrainAndClose(buf, sizeof buf);
          return;
        }
        if (phase_ == Phase::kRunning) {
          // The script is done but left processes behind: they end with the run.
          leftovers_ = static_cast<int>(rest);
          Terminate(Phase::kCleaningUp);
        }
      }

      int64_t now = MonotonicMillis();
      int64_t wait = 50;
      switch (phase_) {
        case Phase::kRunning: wait = deadline_ - now; break;
        case Phase::kTerminating:
        case Phase::kCleaningUp:
          wait = kill_at_ - now;
          if (child_exited_) wait = std::min<int64_t>(wait, 50);  // watch the tree empty
          break;
        case Phase::kKilled: wait = 50; break;
      }
      // Without pids.peak, the most processes seen at once is sampled.
      if (cgroup_ && !pids_peak_known_) wait = std::min<int64_t>(wait, kSampleMs);
      int timeout = static_cast<int>(std::clamp<int64_t>(wait, 0, 60'000));

      struct pollfd fds[2] = {{sig_fd_, POLLIN, 0}, {out_fd_, POLLIN, 0}};
      int nfds = out_fd_ >= 0 ? 2 : 1;
      if (poll(fds, nfds, timeout) < 0 && errno != EINTR) return;

      if (nfds == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = read(out_fd_, buf, sizeof buf);
        if (n > 0) {
          Status s = Write(std::string_view(buf, n));
          if (!s.ok() && write_error_.empty()) {
            write_error_ = s.message();
            Terminate(Phase::kTerminating);
          }
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          close(out_fd_);
          out_fd_ = -1;
        }
      }
      if (fds[0].revents & POLLIN) HandleSignals();

      now = MonotonicMillis();
      if (phase_ == Phase::kRunning && now >= deadline_) {
        timed_out_ = true;
        Terminate(Phase::kTerminating);
      } else if ((phase_ == Phase::kTerminating || phase_ == Phase::kCleaningUp) &&
                 now >= kill_at_) {
        KillRun();
        phase_ = Phase::kKilled;
      } else if (phase_ == Phase::kKilled) {
        KillRun();  // anything forked since the last round
      }
    }
  }

  void DrainAndClose(char* buf, size_t size) {
    fcntl(out_fd_, F_SETFL, O_NONBLOCK);
    for (;;) {
      ssize_t n = read(out_fd_, buf, size);
      if (n > 0) {
        Write(std::string_view(buf, n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    close(out_fd_);
    out_fd_ = -1;
  }

  // Appends script output to the log, secrets masked, up to max_log_bytes.
  // Past the limit the rest is read and dropped (so that a script ignoring
  // TERM cannot block on a full pipe) until the tree is gone.
  Status Write(std::string_view data) {
    if (log_cut_) return Status::Ok();
    if (masker_.active()) data = masker_.Feed(data);
    int64_t limit = spec_.max_log_bytes;
    if (limit > 0 && log_->size() + static_cast<int64_t>(data.size()) > limit) {
      log_cut_ = true;
      Terminate(Phase::kTerminating);
      data = data.substr(0, static_cast<size_t>(limit - log_->size()));
    }
    if (data.empty()) return Status::Ok();
    last_byte_ = data.back();
    return log_->Append(data);
  }

  void HandleSignals() {
    struct signalfd_siginfo si;
    while (read(sig_fd_, &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGCHLD) {
        Reap();
      } else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
        if (!cancelled_ && !child_exited_) {
          cancelled_ = true;
          cancel_reason_ = CancelReason();
          Terminate(Phase::kTerminating);
        }
      }
      // SIGHUP: the terminal of the server that started us went away. Ignore.
    }
  }

  // SIGTERM or SIGINT (blocked, so still pending): the server's cancel.
  static bool CancelPending() {
    sigset_t pending;
    return sigpending(&pending) == 0 &&
           (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
  }

  // What the canceller wrote in the run directory, or "cancelled".
  std::string CancelReason() const {
    auto text = ReadFile(dir_.cancel());
    std::string reason = text.ok() && !text->empty() ? *text : "cancelled";
    while (!reason.empty() && reason.back() == '\n') reason.pop_back();
    return reason;
  }

  void Reap() {
    for (;;) {
      int status;
      pid_t p = waitpid(-1, &status, WNOHANG);
      if (p <= 0) return;
      if (p == child_) {
        child_exited_ = true;
        child_status_ = status;
      }
    }
  }

  void Terminate(Phase next) {
    if (phase_ != Phase::kRunning) return;
    phase_ = next;
    SignalRun(SIGTERM);
    // A TERM can be ignored; a stopped process would never see it.
    SignalRun(SIGCONT);
    kill_at_ = MonotonicMillis() + spec_.kill_grace_ms;
  }

  // SIG to everything of the run, found three ways that do not depend on
  // one another: the script's process group and every descendant (this
  // process is a subreaper: orphans are still descendants), everything in
  // the run's cgroup (nothing leaves it), and every process whose
  // environment carries the run's mark, wherever it went.
  void SignalRun(int sig) {
    SignalTree(getpid(), child_exited_ ? 0 : child_, sig);
    if (cgroup_) cgroup_->Signal(sig);
    for (pid_t p : ProcessesWithEnv(marks_)) kill(p, sig);
  }

  void KillRun() {
    if (cgroup_) cgroup_->Kill();  // all at once: nothing in it can fork meanwhile
    SignalRun(SIGKILL);
  }

  // How many of the run's processes are left; 0 once the run is over.
  size_t Remaining() {
    size_t n = HasChildren() ? Descendants(getpid()).size() : 0;
    if (n == 0 && cgroup_ && cgroup_->Populated()) n = std::max<size_t>(1, cgroup_->Pids().size());
    if (n == 0) n = ProcessesWithEnv(marks_).size();  // (the slowest look: last)
    return n;
  }

  void SampleProcesses() {
    if (pids_peak_known_) return;
    int64_t now = MonotonicMillis();
    if (now < next_sample_) return;
    next_sample_ = now + kSampleMs;
    processes_peak_ =
        std::max<int64_t>(processes_peak_, static_cast<int64_t>(cgroup_->Pids().size()));
  }

  // What the run used (RunResources), from its cgroup where it has one.
  void Measure() {
    RunResources r;
    if (cgroup_) {
      CgroupUsage u = cgroup_->Usage();
      if (u.cpu_usec) r.cpu_seconds = static_cast<double>(*u.cpu_usec) / 1e6;
      r.memory_peak_bytes = u.memory_peak;
      if (u.pids_peak) r.processes_peak = u.pids_peak;
      else if (processes_peak_ > 0) r.processes_peak = processes_peak_;
    } else {
      // Every process of the run that was reaped, by us or by one we reaped.
      struct rusage ru;
      if (getrusage(RUSAGE_CHILDREN, &ru) == 0) {
        r.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                        static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
      }
    }
    resources_ = r;
  }

  int Conclude() {
    std::optional<int> code;
    std::string signal_note;
    if (WIFEXITED(child_status_)) {
      code = WEXITSTATUS(child_status_);
    } else if (WIFSIGNALED(child_status_)) {
      code = 128 + WTERMSIG(child_status_);
      signal_note = fmt::format("killed by {}", SignalName(WTERMSIG(child_status_)));
    }
    if (!write_error_.empty()) {
      return Finish(RunStatus::kFailed, code, "writing the log failed: " + write_error_);
    }
    if (!limit_error_.empty()) return Finish(RunStatus::kFailed, code, limit_error_);
    if (log_cut_) {
      std::string limit = FormatSize(spec_.max_log_bytes);
      // The one line past the limit, so a reader of the log sees why it ends.
      std::string note = fmt::format(
          "{}jenky: the log reached its limit of {} (max_log_bytes); "
          "the script was stopped\n",
          last_byte_ == '\n' ? "" : "\n", limit);
      log_->Append(note);
      return Finish(RunStatus::kFailed, code,
                    fmt::format("the log reached its limit of {} (max_log_bytes): the script "
                                "was stopped",
                                limit));
    }
    if (timed_out_) {
      return Finish(RunStatus::kTimedOut, code,
                    fmt::format("timed out after {}", FormatDuration(Millis(spec_.timeout_ms))));
    }
    if (cancelled_) return Finish(RunStatus::kCancelled, code, cancel_reason_);
    std::string reason = signal_note;
    if (leftovers_ > 0) {
      reason += fmt::format("{}stopped {} process{} the script left running",
                            reason.empty() ? "" : "; ", leftovers_, leftovers_ == 1 ? "" : "es");
    }
    if (code && *code == 0) return Finish(RunStatus::kSucceeded, code, reason);
    // A fleet run's driver leaves why its hosts failed (fleet_state.h).
    if (reason.empty()) reason = ReadFleetReason(dir_.path);
    if (reason.empty() && code) reason = fmt::format("script exited with status {}", *code);
    return Finish(RunStatus::kFailed, code, reason);
  }

  int Finish(RunStatus status, std::optional<int> code, const std::string& reason) {
    ExitRecord r;
    r.status = status;
    r.exit_code = code;
    r.reason = reason;
    r.started_at = started_at_;
    r.finished_at = NowMillis();
    r.resources = resources_;
    // (What the masker holds back is the log's tail, unless the log was cut.)
    if (log_ && masker_.active() && !log_cut_) log_->Append(masker_.Finish());
    if (log_) {
      log_->Sync();
      r.log_bytes = log_->size();
    }
    // The server wrote these without fsync to keep triggers fast.
    for (const std::string& path : {dir_.meta(), dir_.script()}) {
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        fdatasync(fd);
        close(fd);
      }
    }
    Status s = WriteExitRecord(dir_, r);
    if (!s.ok()) {
      LogError("{}supervisor: {}", RunTag(spec_.run_id, spec_.project), s.message());
      return 1;
    }
    return 0;
  }

  const RunSpec& spec_;
  RunDir dir_;
  std::optional<LogWriter> log_;
  SecretMasker masker_;
  WarmShell* warm_;  // or null
  Stage* stage_;     // or null
  SupervisorId self_;
  RunCgroup* cgroup_;               // or null: the host offers none (cgroup.h)
  std::vector<std::string> marks_;  // KEY=VALUE entries only the run's processes have
  int lock_fd_ = -1;
  int sig_fd_ = -1;
  int out_fd_ = -1;
  pid_t child_ = -1;
  bool child_exited_ = false;
  int child_status_ = 0;
  Phase phase_ = Phase::kRunning;
  int64_t started_at_ = 0;
  int64_t deadline_ = 0;
  int64_t kill_at_ = 0;
  bool timed_out_ = false;
  bool cancelled_ = false;
  std::string cancel_reason_;
  std::string write_error_;
  bool log_cut_ = false;   // the log reached max_log_bytes
  char last_byte_ = '\n';  // of the log so far ('\n' while empty)
  int leftovers_ = 0;
  std::string limit_error_;  // memory_max/tasks_max could not be applied
  std::optional<RunResources> resources_;
  static constexpr int64_t kSampleMs = 250;
  bool pids_peak_known_ = false;  // the cgroup has pids.peak: no sampling
  int64_t next_sample_ = 0;
  int64_t processes_peak_ = 0;
};

}  // namespace

int Supervise(const RunSpec& spec) {
  SupervisorId self{getpid(), ProcessStartTime(getpid()).value_or(0), ""};
  return Supervisor(spec, nullptr, nullptr, self, nullptr).Run();
}

int SuperviseWith(const RunSpec& spec, WarmShell* warm, Stage* stage, const SupervisorId& self,
                  RunCgroup* cgroup) {
  return Supervisor(spec, warm, stage, self, cgroup).Run();
}

const std::vector<int>& SupervisorSignals() {
  static const std::vector<int> signals = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
  return signals;
}

}  // namespace jenky
