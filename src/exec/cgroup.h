// cgroup v2, the parts jenky uses to contain a run: one cgroup per run, which
// the script is spawned straight into (SpawnOptions::cgroup_fd: clone3 with
// CLONE_INTO_CGROUP), so that nothing it starts is ever outside it, however
// it forks, double-forks or calls setsid; the run is ended by killing the
// cgroup, which nothing inside can escape, and measured from it.
//
// Where run cgroups live (OpenCgroupTree): jenky's *tree*, a directory of the
// unified hierarchy (pure v2 at /sys/fs/cgroup, or a hybrid host's
// /sys/fs/cgroup/unified) that jenky may write:
//   - the server's own cgroup when systemd delegated it (Delegate=yes: the
//     unit's cgroup, marked with the xattr trusted.delegate or user.delegate),
//     or when it is not a systemd unit's and writable (a container's root);
//   - HIERARCHY/jenky when the server sits at the hierarchy's root (no
//     systemd managing cgroups, as on this project's build machines).
// A systemd unit's or session's cgroup that is not delegated is never
// written (systemd owns it): runs then get no cgroup, and the supervisor's
// other two nets (subreaper, run marker) remain. The error says which.
//
// A run's cgroup is made by its supervisor before the run exists (the spare
// spawns its warm shell into it), named after the supervisor (CgroupName), and
// recorded in supervisor.json, so that whoever declares the run lost can kill
// it (KillCgroupAt). The supervisor itself stays outside it.
//
// Everything here is synchronous file I/O on cgroupfs; no threads.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace jenky {

struct CgroupTree {
  std::string path;  // a directory of cgroupfs; run cgroups are made in it
  // Controllers run cgroups get (path's cgroup.subtree_control): "memory",
  // "pids", ... Empty still means cgroup.kill and cpu.stat.
  std::set<std::string> controllers;
  // Why each controller jenky wanted is missing from `controllers`, for
  // error messages ("the memory controller is bound to the cgroup v1
  // hierarchy at ...").
  std::map<std::string, std::string> why_not;
};

// Finds jenky's tree, makes it if it is HIERARCHY/jenky, and enables the
// memory and pids controllers in it where the kernel and the tree's parent
// allow (for accounting and limits). The error says why there is none.
Result<CgroupTree> OpenCgroupTree();

// Whether TREE offers CONTROLLER to run cgroups; else an error that names the
// config KEY and says why not and what to do.
Status RequireController(const Result<CgroupTree>& tree, std::string_view controller,
                         std::string_view key);

// The pieces OpenCgroupTree reads, apart, for tests.
// The mount point of the cgroup2 file system in /proc/self/mountinfo's TEXT;
// "" if none.
std::string UnifiedMountFrom(std::string_view mountinfo);
// The unified hierarchy's path ("0::PATH") in /proc/self/cgroup's TEXT.
std::optional<std::string> UnifiedPathFrom(std::string_view proc_cgroup);

// What a run used, as far as the kernel counts it.
struct CgroupUsage {
  std::optional<int64_t> cpu_usec;     // cpu.stat usage_usec
  std::optional<int64_t> memory_peak;  // memory.peak (memory controller)
  std::optional<int64_t> pids_peak;    // pids.peak (pids controller)
};
// usage_usec in cpu.stat's TEXT.
std::optional<int64_t> CpuUsecFrom(std::string_view cpu_stat);

// "sup-PID.START": the name of the cgroup supervisor PID (started at START)
// makes for its run.
std::string CgroupName(pid_t pid, uint64_t start_time);

// One run's cgroup. Movable; the destructor closes the descriptor only (the
// cgroup stays until Remove).
class RunCgroup {
 public:
  // Makes TREE/NAME. An empty leftover of that name is reused.
  static Result<RunCgroup> Make(const std::string& tree, const std::string& name);

  RunCgroup(RunCgroup&& other) noexcept;
  RunCgroup& operator=(RunCgroup&& other) noexcept;
  RunCgroup(const RunCgroup&) = delete;
  RunCgroup& operator=(const RunCgroup&) = delete;
  ~RunCgroup();

  const std::string& path() const { return path_; }
  // The directory, open: SpawnOptions::cgroup_fd.
  int fd() const { return fd_; }

  // memory.max and pids.max; 0 leaves one unset.
  Status SetLimits(int64_t memory_max, int64_t tasks_max);
  // The processes in it now (cgroup.procs).
  std::vector<pid_t> Pids() const;
  // True while any process is in it (cgroup.events "populated").
  bool Populated() const;
  // Sends SIG to every process in it; returns how many.
  int Signal(int sig) const;
  // SIGKILLs everything in it at once (cgroup.kill); where the kernel has no
  // cgroup.kill (before 5.14), freezes it, kills each process and thaws it,
  // so that nothing forks meanwhile.
  Status Kill() const;
  CgroupUsage Usage() const;
  // rmdir, of the cgroups the run made in it first; fails (EBUSY) while a
  // process is still in it.
  Status Remove();

 private:
  friend int KillCgroupAt(const std::string& path);
  RunCgroup(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
};

// memory.max (with memory.swap.max 0) and pids.max of the cgroup at PATH;
// 0 leaves one as it is. RunCgroup::SetLimits, for whoever has only the path.
Status SetCgroupLimits(const std::string& path, int64_t memory_max, int64_t tasks_max);

// Kills every process in the cgroup at PATH (a run whose supervisor is gone),
// waits up to a second for it to empty and removes it. Returns how many
// processes it held; 0 if there is no such cgroup.
int KillCgroupAt(const std::string& path);

// Removes the empty cgroups in TREE that supervisors left (name CgroupName,
// their process gone); returns how many.
int RemoveStaleCgroups(const std::string& tree);

}  // namespace jenky
