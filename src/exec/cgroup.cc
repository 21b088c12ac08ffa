#include "exec/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "exec/process.h"
#include "util/fs.h"

namespace jenky {

namespace {

std::set<std::string> Words(std::string_view text) {
  std::set<std::string> out;
  std::istringstream in{std::string(text)};
  std::string w;
  while (in >> w) out.insert(w);
  return out;
}

std::set<std::string> ControllersFile(const std::string& path) {
  return Words(ReadFile(path).value_or(""));
}

// Writes TEXT to FILE in one write(2), as cgroupfs wants it.
Status WriteControl(const std::string& file, std::string_view text) {
  int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return PosixError("open " + file, errno);
  ssize_t n = write(fd, text.data(), text.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(text.size())) return PosixError("write " + file, err);
  return Status::Ok();
}

std::optional<int64_t> Number(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// Whether this process has CAP_SYS_ADMIN (CapEff in /proc/self/status).
bool HasSysAdmin() {
  std::istringstream in(ReadFile("/proc/self/status").value_or(""));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      unsigned long long caps = std::strtoull(line.c_str() + 7, nullptr, 16);
      return (caps >> 21) & 1;  // CAP_SYS_ADMIN
    }
  }
  return false;
}

// Whether systemd delegated the cgroup at PATH (Delegate=yes): it marks it
// with trusted.delegate (or user.delegate, readable without privileges).
bool Delegated(const std::string& path) {
  // To a user other than root, systemd delegates by handing the cgroup over.
  struct stat st;
  if (geteuid() != 0 && stat(path.c_str(), &st) == 0 && st.st_uid == geteuid()) return true;
  char v[8];
  for (const char* name : {"trusted.delegate", "user.delegate"}) {
    ssize_t n = getxattr(path.c_str(), name, v, sizeof v);
    if (n > 0 && v[0] == '1') return true;
  }
  // Root whose unit took CAP_SYS_ADMIN away (jenky's own does) cannot read
  // trusted.* attributes at all: a unit's cgroup it may write is taken as
  // delegated (systemd 252 marks delegation with nothing else).
  return geteuid() == 0 && !HasSysAdmin() && path.size() > 8 &&
         path.compare(path.size() - 8, 8, ".service") == 0 && access(path.c_str(), W_OK) == 0;
}

// Whether PATH (relative to the hierarchy) is a cgroup systemd manages:
// a unit's (.service, .scope, .slice) or one inside one.
bool SystemdCgroup(const std::string& path) {
  for (const char* unit : {".service", ".scope", ".slice"}) {
    if (path.find(unit) != std::string::npos) return true;
  }
  return false;
}

// The v1 hierarchy CONTROLLER is bound to on a hybrid host, "" if none.
std::string V1MountOf(std::string_view mountinfo, const std::string& controller) {
  std::istringstream in{std::string(mountinfo)};
  std::string line;
  while (std::getline(in, line)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream after(line.substr(dash + 3));
    std::string type, source, options;
    after >> type >> source >> options;
    if (type != "cgroup") continue;
    std::istringstream opts(options);
    std::string opt;
    while (std::getline(opts, opt, ',')) {
      if (opt == controller) {
        std::istringstream before(line.substr(0, dash));
        std::string f;
        for (int i = 0; i < 5 && before >> f; ++i) {
        }
        return f;  // field 5: the mount point
      }
    }
  }
  return "";
}

}  // namespace

std::string UnifiedMountFrom(std::string_view mountinfo) {
  std::istringstream in{std::string(mountinfo)};
  std::string line;
  while (std::getline(in, line)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream after(line.substr(dash + 3));
    std::string type;
    after >> type;
    if (type != "cgroup2") continue;
    std::istringstream before(line.substr(0, dash));
    std::string f, root, mount;
    before >> f >> f >> f >> root >> mount;  // id, parent, dev, root, mount point
    if (root != "/") continue;               // a bind mount of a sub-tree: not the hierarchy
    return mount;
  }
  return "";
}

