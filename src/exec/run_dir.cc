#include "exec/run_dir.h"
#include "util/json.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "exec/cgroup.h"
#include "exec/process.h"
#include "util/fs.h"
#include "util/time.h"

namespace jenky {

RunDir RunDir::For(const std::string& data_dir, int64_t run_id) {
  return RunDir{data_dir + "/runs/" + std::to_string(run_id)};
}

std::string RunDir::StagePath(const std::string& runs_dir, pid_t spare_pid) {
  return fmt::format("{}/.spare-{}", runs_dir, spare_pid);
}

Status ReserveExitRecord(const RunDir& dir) {
  int fd = open(dir.exit_reserve().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return PosixError("create " + dir.exit_reserve(), errno);
  int rc = posix_fallocate(fd, 0, kExitReserveBytes);
  close(fd);
  if (rc != 0) return PosixError("reserve space in " + dir.exit_reserve(), rc);
  return Status::Ok();
}

namespace {

// Writes TEXT over the start of the reserved file (its blocks are allocated:
// no new space is needed), cuts it to size and renames it to exit.json.
Status WriteIntoReserve(const RunDir& dir, const std::string& text) {
  int fd = open(dir.exit_reserve().c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return PosixError("open " + dir.exit_reserve(), errno);
  Status s = Status::Ok();
  size_t done = 0;
  while (s.ok() && done < text.size()) {
    ssize_t n = pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) s = PosixError("write " + dir.exit_reserve(), errno);
    else done += static_cast<size_t>(n);
  }
  if (s.ok() && ftruncate(fd, static_cast<off_t>(text.size())) != 0) {
    s = PosixError("truncate " + dir.exit_reserve(), errno);
  }
  if (s.ok() && fsync(fd) != 0) s = PosixError("fsync " + dir.exit_reserve(), errno);
  close(fd);
  if (!s.ok()) return s;
  if (rename(dir.exit_reserve().c_str(), dir.exit().c_str()) != 0) {
    return PosixError("rename to " + dir.exit(), errno);
  }
  int dfd = open(dir.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return Status::Ok();
}

}  // namespace

Status WriteExitRecord(const RunDir& dir, const ExitRecord& r) {
  nlohmann::json j = {
      {"status", RunStatusName(r.status)},
      {"exit_code", r.exit_code ? nlohmann::json(*r.exit_code) : nlohmann::json(nullptr)},
      {"reason", r.reason},
      {"started_at", r.started_at},
      {"finished_at", r.finished_at},
      {"log_bytes", r.log_bytes},
  };
  if (r.resources) j["resources"] = ResourcesToJson(*r.resources);
  std::string text = DumpJson(j) + "\n";
  if (PathExists(dir.exit_reserve()) && WriteIntoReserve(dir, text).ok()) return Status::Ok();
  return WriteFileAtomic(dir.exit(), text);
}

std::optional<ExitRecord> ReadExitRecord(const RunDir& dir) {
  auto text = ReadFile(dir.exit());
  if (!text.ok()) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  ExitRecord r;
  r.status = ParseRunStatus(j.value("status", "")).value_or(RunStatus::kInterrupted);
  if (j.contains("exit_code") && j["exit_code"].is_number_integer()) {
    r.exit_code = j["exit_code"].get<int>();
  }
  r.reason = j.value("reason", "");
  r.started_at = j.value("started_at", int64_t{0});
  r.finished_at = j.value("finished_at", int64_t{0});
  r.log_bytes = j.value("log_bytes", int64_t{0});
  if (auto it = j.find("resources"); it != j.end()) r.resources = ResourcesFromJson(*it);
  return r;
}

Status WriteSupervisorId(const RunDir& dir, const SupervisorId& id) {
  nlohmann::json j = {{"pid", id.pid}, {"start_time", id.start_time}};
  if (!id.cgroup.empty()) j["cgroup"] = id.cgroup;
  // Not fsynced: it names a process, which a power cut ends anyway.
  return WriteFileAtomic(dir.supervisor(), DumpJson(j) + "\n", 0640, /*durable=*/false);
}

std::optional<SupervisorId> ReadSupervisorId(const RunDir& dir) {
  auto text = ReadFile(dir.supervisor());
  if (!text.ok()) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  SupervisorId id;
  id.pid = j.value("pid", 0);
  id.start_time = j.value("start_time", uint64_t{0});
  if (auto it = j.find("cgroup"); it != j.end() && it->is_string())
    id.cgroup = it->get<std::string>();
  if (id.pid <= 0) return std::nullopt;
  return id;
}

std::string WarmShellMarker(const SupervisorId& id) {
  return fmt::format("JENKY_SUPERVISOR={}.{}", id.pid, id.start_time);
}

bool SupervisorAlive(const RunDir& dir) {
  int fd = open(dir.lock().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool alive = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd);  // also drops our shared lock, if we got it
  return alive;
}

int RemoveStaleStages(const std::string& runs_dir) {
  int removed = 0;
  DIR* d = opendir(runs_dir.c_str());
  if (!d) return 0;
  std::vector<std::string> stale;
  while (struct dirent* e = readdir(d)) {
    std::string_view name(e->d_name);
    if (name.rfind(".spare-", 0) != 0) continue;
    RunDir stage{runs_dir + "/" + std::string(name)};
    if (!SupervisorAlive(stage)) stale.push_back(stage.path);
  }
  closedir(d);
  for (const std::string& path : stale) {
    if (RemoveTree(path).ok()) ++removed;
  }
  return removed;
}

ExitRecord DeclareInterrupted(const RunDir& dir, const std::string& reason) {
  int fd = open(dir.lock().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  bool locked = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;
  std::optional<ExitRecord> existing = ReadExitRecord(dir);
  ExitRecord r;
  if (existing) {
    r = *existing;
  } else {
    r.status = RunStatus::kInterrupted;
    r.reason = reason;
    // The supervisor is gone but what it started may not be: end it, so the
    // project's next run never overlaps this one.
    std::vector<std::string> marks = {"JENKY_RUN_DIR=" + dir.path};
    int killed = 0;
    if (auto sid = ReadSupervisorId(dir)) {
      marks.push_back(WarmShellMarker(*sid));
      // Its cgroup first: nothing in it can escape or fork meanwhile.
      killed += KillCgroupAt(sid->cgroup);
    }
    killed += KillProcessesWithEnv(marks);
    if (killed > 0) {
      r.reason +=
          fmt::format("; stopped {} process{} it left running", killed, killed == 1 ? "" : "es");
    }
    r.finished_at = NowMillis();
    struct stat st;
    if (stat(dir.log().c_str(), &st) == 0) r.log_bytes = st.st_size;
    if (locked) WriteExitRecord(dir, r);
  }
  if (fd >= 0) close(fd);
  return r;
}

}  // namespace jenky
