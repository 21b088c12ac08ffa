#include "exec/supervisor.h"
#include "util/json.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "exec/cgroup.h"
#include "exec/log_index.h"
#include "exec/masker.h"
#include "exec/process.h"
#include "exec/run_dir.h"
#include "util/duration.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/logger.h"
#include "util/time.h"
#include "util/utf8.h"

namespace jenky {

namespace {

// JSON carries text; any other bytes (an environment value may hold anything
// but NUL) travel as {"hex": "..."}, so that the run gets them unchanged.
nlohmann::json Bytes(const std::string& s) {
  if (IsValidUtf8(s)) return s;
  return nlohmann::json{{"hex", HexEncode(s)}};
}

nlohmann::json Bytes(const std::vector<std::string>& v) {
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& s : v) out.push_back(Bytes(s));
  return out;
}

std::string StringOf(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  std::optional<std::string> bytes = HexDecode(j.at("hex").get_ref<const std::string&>());
  if (!bytes) throw std::invalid_argument("bad hex string");
  return *bytes;
}

std::vector<std::string> StringsOf(const nlohmann::json& j) {
  std::vector<std::string> out;
  for (const auto& e : j) out.push_back(StringOf(e));
  return out;
}

}  // namespace

std::string EncodeRunSpec(const RunSpec& s) {
  nlohmann::json j = {{"run_dir", Bytes(s.run_dir)},   {"run_id", s.run_id},
                      {"project", Bytes(s.project)},   {"argv", Bytes(s.argv)},
                      {"env", Bytes(s.env)},           {"workdir", Bytes(s.workdir)},
                      {"timeout_ms", s.timeout_ms},    {"kill_grace_ms", s.kill_grace_ms},
                      {"secrets", Bytes(s.secrets)},   {"max_log_bytes", s.max_log_bytes},
                      {"staged", s.staged},            {"warm_started", s.warm_started},
                      {"memory_max", s.memory_max},    {"tasks_max", s.tasks_max}};
  return DumpJson(j) + "\n";  // (one line: JSON escapes every newline in it)
}

Result<RunSpec> DecodeRunSpec(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return Status::Error("run spec is not a JSON object");
  RunSpec s;
  try {
    s.run_dir = StringOf(j.at("run_dir"));
    s.run_id = j.at("run_id").get<int64_t>();
    s.project = StringOf(j.at("project"));
    s.argv = StringsOf(j.at("argv"));
    s.env = StringsOf(j.at("env"));
    s.workdir = StringOf(j.at("workdir"));
    s.timeout_ms = j.at("timeout_ms").get<int64_t>();
    s.kill_grace_ms = j.at("kill_grace_ms").get<int64_t>();
    if (j.contains("secrets")) s.secrets = StringsOf(j.at("secrets"));
    s.max_log_bytes = j.value("max_log_bytes", int64_t{0});
    s.staged = j.value("staged", false);
    s.warm_started = j.value("warm_started", false);
    s.memory_max = j.value("memory_max", int64_t{0});
    s.tasks_max = j.value("tasks_max", int64_t{0});
  } catch (const std::exception& e) {
    return Status::Error(std::string("run spec: ") + e.what());
  }
  if (s.argv.empty()) return Status::Error("run spec: empty argv");
  return s;
}

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

// What a warm shell runs (supervisor.h), read from fd 4. Fd 3 is a pipe that
// brings one byte once the run is ready, or EOF when none will come; fd 5
// holds WarmStartData, which the bootstrap sources: one `cd`, one `export`
// and one assignment, every value in single quotes. (Bash reads this file
// through its own descriptor, 255.)
constexpr std::string_view kWarmBootstrap = R"BOOT(# jenky: a warm shell, waiting for its run
IFS= read -r -N 1 __jenky_go <&3 || exit 125
exec 3<&- 4<&-
unset __jenky_go JENKY_SUPERVISOR
. /dev/fd/5 || exit 125
exec 5<&-
SECONDS=0
set -e
. "$0"
)BOOT";