std::optional<std::string> UnifiedPathFrom(std::string_view proc_cgroup) {
  std::istringstream in{std::string(proc_cgroup)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return std::nullopt;
}

std::optional<int64_t> CpuUsecFrom(std::string_view cpu_stat) {
  std::istringstream in{std::string(cpu_stat)};
  std::string key;
  int64_t value;
  while (in >> key >> value) {
    if (key == "usage_usec") return value;
  }
  return std::nullopt;
}

std::string CgroupName(pid_t pid, uint64_t start_time) {
  return fmt::format("sup-{}.{}", pid, start_time);
}

Result<CgroupTree> OpenCgroupTree() {
  std::string mountinfo = ReadFile("/proc/self/mountinfo").value_or("");
  std::string mount = UnifiedMountFrom(mountinfo);
  if (mount.empty()) {
    return Status::Error(
        "no cgroup v2 (unified) hierarchy is mounted (mount -t cgroup2 none "
        "/sys/fs/cgroup/unified, or boot with systemd.unified_cgroup_hierarchy=1)");
  }
  auto own = UnifiedPathFrom(ReadFile("/proc/self/cgroup").value_or(""));
  if (!own)
    return Status::Error("this process is in no cgroup v2 (/proc/self/cgroup has no 0:: line)");
  std::string own_dir = *own == "/" ? mount : mount + *own;
  CgroupTree tree;
  if (*own == "/") {
    // At the root: nobody manages the hierarchy; jenky makes its own place.
    tree.path = mount + "/jenky";
    if (mkdir(tree.path.c_str(), 0755) != 0 && errno != EEXIST) {
      return PosixError(fmt::format("cannot make {} (this process is at the root of the cgroup v2 "
                                    "hierarchy {})",
                                    tree.path, mount),
                        errno);
    }
  } else if (SystemdCgroup(*own) && !Delegated(own_dir)) {
    return Status::Error(fmt::format(
        "the cgroup jenky runs in, {}, is systemd's and not delegated to jenky (under systemd: "
        "Delegate=yes in the unit, as `jenky service install` writes it; from a shell: "
        "systemd-run --user --scope -p Delegate=yes jenky serve ..., without --user as root)",
        own_dir));
  } else {
    tree.path = own_dir;
  }
  if (access((tree.path + "/cgroup.procs").c_str(), W_OK) != 0 ||
      access(tree.path.c_str(), W_OK) != 0) {
    return PosixError(fmt::format("the cgroup {} is not writable by this user (under systemd: "
                                  "Delegate=yes)",
                                  tree.path),
                      errno);
  }
  // Accounting and limits: memory and pids, where they can be had. A cgroup
  // that holds processes (the server's own, when delegated) cannot hand
  // controllers to its children (cgroup v2's "no internal processes" rule).
  std::set<std::string> offered = ControllersFile(tree.path + "/cgroup.controllers");
  for (const std::string c : {"memory", "pids"}) {
    if (!offered.count(c) && tree.path == mount + "/jenky") {
      // The root offers what the host has; hand it down to jenky's tree.
      std::set<std::string> root = ControllersFile(mount + "/cgroup.controllers");
      if (root.count(c) && WriteControl(mount + "/cgroup.subtree_control", "+" + c).ok()) {
        offered.insert(c);
      }
    }
    if (!offered.count(c)) {
      std::string v1 = V1MountOf(mountinfo, c);
      tree.why_not[c] = v1.empty()
                            ? fmt::format(
                                  "the {} controller is not offered to {} (its "
                                  "cgroup.controllers)",
                                  c, tree.path)
                            : fmt::format(
                                  "the {} controller is bound to the cgroup v1 hierarchy at {} on "
                                  "this host, not to the v2 one at {} (boot with "
                                  "systemd.unified_cgroup_hierarchy=1 to move it)",
                                  c, v1, mount);
      continue;
    }
    Status s = WriteControl(tree.path + "/cgroup.subtree_control", "+" + c);
    if (s.ok()) {
      tree.controllers.insert(c);
    } else {
      tree.why_not[c] = fmt::format(
          "the {} controller cannot be enabled in {}/cgroup.subtree_control "
          "({}; a cgroup that holds processes, like a delegated unit's "
          "with jenky in it, cannot hand controllers down)",
          c, tree.path, s.message());
    }
  }
  return tree;
}

Status RequireController(const Result<CgroupTree>& tree, std::string_view controller,
                         std::string_view key) {
  if (!tree.ok()) {
    return Status::Error(
        fmt::format("{} needs a cgroup v2 for each run, which jenky cannot have "
                    "here: {}; remove {} or fix that",
                    key, tree.status().message(), key));
  }
  std::string name(controller);
  if (tree->controllers.count(name)) return Status::Ok();
  auto why = tree->why_not.find(name);
  return Status::Error(fmt::format(
      "{} needs the cgroup v2 {} controller, which jenky cannot use here: {}; remove {} or fix "
      "that",
      key, controller,
      why != tree->why_not.end() ? why->second : "it is not enabled for " + tree->path, key));
}

Result<RunCgroup> RunCgroup::Make(const std::string& tree, const std::string& name) {
  std::string path = tree + "/" + name;
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return PosixError("make the run's cgroup " + path, errno);
  }
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return PosixError("open " + path, errno);
  RunCgroup cg(path, fd);
  if (cg.Populated()) {
    return Status::Error(fmt::format("the cgroup {} is in use already", path));
  }
  return cg;
}

