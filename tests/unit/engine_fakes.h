// Fakes for the engine's seams (server/engine.h, EngineSeams), in the manner
// of ninja's FakeCommandRunner: nothing is spawned, nothing is locked; a
// FakeWorld says what each run directory's supervisor is doing, and the test
// moves it (Exit, the clock) and watches what the engine asks for.
#pragma once

#include <sys/eventfd.h>

#include <cstdio>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "exec/supervisor.h"
#include "server/launcher.h"
#include "server/watcher.h"
#include "util/fs.h"

namespace jenky {

// What a run directory's supervisor is, as the probes see it.
struct FakeSupervisor {
  bool alive = false;              // its lock is held and the process runs
  bool identifiable = true;        // supervisor.json names a live process
  bool reserved = false;           // exit.reserve exists
  std::optional<ExitRecord> exit;  // exit.json
};

struct FakeWorld {
  int64_t now = 1'700'000'000'000;
  std::map<std::string, FakeSupervisor> dirs;         // by run directory
  std::map<int, std::string> fd_dir;                  // the exit-watch descriptors handed out
  std::map<int, std::function<void()>> exit_watches;  // by descriptor
  std::vector<std::string> launched;                  // run directories, in launch order
  std::vector<std::string> cancelled;                 // run directories asked to stop
  std::vector<std::string> interrupted;               // DeclareInterrupted, in order
  Status launch_error = Status::Ok();                 // what Launch returns instead of a supervisor
  int watched_dirs = 0;
  std::map<std::string, std::function<void(const std::string&)>> dir_watches;  // by directory

  // The script of the run in DIR prints TEXT: appended to its log, and the
  // engine hears of it as from inotify.
  void Print(const std::string& dir, const std::string& text) {
    (void)MakeDirs(dir, 0750);
    FILE* f = fopen((dir + "/log").c_str(), "a");
    if (f) {
      fputs(text.c_str(), f);
      fclose(f);
    }
    if (auto it = dir_watches.find(dir); it != dir_watches.end()) it->second("log");
  }

  // The supervisor of DIR ends with REC (nullopt: without one); the engine
  // hears of it as from a pidfd.
  void Exit(const std::string& dir, std::optional<ExitRecord> rec) {
    FakeSupervisor& s = dirs[dir];
    s.alive = false;
    s.exit = rec;
    for (auto& [fd, d] : fd_dir) {
      if (d != dir) continue;
      auto it = exit_watches.find(fd);
      if (it != exit_watches.end()) {
        auto cb = it->second;
        cb();
        return;
      }
    }
  }
  UniqueFd NewDescriptor(const std::string& dir) {
    UniqueFd fd(eventfd(0, EFD_CLOEXEC));
    fd_dir[fd.get()] = dir;
    return fd;
  }
};

class FakeLauncher final : public Launcher {
 public:
  explicit FakeLauncher(FakeWorld& w) : w_(w) {}
  void Start(const SpareOptions& o) override { options_ = o; }
  void Reconfigure(const SpareOptions& o) override { options_ = o; }
  void Shutdown() override {}
  Result<Launched> Launch(const RunDir& dir, const std::string&, const std::string&,
                          RunSpec) override {
    // A real launcher without options cannot start a supervisor.
    if (options_.supervisor_binary.empty()) return Status::Error("no supervisor binary yet");
    if (!w_.launch_error.ok()) return w_.launch_error;
    w_.launched.push_back(dir.path);
    w_.dirs[dir.path] = FakeSupervisor{true, true, true, std::nullopt};
    Launched l;
    l.pid = 100000 + static_cast<pid_t>(w_.launched.size());
    pid_dir_[l.pid] = dir.path;
    l.pidfd = w_.NewDescriptor(dir.path);
    return Result<Launched>(std::move(l));
  }
  bool LockHeld(const RunDir& dir) override { return w_.dirs[dir.path].alive; }
  std::optional<ExitRecord> ReadExitRecord(const RunDir& dir) override {
    return w_.dirs[dir.path].exit;
  }
  bool ExitReserved(const RunDir& dir) override { return w_.dirs[dir.path].reserved; }
  UniqueFd OpenSupervisor(const RunDir& dir) override {
    const FakeSupervisor& s = w_.dirs[dir.path];
    if (!s.alive || !s.identifiable) return UniqueFd();
    return w_.NewDescriptor(dir.path);
  }
  ExitRecord DeclareInterrupted(const RunDir& dir, const std::string& reason) override {
    w_.interrupted.push_back(dir.path);
    ExitRecord rec;
    rec.status = RunStatus::kInterrupted;
    rec.reason = reason;
    rec.finished_at = w_.now;
    w_.dirs[dir.path].exit = rec;
    return rec;
  }
  bool ChildRunning(pid_t pid) override { return w_.dirs[pid_dir_[pid]].alive; }
  bool Cancel(const RunDir& dir, int, const std::string&) override {
    w_.cancelled.push_back(dir.path);
    return true;
  }

 private:
  FakeWorld& w_;
  SpareOptions options_;
  std::map<pid_t, std::string> pid_dir_;
};

class FakeWatcher final : public Watcher {
 public:
  explicit FakeWatcher(FakeWorld& w) : w_(w) {}
  int Watch(const std::string& dir, std::function<void(const std::string&)> cb) override {
    ++w_.watched_dirs;
    w_.dir_watches[dir] = std::move(cb);
    dirs_[next_id_] = dir;
    return next_id_++;
  }
  void Remove(int id) override {
    if (id < 0) return;
    --w_.watched_dirs;
    w_.dir_watches.erase(dirs_[id]);
  }
  bool ok() const override { return true; }
  const std::string& error() const override { return error_; }
  std::unique_ptr<ExitWatch> WatchExit(UniqueFd pidfd, std::function<void()> on_exit) override {
    return std::make_unique<Watch_>(w_, std::move(pidfd), std::move(on_exit));
  }

 private:
  class Watch_ final : public ExitWatch {
   public:
    Watch_(FakeWorld& w, UniqueFd fd, std::function<void()> cb) : w_(w), fd_(std::move(fd)) {
      w_.exit_watches[fd_.get()] = std::move(cb);
    }
    ~Watch_() override {
      w_.exit_watches.erase(fd_.get());
      w_.fd_dir.erase(fd_.get());
    }
    int pidfd() const override { return fd_.get(); }

   private:
    FakeWorld& w_;
    UniqueFd fd_;
  };
  FakeWorld& w_;
  int next_id_ = 1;
  std::map<int, std::string> dirs_;  // by watch id
  std::string error_;
};

}  // namespace jenky