// The script's output pipe, and the supervisor's reads of it. A pipe of
// 256 KiB and reads of up to 128 KiB take about a tenth less of the
// supervisor's CPU than the default 64 KiB of each for a script writing as
// fast as it can; more than that loses the data's place in the cache.
constexpr int kPipeBytes = 256 << 10;
constexpr size_t kReadBytes = 128 << 10;

// Widens the pipe of FD to kPipeBytes where the system allows it (else it
// keeps its size: fs.pipe-max-size and the per-user pipe limits decide).
void WidenPipe(int fd) { fcntl(fd, F_SETPIPE_SZ, kPipeBytes); }

// A warm shell and the descriptors that reach it.
struct WarmShell {
  pid_t pid = -1;
  std::string shell;
  std::vector<std::string> env;  // what it started with (WarmShellEnv)
  int go_fd = -1;    // one byte: become the run
  int data_fd = -1;  // the run, as WarmStartData
  int out_fd = -1;   // its stdout and stderr

  // Whether the server gave this shell its run (WarmFds): it writes the
  // run's data before the go byte, so the shell may have begun the script.
  bool GivenItsRun() const {
    struct stat st;
    return data_fd >= 0 && fstat(data_fd, &st) == 0 && st.st_size > 0;
  }

  // Ends a warm shell that will not be used.
  void Discard() {
    for (int* fd : {&go_fd, &data_fd, &out_fd}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
    if (pid > 0) {
      kill(-pid, SIGKILL);  // its process group: what it may have started too
      kill(pid, SIGKILL);
      while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    pid = -1;
  }
};

// FROM_SERVER: the go pipe's two ends and the data memfd, made by the server
// (which keeps a copy of the write end and the memfd, to start the shell
// itself: supervisor.h); else this process makes them.
std::optional<WarmShell> StartWarmShell(const std::string& shell, const SupervisorId& self,
                                        const WarmFds* from_server, const RunCgroup* cgroup) {
  int go[2], out[2];
  int data = -1;
  if (from_server) {
    go[0] = from_server->go_read;
    go[1] = from_server->go_write;
    data = from_server->data;
    for (int fd : {go[0], go[1], data}) fcntl(fd, F_SETFD, FD_CLOEXEC);
  } else {
    if (pipe2(go, O_CLOEXEC) != 0) return std::nullopt;
    data = memfd_create("jenky-warm-run", MFD_CLOEXEC);
  }
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(go[0]);
    close(go[1]);
    if (data >= 0) close(data);
    return std::nullopt;
  }
  WidenPipe(out[0]);
  int boot = memfd_create("jenky-warm-bootstrap", MFD_CLOEXEC);
  std::optional<WarmShell> warm;
  if (boot >= 0 && data >= 0 && WriteAll(boot, kWarmBootstrap, "warm shell bootstrap").ok()) {
    SpawnOptions o;
    o.argv = {shell, "/dev/fd/4"};
    // With this process's environment, which is the server's less what it
    // keeps from scripts: a run's is mostly the same, and its data then only
    // sets what differs (the locale's files, for one, are loaded already).
    std::vector<std::string> own;
    for (char** e = environ; e && *e; ++e) own.emplace_back(*e);
    std::vector<std::string> env = WarmShellEnv(own);
    o.env = env;
    o.env.push_back(WarmShellMarker(self));
    o.stdout_fd = o.stderr_fd = out[1];
    o.extra_fds = {{go[0], 3}, {boot, 4}, {data, 5}};
    o.new_process_group = true;
    // In the run's cgroup already: it becomes the script without moving.
    if (cgroup) o.cgroup_fd = cgroup->fd();
    if (auto pid = Spawn(o); pid.ok()) {
      warm = WarmShell{*pid, shell, std::move(env), go[1], data, out[0]};
    }
  }
  // The shell is the pipe's only reader: a write to it fails once it is gone.
  close(go[0]);
  close(out[1]);
  if (boot >= 0) close(boot);
  if (!warm) {
    close(go[1]);
    close(out[0]);
    if (data >= 0) close(data);
  }
  return warm;
}

// A spare's run directory, made before its run exists (run_dir.h).
struct Stage {
  RunDir dir;  // runs/.spare-PID until the server renames it
  int lock_fd = -1;
  std::optional<LogWriter> log;

