#include "exec/stage.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "exec/cgroup.h"
#include "exec/process.h"
#include "exec/warm_shell.h"
#include "util/fs.h"
#include "util/logger.h"
#include "util/time.h"

namespace jenky {

void Stage::Remove() {
  log.reset();
  RemoveTree(dir.path);
}

std::string Stage::TakenAs() const {
  if (lock_fd < 0 || PathExists(dir.path)) return "";
  char buf[4096];
  ssize_t n = readlink(fmt::format("/proc/self/fd/{}", lock_fd).c_str(), buf, sizeof buf);
  if (n <= 0 || static_cast<size_t>(n) == sizeof buf) return "";
  std::string lock(buf, static_cast<size_t>(n));
  const std::string_view suffix = "/lock";
  if (lock.size() <= suffix.size() ||
      lock.compare(lock.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return "";
  }
  return lock.substr(0, lock.size() - suffix.size());
}

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
  r.reason =
      "jenky stopped while it was starting this run: the script was stopped as it "
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

}  // namespace jenky
