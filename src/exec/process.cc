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

Result<pid_t> Spawn(const SpawnOptions& o) {
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

int KillProcessesWithEnv(const std::vector<std::string>& entries) {
  std::vector<std::string> needles;
  for (const std::string& entry : entries) needles.push_back(entry + '\0');
  int killed = 0;
  for (int round = 0; round < 50; ++round) {
    int found = 0;
    if (DIR* d = opendir("/proc")) {
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
        if (!match) continue;
        if (kill(static_cast<pid_t>(pid), SIGKILL) == 0) {
          ++found;
          ++killed;
        }
      }
      closedir(d);
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