  // Deletes a stage no run will use (the lock goes when this process exits).
  void Remove() {
    log.reset();
    RemoveTree(dir.path);
  }

  // The run directory the server renamed this stage to, found through the
  // lock's descriptor; "" while it is still a stage.
  std::string TakenAs() const {
    if (lock_fd < 0 || PathExists(dir.path)) return "";
    char buf[4096];
    ssize_t n = readlink(fmt::format("/proc/self/fd/{}", lock_fd).c_str(), buf, sizeof buf);
    if (n <= 0 || static_cast<size_t>(n) == sizeof buf) return "";
    std::string lock(buf, static_cast<size_t>(n));
    const std::string_view suffix = "/lock";
    if (lock.size() <= suffix.size() || lock.compare(lock.size() - suffix.size(), suffix.size(), suffix) != 0) {
      return "";
    }
    return lock.substr(0, lock.size() - suffix.size());
  }
};

// The server renamed this spare's stage to a run's directory and handed its
// warm shell the run, then ended before it sent the RunSpec: the script may
// have begun, with nobody to mask its secrets, keep its log or time it. It
// is stopped at once, and the run's record says so; the next server records
// the run from it instead of starting the script a second time.
void RecordCutOffRun(const RunDir& dir, WarmShell& warm, const SupervisorId& self,
                     const RunCgroup* cgroup) {
  warm.Discard();
  int killed = 0;
  if (cgroup) {
    killed += static_cast<int>(cgroup->Pids().size());
    cgroup->Kill();
    // Gone before the look for marked processes, so that none counts twice.
    for (int i = 0; i < 200 && cgroup->Populated(); ++i) usleep(5'000);
  }
  killed += KillProcessesWithEnv({"JENKY_RUN_DIR=" + dir.path, WarmShellMarker(self)});
  ExitRecord r;
  r.status = RunStatus::kInterrupted;
  r.reason = "jenky stopped while it was starting this run: the script was stopped as it "
             "began, before it was supervised";
  if (killed > 0) {
    r.reason += fmt::format(" ({} more process{})", killed, killed == 1 ? "" : "es");
  }
  r.started_at = r.finished_at = NowMillis();
  struct stat st;
  if (stat(dir.log().c_str(), &st) == 0) r.log_bytes = st.st_size;
  if (Status s = WriteExitRecord(dir, r); !s.ok()) LogError("supervisor: {}", s.message());
  LogWarning("supervisor: {}: {}", dir.path, r.reason);
}

// Makes RUNS_DIR/.spare-PID, under another name until it is complete: the
// server uses it only once it has every file. nullopt (and nothing left
// behind) when any step fails; the run is then started the slower way.
std::optional<Stage> MakeStage(const std::string& runs_dir, const SupervisorId& self) {
  const std::string ready = RunDir::StagePath(runs_dir, self.pid);
  RunDir dir{ready + ".tmp"};
  // Left by a process that had this pid before.
  RemoveTree(ready);
  RemoveTree(dir.path);
  Stage stage;
  stage.dir = dir;
  auto fail = [&](const std::string& what) -> std::optional<Stage> {
    LogWarning("supervisor: cannot prepare {}: {}", ready, what);
    stage.Remove();
    if (stage.lock_fd >= 0) close(stage.lock_fd);
    return std::nullopt;
  };
  if (mkdir(dir.path.c_str(), 0750) != 0) return fail(std::strerror(errno));
  chmod(dir.path.c_str(), 0750);  // whatever the umask
  // The lock first: a stage whose lock is free is a dead spare's.
  stage.lock_fd = open(dir.lock().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (stage.lock_fd < 0 || flock(stage.lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return fail("lock: " + std::string(std::strerror(errno)));
  }
  if (Status s = ReserveExitRecord(dir); !s.ok()) return fail(s.message());
  auto log = LogWriter::Open(dir.log(), dir.index());
  if (!log.ok()) return fail(log.status().message());
  stage.log.emplace(std::move(log).value());
  for (const std::string& path : {dir.script(), dir.meta()}) {
    if (Status s = WriteFile(path, "", 0640); !s.ok()) return fail(s.message());
  }
  if (Status s = WriteSupervisorId(dir, self); !s.ok()) return fail(s.message());
  if (rename(dir.path.c_str(), ready.c_str()) != 0) return fail(std::strerror(errno));
  stage.dir.path = ready;
  return stage;
}

bool IsIdentifier(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return c == '_' || std::isalnum(static_cast<unsigned char>(c));
  });
}

// Variables bash reads at start-up, sets itself or keeps read-only: exported
// later they would not act as they do when found in the environment at start.
bool SpecialToTheShell(std::string_view name) {
  static const std::set<std::string_view> names = {
      "ENV", "SHELLOPTS", "POSIXLY_CORRECT", "IFS", "PS4", "UID", "EUID", "PPID", "GROUPS",
      "LINENO", "RANDOM", "SRANDOM", "SECONDS", "EPOCHSECONDS", "EPOCHREALTIME", "HISTCMD",
      "FUNCNAME", "DIRSTACK", "PIPESTATUS", "OPTIND", "OPTERR", "COMP_WORDBREAKS", "HOSTTYPE",
      "MACHTYPE", "OSTYPE", "JENKY_SUPERVISOR"};
  return name.rfind("BASH", 0) == 0 || names.count(name) > 0;
}

class Supervisor {
  enum class Phase { kRunning, kTerminating, kCleaningUp, kKilled };

 public:
  // STAGE, if not null, is the run directory made ahead (spec.staged).
  Supervisor(const RunSpec& spec, WarmShell* warm, Stage* stage, const SupervisorId& self,
             RunCgroup* cgroup)
      : spec_(spec), dir_{spec.run_dir}, masker_(spec.secrets), warm_(warm), stage_(stage),
        self_(self), cgroup_(cgroup) {
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
    size_t done = 0;
    while (done < data->size()) {
      ssize_t n = pwrite(warm_->data_fd, data->data() + done, data->size() - done,
                         static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    // A warm shell that died while it waited makes this write fail (EPIPE).
    if (done < data->size() || write(warm_->go_fd, "g", 1) != 1) {
      warm_->Discard();
      return false;
    }
    return TakeWarmShell();
  }

  // The warm shell was sent its run: it is the script now.
  bool TakeWarmShell() {
    close(warm_->go_fd);
    close(warm_->data_fd);
    warm_->go_fd = warm_->data_fd = -1;
    child_ = warm_->pid;
    out_fd_ = warm_->out_fd;
    warm_->out_fd = -1;
    warm_->pid = -1;  // the run's now
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
    processes_peak_ = std::max<int64_t>(processes_peak_, static_cast<int64_t>(cgroup_->Pids().size()));
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
      std::string note = fmt::format("{}jenky: the log reached its limit of {} (max_log_bytes); "
                                     "the script was stopped\n",
                                     last_byte_ == '\n' ? "" : "\n", limit);
      log_->Append(note);
      return Finish(RunStatus::kFailed, code,
                    fmt::format("the log reached its limit of {} (max_log_bytes): the script "
                                "was stopped", limit));
    }
    if (timed_out_) {
      return Finish(RunStatus::kTimedOut, code,
                    fmt::format("timed out after {}", FormatDuration(Millis(spec_.timeout_ms))));
    }
    if (cancelled_) return Finish(RunStatus::kCancelled, code, cancel_reason_);
    std::string reason = signal_note;
    if (leftovers_ > 0) {
      reason += fmt::format("{}stopped {} process{} the script left running", reason.empty() ? "" : "; ",
                            leftovers_, leftovers_ == 1 ? "" : "es");
    }
    if (code && *code == 0) return Finish(RunStatus::kSucceeded, code, reason);
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
  RunCgroup* cgroup_;  // or null: the host offers none (cgroup.h)
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
  bool log_cut_ = false;  // the log reached max_log_bytes
  char last_byte_ = '\n';  // of the log so far ('\n' while empty)
  int leftovers_ = 0;
  std::string limit_error_;  // memory_max/tasks_max could not be applied
  std::optional<RunResources> resources_;
  static constexpr int64_t kSampleMs = 250;
  bool pids_peak_known_ = false;  // the cgroup has pids.peak: no sampling
  int64_t next_sample_ = 0;
  int64_t processes_peak_ = 0;
};

// TEXT as one shell word, taken literally: in single quotes, each ' as '\''.
std::string ShellQuote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += "'\\''";
    else out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

}  // namespace

std::vector<std::string> WarmShellEnv(const std::vector<std::string>& env) {
  std::vector<std::string> out;
  for (const std::string& kv : env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string_view name(kv.data(), eq);
    if (!IsIdentifier(name) || SpecialToTheShell(name)) continue;
    if (name == "_" || name == "PWD" || name == "OLDPWD" || name == "SHLVL") continue;
    out.push_back(kv);
  }
  return out;
}

std::optional<std::string> WarmStartData(const RunSpec& spec, const std::string& shell,
                                         const std::vector<std::string>& shell_env) {
  if (shell.empty() || spec.argv.size() != 3 || spec.argv[0] != shell || spec.argv[1] != "-e") {
    return std::nullopt;
  }
  if (spec.workdir.empty() || spec.workdir[0] != '/' || !IsDirectory(spec.workdir) ||
      spec.workdir.find('\0') != std::string::npos || spec.argv[2].find('\0') != std::string::npos) {
    return std::nullopt;
  }
  // What the shell has already, and what of it the run has too.
  std::map<std::string_view, std::string_view> has;
  for (const std::string& kv : shell_env) {
    size_t eq = kv.find('=');
    has.emplace(std::string_view(kv.data(), eq), std::string_view(kv).substr(eq + 1));
  }
  std::set<std::string_view> kept;
  std::string exports;
  auto add = [&exports](std::string_view kv) { exports += " " + ShellQuote(kv); };
  for (const std::string& kv : spec.env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) return std::nullopt;
    std::string_view name(kv.data(), eq);
    std::string_view value(kv.data() + eq + 1, kv.size() - eq - 1);
    if (!IsIdentifier(name) || SpecialToTheShell(name)) return std::nullopt;
    if (name == "_" || name == "PWD") continue;  // the shell sets both
    if (name == "OLDPWD") {
      if (IsDirectory(std::string(value))) add(kv);  // else bash drops it
      continue;
    }
    if (name == "SHLVL") {
      // A cold start raises it by one.
      int level = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), level);
      if (ec != std::errc() || end != value.data() + value.size() || level < 0 || level >= 998) {
        return std::nullopt;
      }
      add(fmt::format("SHLVL={}", level + 1));
      continue;
    }
    auto it = has.find(name);
    if (it != has.end()) kept.insert(name);
    if (it == has.end() || it->second != value) add(kv);
  }
  // `cd` sets OLDPWD; a cold start has only the one it was given.
  std::string out = "cd -P -- " + ShellQuote(spec.workdir) + " || exit 125\nunset OLDPWD";
  for (const auto& [name, value] : has) {
    if (!kept.count(name)) out += " " + std::string(name);  // (identifiers: no quoting)
  }
  out += "\n";
  if (!exports.empty()) out += "export --" + exports + "\n";  // (no names: it would list them)
  out += "BASH_ARGV0=" + ShellQuote(spec.argv[2]) + "\n";
  return out;
}

