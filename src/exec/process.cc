#include "exec/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "util/fs.h"

namespace jenky {

namespace {

// The kernel's struct clone_args (glibc 2.36 has no clone3 wrapper), up to
// the cgroup field (CLONE_ARGS_SIZE_VER2).
struct CloneArgs {
  uint64_t flags = 0;
  uint64_t pidfd = 0;
  uint64_t child_tid = 0;
  uint64_t parent_tid = 0;
  uint64_t exit_signal = 0;
  uint64_t stack = 0;
  uint64_t stack_size = 0;
  uint64_t tls = 0;
  uint64_t set_tid = 0;
  uint64_t set_tid_size = 0;
  uint64_t cgroup = 0;
};
constexpr uint64_t kCloneIntoCgroup = 0x200000000ULL;  // CLONE_INTO_CGROUP

// What a child that failed before its exec tells its parent.
struct ChildError {
  int step;  // 0 descriptors, 1 workdir, 2 exec, 3 joining the cgroup
  int err;
};

// The child's side: only async-signal-safe calls (no allocation), then exec.
[[noreturn]] void ExecChild(const SpawnOptions& o, const std::vector<std::pair<int, int>>& fds,
                            int first_free, const sigset_t& mask, char* const* argv,
                            char* const* envp, int report, bool join_cgroup) {
  auto fail = [report](int step) {
    ChildError e{step, errno};
    (void)!write(report, &e, sizeof e);
    _exit(127);
  };
  if (join_cgroup) {
    // No clone3 here: the child moves itself before it runs anything.
    int procs = openat(o.cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (procs < 0 || write(procs, "0", 1) != 1) fail(3);
    close(procs);
  }
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, nullptr);
  if (o.new_session) {
    setsid();
  } else if (o.new_process_group) {
    setpgid(0, 0);
  }
  for (const auto& [fd, target] : fds) {
    if (fd == target) {
      if (fcntl(fd, F_SETFD, 0) != 0) fail(0);
    } else if (dup2(fd, target) < 0) {
      fail(0);
    }
  }
  // Everything else closes at the exec (the report pipe included).
  syscall(SYS_close_range, first_free, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
  if (!o.workdir.empty() && chdir(o.workdir.c_str()) != 0) fail(1);
  sigprocmask(SIG_SETMASK, &mask, nullptr);
  if (o.argv[0].find('/') == std::string::npos) execvpe(argv[0], argv, envp);
  else execve(argv[0], argv, envp);
  fail(2);
}

// The descriptors a child gets: (source, target) pairs, each source a copy
// above every target (so that one's target is never another's source), owned
// here and closed once the child has its own.
class ChildFds {
 public:
  ~ChildFds() {
    for (int fd : opened_) close(fd);
  }
  // Plans stdin/stdout/stderr (/dev/null where O has none) and O's extra fds.
  Status Plan(const SpawnOptions& o) {
    Std(o.stdin_fd, 0, O_RDONLY);
    Std(o.stdout_fd, 1, O_WRONLY);
    if (o.stderr_fd >= 0 && o.stderr_fd == o.stdout_fd) fds_.emplace_back(fds_.back().first, 2);
    else Std(o.stderr_fd, 2, O_WRONLY);
    for (const auto& [fd, target] : o.extra_fds) {
      fds_.emplace_back(High(fd), target);
      first_free_ = std::max(first_free_, target + 1);
    }
    for (const auto& [fd, target] : fds_) {
      if (fd < 0) return PosixError("copy a descriptor for the child", errno);
    }
    return Status::Ok();
  }
  const std::vector<std::pair<int, int>>& pairs() const { return fds_; }
  int first_free() const { return first_free_; }

 private:
  int High(int fd) {
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 64);
    if (copy >= 0) opened_.push_back(copy);
    return copy;
  }
  void Std(int fd, int target, int flags) {
    if (fd >= 0) {
      fds_.emplace_back(High(fd), target);
      return;
    }
    int null_fd = open("/dev/null", flags | O_CLOEXEC);
    fds_.emplace_back(null_fd < 0 ? -1 : High(null_fd), target);
    if (null_fd >= 0) close(null_fd);
  }

  std::vector<int> opened_;
  std::vector<std::pair<int, int>> fds_;
  int first_free_ = 3;
};

// Reads the child's report (REPORT: a ChildError if a step before its exec
// failed, nothing once it exec'ed) and returns PID or that error.
Result<pid_t> AwaitExec(pid_t pid, int report, const SpawnOptions& o) {
  ChildError e{};
  ssize_t n;
  while ((n = read(report, &e, sizeof e)) < 0 && errno == EINTR) {
  }
  close(report);
  if (n != static_cast<ssize_t>(sizeof e)) return pid;  // it exec'ed
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  std::string what = fmt::format("start {}", o.argv[0]);
  if (!o.workdir.empty()) what += fmt::format(" in {}", o.workdir);
  if (e.step == 3) what += " (joining its cgroup)";
  return PosixError(what, e.err);
}

Result<pid_t> SpawnIntoCgroup(const SpawnOptions& o) {
  // Everything the child needs is made here, before the clone.
  std::vector<char*> argv, envp;
  for (const auto& a : o.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : o.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : o.blocked_signals) sigaddset(&mask, s);
  auto fds = std::make_unique<ChildFds>();
  if (Status s = fds->Plan(o); !s.ok()) return s;
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return PosixError("pipe", errno);

  CloneArgs args;
  args.flags = kCloneIntoCgroup;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(o.cgroup_fd);
  bool join = false;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0 && (errno == ENOSYS || errno == E2BIG || errno == EPERM)) {
    // A kernel or a seccomp filter without clone3: fork, and the child joins
    // the cgroup itself before it execs anything.
    join = true;
    pid = fork();
  }
  if (pid == 0) {
    close(report[0]);
    ExecChild(o, fds->pairs(), fds->first_free(), mask, argv.data(), envp.data(), report[1], join);
  }
  int clone_err = errno;
  close(report[1]);
  fds.reset();  // the child has its copies
  if (pid < 0) {
    close(report[0]);
    return PosixError(fmt::format("start {} in the cgroup", o.argv[0]), clone_err);
  }
  return AwaitExec(static_cast<pid_t>(pid), report[0], o);
}

}  // namespace