RunCgroup::RunCgroup(RunCgroup&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

RunCgroup& RunCgroup::operator=(RunCgroup&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

RunCgroup::~RunCgroup() {
  if (fd_ >= 0) close(fd_);
}

Status SetCgroupLimits(const std::string& path, int64_t memory_max, int64_t tasks_max) {
  if (memory_max > 0) {
    // No swap beyond the limit either: a limit that spills into swap is no limit.
    if (Status s = WriteControl(path + "/memory.max", std::to_string(memory_max)); !s.ok()) {
      return s;
    }
    WriteControl(path + "/memory.swap.max", "0");  // (no swap accounting: nothing to limit)
  }
  if (tasks_max > 0) return WriteControl(path + "/pids.max", std::to_string(tasks_max));
  return Status::Ok();
}

Status RunCgroup::SetLimits(int64_t memory_max, int64_t tasks_max) {
  return SetCgroupLimits(path_, memory_max, tasks_max);
}

std::vector<pid_t> RunCgroup::Pids() const {
  std::vector<pid_t> out;
  std::istringstream in(ReadFile(path_ + "/cgroup.procs").value_or(""));
  pid_t p;
  while (in >> p) out.push_back(p);
  return out;
}

bool RunCgroup::Populated() const {
  auto text = ReadFile(path_ + "/cgroup.events");
  if (!text.ok()) return false;  // gone: nothing in it
  return text->find("populated 1") != std::string::npos;
}

int RunCgroup::Signal(int sig) const {
  int n = 0;
  for (pid_t p : Pids()) {
    if (kill(p, sig) == 0) ++n;
  }
  return n;
}

Status RunCgroup::Kill() const {
  if (PathExists(path_ + "/cgroup.kill")) return WriteControl(path_ + "/cgroup.kill", "1");
  // Before cgroup.kill (Linux 5.14): frozen, nothing in it can fork while it
  // is emptied.
  bool frozen = WriteControl(path_ + "/cgroup.freeze", "1").ok();
  for (int round = 0; round < 50 && Signal(SIGKILL) > 0; ++round) {
  }
  if (frozen) WriteControl(path_ + "/cgroup.freeze", "0");  // (the killed die as it thaws)
  return Status::Ok();
}

CgroupUsage RunCgroup::Usage() const {
  CgroupUsage u;
  if (auto text = ReadFile(path_ + "/cpu.stat"); text.ok()) u.cpu_usec = CpuUsecFrom(*text);
  if (auto text = ReadFile(path_ + "/memory.peak"); text.ok()) u.memory_peak = Number(*text);
  if (auto text = ReadFile(path_ + "/pids.peak"); text.ok()) u.pids_peak = Number(*text);
  return u;
}

namespace {

// rmdir of PATH and, first, of the cgroups a script made in it (a nested
// jenky, a container runtime): a cgroup with children cannot be removed.
Status RemoveCgroupTree(const std::string& path, int depth) {
  if (DIR* d = depth < 32 ? opendir(path.c_str()) : nullptr) {
    std::vector<std::string> children;
    while (struct dirent* e = readdir(d)) {
      if (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") != 0 &&
          std::strcmp(e->d_name, "..") != 0) {
        children.push_back(path + "/" + e->d_name);
      }
    }
    closedir(d);
    for (const std::string& child : children) RemoveCgroupTree(child, depth + 1);
  }
  if (rmdir(path.c_str()) != 0 && errno != ENOENT) return PosixError("remove " + path, errno);
  return Status::Ok();
}

}  // namespace

Status RunCgroup::Remove() { return RemoveCgroupTree(path_, 0); }

int KillCgroupAt(const std::string& path) {
  // Only a run's cgroup, named as a supervisor names it: the path comes from
  // a file in the run directory, which is no reason to kill anything else.
  size_t slash = path.rfind('/');
  unsigned long pid = 0;
  unsigned long long start = 0;
  char end = 0;
  if (slash == std::string::npos || path.find("/..") != std::string::npos ||
      std::sscanf(path.c_str() + slash + 1, "sup-%lu.%llu%c", &pid, &start, &end) != 2 ||
      !IsDirectory(path)) {
    return 0;
  }
  RunCgroup cg(path, -1);
  int n = static_cast<int>(cg.Pids().size());
  if (n > 0) {
    cg.Kill();
    for (int i = 0; i < 100 && cg.Populated(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  cg.Remove();
  return n;
}

int RemoveStaleCgroups(const std::string& tree) {
  DIR* d = opendir(tree.c_str());
  if (!d) return 0;
  std::vector<std::string> stale;
  while (struct dirent* e = readdir(d)) {
    unsigned long pid = 0;
    unsigned long long start = 0;
    if (std::sscanf(e->d_name, "sup-%lu.%llu", &pid, &start) != 2) continue;
    auto t = ProcessStartTime(static_cast<pid_t>(pid));
    if (t && *t == start) continue;  // its supervisor lives
    stale.push_back(tree + "/" + e->d_name);
  }
  closedir(d);
  int removed = 0;
  for (const std::string& path : stale) {
    if (rmdir(path.c_str()) == 0) ++removed;  // (a populated one stays: its run's to end)
  }
  return removed;
}

}  // namespace jenky
