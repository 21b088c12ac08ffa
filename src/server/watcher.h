// Kernel notifications for the event loop: inotify on run directories (log
// growth) and pidfds (supervisor exit). One inotify descriptor serves every
// run; nothing here starts a thread or a process per run or per viewer.
//
// Loop-thread only. Callbacks run on the loop.
#pragma once

#include <sys/types.h>

#include <chrono>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "net/asio.h"
#include "util/unique_fd.h"

namespace jenky {

// A wait for one process's exit; destroying it ends the wait.
class ExitWatch {
 public:
  virtual ~ExitWatch() = default;
  virtual int pidfd() const = 0;  // -1 where there is none (a fake)
};

// What the engine watches: run directories (log growth) and supervisors'
// exits. The seam the engine is tested through (tests/unit/fake_watcher.h);
// FileWatcher is the real one.
class Watcher {
 public:
  virtual ~Watcher() = default;
  // Calls ON_CHANGE with a file's name whenever a file in DIR is written or
  // renamed into place. Returns a watch id for Remove, or -1.
  virtual int Watch(const std::string& dir,
                    std::function<void(const std::string& name)> on_change) = 0;
  virtual void Remove(int id) = 0;
  // False when directories cannot be watched; error() says why (callers poll).
  virtual bool ok() const = 0;
  virtual const std::string& error() const = 0;
  // Calls ON_EXIT (on the loop) once the process behind PIDFD exited.
  virtual std::unique_ptr<ExitWatch> WatchExit(UniqueFd pidfd, std::function<void()> on_exit) = 0;
};

class FileWatcher final : public Watcher {
 public:
  explicit FileWatcher(net::io_context& io);
  ~FileWatcher() override;

  // Calls ON_CHANGE whenever a file in DIR is written or renamed into place,
  // with the file's name. Returns a watch id for Remove, or -1.
  //
  // After a batch of events the watcher rests kRest before it reads again
  // (and until it reads no more, it does not wait for epoll):
  // a script writing its log 64 KiB at a time then costs the server one
  // wake-up a millisecond (the kernel merges the repeated events meanwhile),
  // not one per write, and viewers see its output at most kRest later.
  int Watch(const std::string& dir,
            std::function<void(const std::string& name)> on_change) override;
  // False when inotify could not be set up (e.g. fs.inotify.max_user_instances
  // reached); error() says why. Callers then poll instead.
  bool ok() const override { return fd_ >= 0; }
  const std::string& error() const override { return error_; }
  void Remove(int id) override;
  // A ProcessWatch.
  std::unique_ptr<ExitWatch> WatchExit(UniqueFd pidfd, std::function<void()> on_exit) override;

 private:
  static constexpr auto kRest = std::chrono::milliseconds(1);
  void Read();   // waits for events, then Drain
  void Drain();  // reads what is there; rests and drains again, or waits

  int fd_ = -1;
  std::string error_;
  std::unique_ptr<net::posix::stream_descriptor> stream_;
  std::unique_ptr<net::steady_timer> rest_;
  net::io_context& io_;
  std::map<int, std::function<void(const std::string&)>> watches_;
  alignas(8) char buf_[16384];
};

// Waits for a process to exit through its pidfd. Owns the pidfd.
//
// A wake-up of the wait is not trusted alone: Asio reuses a closed
// descriptor's bookkeeping, and readiness already queued for the closed one
// (from the same epoll_wait) then completes the new one's wait. For a socket
// that costs a read that finds nothing; for a pidfd it would be a live
// process reported dead. So the pidfd itself is polled before ON_EXIT runs,
// and the wait is re-armed when the process still lives.
class ProcessWatch final : public ExitWatch {
 public:
  ProcessWatch(net::io_context& io, int pidfd, std::function<void()> on_exit);
  ~ProcessWatch() override;
  int pidfd() const override { return pidfd_; }

 private:
  void Wait();

  int pidfd_;
  net::posix::stream_descriptor stream_;
  std::function<void()> on_exit_;
};

}  // namespace jenky