Result<pid_t> Spawn(const SpawnOptions& o) {
  if (o.cgroup_fd >= 0) return SpawnIntoCgroup(o);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);

  auto setup_fd = [&](int fd, int target, int flags) {
    // glibc clears FD_CLOEXEC when fd == target, as POSIX asks.
    if (fd < 0) posix_spawn_file_actions_addopen(&fa, target, "/dev/null", flags, 0);
    else posix_spawn_file_actions_adddup2(&fa, fd, target);
  };
  setup_fd(o.stdin_fd, 0, O_RDONLY);
  setup_fd(o.stdout_fd, 1, O_WRONLY);
  if (o.stderr_fd >= 0 && o.stderr_fd == o.stdout_fd) {
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
  } else {
    setup_fd(o.stderr_fd, 2, O_WRONLY);
  }
  // Extra descriptors go through copies above every target first, so that
  // one's target cannot be another's source.
  std::vector<int> copies;
  int first_free = 3;
  for (const auto& [fd, target] : o.extra_fds) {
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 64);
    if (copy < 0) {
      for (int c : copies) close(c);
      posix_spawn_file_actions_destroy(&fa);
      posix_spawnattr_destroy(&attr);
      return PosixError("copy a descriptor for the child", errno);
    }
    copies.push_back(copy);
    posix_spawn_file_actions_adddup2(&fa, copy, target);
    first_free = std::max(first_free, target + 1);
  }
  posix_spawn_file_actions_addclosefrom_np(&fa, first_free);
  if (!o.workdir.empty()) posix_spawn_file_actions_addchdir_np(&fa, o.workdir.c_str());

  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  sigset_t mask, ignored;
  sigemptyset(&mask);
  for (int s : o.blocked_signals) sigaddset(&mask, s);
  // Handled signals reset themselves at exec; only ignored ones are inherited.
  // jenky ignores just SIGPIPE, so that is the one to give back its default
  // (resetting all 64 costs a system call each on the trigger's path).
  sigemptyset(&ignored);
  sigaddset(&ignored, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &mask);
  posix_spawnattr_setsigdefault(&attr, &ignored);
  if (o.new_session) {
    flags |= POSIX_SPAWN_SETSID;
  } else if (o.new_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr, 0);
  }
  posix_spawnattr_setflags(&attr, flags);

  std::vector<char*> argv, envp;
  for (const auto& a : o.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : o.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = -1;
  // A bare name ("systemctl") is looked up in PATH, like a shell would.
  bool search = o.argv[0].find('/') == std::string::npos;
  int rc = search ? posix_spawnp(&pid, o.argv[0].c_str(), &fa, &attr, argv.data(), envp.data())
                  : posix_spawn(&pid, o.argv[0].c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  for (int c : copies) close(c);
  if (rc != 0) {
    std::string what = fmt::format("start {}", o.argv[0]);
    if (!o.workdir.empty()) what += fmt::format(" in {}", o.workdir);
    return PosixError(what, rc);
  }
  return pid;
}

namespace {

// Parses /proc/PID/stat; the command name may hold spaces and parentheses,
// so fields are counted from the last ')'.
bool ReadStat(pid_t pid, pid_t* ppid, uint64_t* start_time) {
  auto text = ReadFile(fmt::format("/proc/{}/stat", pid));
  if (!text.ok()) return false;
  size_t close = text->rfind(')');
  if (close == std::string::npos) return false;
  // After ") " come fields 3 (state), 4 (ppid), ... 22 (starttime).
  const char* p = text->c_str() + close + 2;
  int field = 3;
  unsigned long long value = 0;
  while (*p && field <= 22) {
    if (field == 4 && ppid) *ppid = static_cast<pid_t>(strtol(p, nullptr, 10));
    if (field == 22) value = strtoull(p, nullptr, 10);
    while (*p && *p != ' ') ++p;
    while (*p == ' ') ++p;
    ++field;
  }
  if (start_time) *start_time = value;
  return field > 22;
}

}  // namespace

std::optional<uint64_t> ProcessStartTime(pid_t pid) {
  uint64_t t;
  if (!ReadStat(pid, nullptr, &t)) return std::nullopt;
  return t;
}

std::vector<pid_t> Descendants(pid_t root) {
  std::multimap<pid_t, pid_t> children;  // ppid -> pid
  if (DIR* d = opendir("/proc")) {
    while (struct dirent* e = readdir(d)) {
      char* end;
      long pid = strtol(e->d_name, &end, 10);
      if (*end != '\0' || pid <= 0) continue;
      pid_t ppid = 0;
      if (ReadStat(static_cast<pid_t>(pid), &ppid, nullptr)) {
        children.emplace(ppid, static_cast<pid_t>(pid));
      }
    }
    closedir(d);
  }
  std::vector<pid_t> out;
  std::vector<pid_t> todo = {root};
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    auto [lo, hi] = children.equal_range(p);
    for (auto it = lo; it != hi; ++it) {
      out.push_back(it->second);
      todo.push_back(it->second);
    }
  }
  return out;
}