int Supervise(const RunSpec& spec) {
  SupervisorId self{getpid(), ProcessStartTime(getpid()).value_or(0), ""};
  return Supervisor(spec, nullptr, nullptr, self, nullptr).Run();
}

const std::vector<int>& SupervisorSignals() {
  static const std::vector<int> signals = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
  return signals;
}

int SupervisorMain(const std::string& warm_shell, const std::string& stage_in,
                   const WarmFds* warm_fds, const std::string& cgroup_tree) {
  // Block the signals the supervisor handles before anything else: a cancel
  // that arrives while a spare is still reading its RunSpec stays pending and
  // is read from the signalfd once the script runs.
  sigset_t set;
  sigemptyset(&set);
  for (int s : SupervisorSignals()) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  // A subreaper before anything runs: with a warm shell the server may start
  // the script before this process has read its RunSpec, and an orphan the
  // script makes in that window must come to us, not to init, or no tree
  // walk would find it again.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  // Who we are, the warm shell and the run directory, while no run waits
  // for any of them.
  SupervisorId self{getpid(), ProcessStartTime(getpid()).value_or(0), ""};
  // The run's cgroup, before anything of the run exists: the warm shell
  // starts in it. This process stays outside it, so that it never kills itself.
  std::optional<RunCgroup> cgroup;
  if (!cgroup_tree.empty()) {
    auto made = RunCgroup::Make(cgroup_tree, CgroupName(self.pid, self.start_time));
    if (made.ok()) {
      cgroup.emplace(std::move(made).value());
      self.cgroup = cgroup->path();
    } else {
      LogWarning("supervisor: this run gets no cgroup: {}", made.status().message());
    }
  }
  // Ends what is left in it (nothing, after a run) and removes it.
  auto release_cgroup = [&cgroup] {
    if (!cgroup) return;
    if (cgroup->Populated()) {
      cgroup->Kill();
      for (int i = 0; i < 200 && cgroup->Populated(); ++i) usleep(5'000);
    }
    if (Status s = cgroup->Remove(); !s.ok()) LogWarning("supervisor: {}", s.message());
  };
  std::optional<WarmShell> warm;
  if (!warm_shell.empty()) {
    warm = StartWarmShell(warm_shell, self, warm_fds, cgroup ? &*cgroup : nullptr);
  }
  std::optional<Stage> stage = stage_in.empty() ? std::nullopt : MakeStage(stage_in, self);
  // The RunSpec is one line: its end is known without waiting for EOF.
  std::string input;
  char buf[65536];
  while (input.empty() || input.back() != '\n') {
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    input.append(buf, n);
  }
  auto spec = DecodeRunSpec(input);  // (nothing is no RunSpec either)
  // The stage is the run's only if the server renamed it into place.
  if (stage && !(spec.ok() && spec->staged)) {
    std::string taken = input.empty() ? stage->TakenAs() : "";
    if (!taken.empty() && warm && warm->GivenItsRun()) {
      RecordCutOffRun(RunDir{taken}, *warm, self, cgroup ? &*cgroup : nullptr);
      release_cgroup();
      return 0;
    }
    stage->Remove();
    stage.reset();
  }
  if (!spec.ok()) {
    if (warm) warm->Discard();
    release_cgroup();
    if (input.empty()) return 0;  // a spare the server no longer needs
    LogError("supervisor: {}", spec.status().message());
    return 2;
  }
  int code = Supervisor(*spec, warm ? &*warm : nullptr, stage ? &*stage : nullptr, self,
                        cgroup ? &*cgroup : nullptr).Run();
  if (warm) warm->Discard();  // unused (a run that never started); else a no-op
  release_cgroup();
  return code;
}

}  // namespace jenky
