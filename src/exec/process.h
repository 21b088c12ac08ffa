// Processes, the Linux way: spawning into a new process group, identifying a
// process by pid and start time (or a pidfd), finding and ending a whole tree.
// All OS process handling in jenky goes through here.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

namespace jenky {

struct SpawnOptions {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // KEY=VALUE; the whole environment
  std::string workdir;           // "" = inherit
  int stdin_fd = -1;             // -1 = /dev/null
  int stdout_fd = -1;            // -1 = /dev/null
  int stderr_fd = -1;            // -1 = /dev/null; may equal stdout_fd
  bool new_process_group = false;
  bool new_session = false;
  // Blocked in the child from its first instruction (a signal mask survives
  // exec); a signal sent before the program could block it stays pending.
  std::vector<int> blocked_signals;
  // More descriptors for the child: {descriptor here, its number there}, the
  // numbers from 3 up. Everything else above 2 is closed.
  std::vector<std::pair<int, int>> extra_fds;
  // A cgroup v2 directory, open (cgroup.h): the child is created in it
  // (clone3 with CLONE_INTO_CGROUP), so it is never anywhere else, not even
  // between its fork and its exec. -1: the caller's cgroup.
  int cgroup_fd = -1;
};

// posix_spawn with every other descriptor closed in the child, default signal
// dispositions and a signal mask of just BLOCKED_SIGNALS. Returns the child's
// pid. With a cgroup_fd: clone3 and exec, the same for the child (a fork, not
// a vfork: meant for small single-threaded callers like the supervisor).
Result<pid_t> Spawn(const SpawnOptions& options);

// Widens the pipe of FD (a script's output) to 256 KiB where the system
// allows it; else it keeps its size (fs.pipe-max-size and the per-user pipe
// limits decide). With reads of up to 128 KiB that takes about a tenth less
// of the supervisor's CPU than the default 64 KiB of each for a script
// writing as fast as it can; more than that loses the data's place in the
// cache.
inline void WidenPipe(int fd) { fcntl(fd, F_SETPIPE_SZ, 256 << 10); }

// Field 22 of /proc/PID/stat: clock ticks since boot when PID started. With the
// pid it names one process for the life of the machine.
std::optional<uint64_t> ProcessStartTime(pid_t pid);

// Every live descendant of ROOT, found through /proc parent links.
std::vector<pid_t> Descendants(pid_t root);

// True while this process has children, living or not yet reaped. For a
// child subreaper that means: some descendant still exists (every living
// descendant has an ancestor among its children). Cheap: no /proc scan.
bool HasChildren();

// Sends SIG to the process group PGID and to every descendant of ROOT (which
// catches children that left the group with setsid). Returns how many
// processes were signalled.
int SignalTree(pid_t root, pid_t pgid, int sig);

// Every process but this one (of any parent) whose environment, as /proc
// shows it (the one it was exec'ed with), holds one of ENTRIES ("KEY=VALUE").
std::vector<pid_t> ProcessesWithEnv(const std::vector<std::string>& entries);

// SIGKILLs every process (of any parent) whose environment holds one of
// ENTRIES ("KEY=VALUE"), until none is left. For a run whose supervisor died: its
// script tree is no longer anyone's descendant, but it still carries the
// run's JENKY_RUN_DIR. Returns how many processes were killed.
int KillProcessesWithEnv(const std::vector<std::string>& entries);

// pidfd_open(2) and pidfd_send_signal(2); -1 with errno on failure.
int PidfdOpen(pid_t pid);
int PidfdSendSignal(int pidfd, int sig);

// Opens a pidfd for PID only if it is still the process that started at
// START_TIME; -1 otherwise (exited, or the pid was reused).
int PidfdOpenVerified(pid_t pid, uint64_t start_time);

// "/proc/self/exe" resolved: the binary to re-exec as a supervisor.
std::string SelfExecutable();

}  // namespace jenky