bool HasChildren() {
  siginfo_t info;
  info.si_pid = 0;
  // WNOWAIT: look, do not reap. ECHILD means no children at all, living or dead.
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

int SignalTree(pid_t root, pid_t pgid, int sig) {
  int n = 0;
  if (pgid > 0 && kill(-pgid, sig) == 0) ++n;
  for (pid_t p : Descendants(root)) {
    if (kill(p, sig) == 0) ++n;
  }
  return n;
}

std::vector<pid_t> ProcessesWithEnv(const std::vector<std::string>& entries) {
  std::vector<std::string> needles;
  for (const std::string& entry : entries) needles.push_back(entry + '\0');
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (struct dirent* e = readdir(d)) {
    char* end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == getpid()) continue;
    auto env = ReadFile(fmt::format("/proc/{}/environ", pid));
    if (!env.ok()) continue;
    // Entries are NUL-separated; match a whole entry.
    bool match = std::any_of(needles.begin(), needles.end(), [&](const std::string& needle) {
      size_t at = env->find(needle);
      return at != std::string::npos && (at == 0 || (*env)[at - 1] == '\0');
    });
    if (match) out.push_back(static_cast<pid_t>(pid));
  }
  closedir(d);
  return out;
}

int KillProcessesWithEnv(const std::vector<std::string>& entries) {
  int killed = 0;
  for (int round = 0; round < 50; ++round) {
    int found = 0;
    for (pid_t pid : ProcessesWithEnv(entries)) {
      if (kill(pid, SIGKILL) == 0) {
        ++found;
        ++killed;
      }
    }
    if (found == 0) break;
    usleep(20'000);  // let them die (and children forked meanwhile show up)
  }
  return killed;
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

int PidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

int PidfdOpenVerified(pid_t pid, uint64_t start_time) {
  int fd = PidfdOpen(pid);
  if (fd < 0) return -1;
  // Checked after opening: if the start time matches now, the pidfd refers to
  // that process even if it exits and the pid is reused a moment later.
  auto t = ProcessStartTime(pid);
  if (!t || *t != start_time) {
    close(fd);
    errno = ESRCH;
    return -1;
  }
  return fd;
}

std::string SelfExecutable() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/proc/self/exe";
  buf[n] = '\0';
  return buf;
}

}  // namespace jenky
