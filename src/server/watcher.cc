#include "server/watcher.h"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "util/logger.h"

namespace jenky {

FileWatcher::FileWatcher(net::io_context& io) : io_(io) {
  fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) {
    // Reported by the engine once the server is listening; it polls instead.
    error_ = std::strerror(errno);
    return;
  }
  stream_ = std::make_unique<net::posix::stream_descriptor>(io, fd_);
  rest_ = std::make_unique<net::steady_timer>(io);
  Read();
}

FileWatcher::~FileWatcher() {
  if (rest_) rest_->cancel();
  if (stream_) stream_->close();  // closes fd_
}

int FileWatcher::Watch(const std::string& dir, std::function<void(const std::string&)> on_change) {
  if (fd_ < 0) return -1;
  int wd = inotify_add_watch(fd_, dir.c_str(), IN_MODIFY | IN_MOVED_TO | IN_CLOSE_WRITE);
  if (wd < 0) {
    LogWarning("cannot watch {}: {}", dir, std::strerror(errno));
    return -1;
  }
  watches_[wd] = std::move(on_change);
  return wd;
}

void FileWatcher::Remove(int id) {
  if (id < 0) return;
  if (watches_.erase(id)) inotify_rm_watch(fd_, id);
}

void FileWatcher::Read() {
  stream_->async_wait(net::posix::stream_descriptor::wait_read,
                      [this](boost::system::error_code ec) {
                        if (!ec) Drain();  // (else closed)
                      });
}

void FileWatcher::Drain() {
  bool any = false;
  for (;;) {
    ssize_t n = read(fd_, buf_, sizeof buf_);
    if (n <= 0) break;
    any = true;
    for (char* p = buf_; p < buf_ + n;) {
      auto* ev = reinterpret_cast<struct inotify_event*>(p);
      p += sizeof(struct inotify_event) + ev->len;
      auto it = watches_.find(ev->wd);
      if (it == watches_.end()) continue;
      std::string name = ev->len ? std::string(ev->name) : std::string();
      // Copy: the callback may Remove its own watch.
      auto callback = it->second;
      callback(name);
    }
  }
  if (!any) {
    // Read to the end, so the next event is news to epoll (Asio waits for
    // an edge): wait for it.
    Read();
    return;
  }
  rest_->expires_after(kRest);
  rest_->async_wait([this](boost::system::error_code ec) {
    if (!ec) Drain();  // (cancelled: this watcher is gone)
  });
}

ProcessWatch::ProcessWatch(net::io_context& io, int pidfd, std::function<void()> on_exit)
    : pidfd_(pidfd), stream_(io, pidfd), on_exit_(std::move(on_exit)) {
  Wait();
}

void ProcessWatch::Wait() {
  stream_.async_wait(net::posix::stream_descriptor::wait_read,
                     [this](boost::system::error_code ec) {
                       if (ec) return;  // closed: this object may be gone
                       pollfd p{pidfd_, POLLIN, 0};
                       if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP))) {
                         Wait();  // readiness that was not this process's (see the header)
                         return;
                       }
                       on_exit_();
                     });
}

ProcessWatch::~ProcessWatch() {
  boost::system::error_code ec;
  stream_.close(ec);  // closes the pidfd; a pending wait completes with an error
}

std::unique_ptr<ExitWatch> FileWatcher::WatchExit(UniqueFd pidfd, std::function<void()> on_exit) {
  return std::make_unique<ProcessWatch>(io_, pidfd.release(), std::move(on_exit));
}

}  // namespace jenky
