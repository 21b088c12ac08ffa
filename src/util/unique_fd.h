// An owning file descriptor: closed when its owner goes, moved never copied.
// -1 is "none". For descriptors whose lifetime follows an object's (a
// supervisor's stdin, a pidfd, a pipe end), so that no path forgets to close.
#pragma once

#include <unistd.h>

#include <utility>

namespace jenky {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  // Gives the descriptor up without closing it: the caller owns it now.
  int release() { return std::exchange(fd_, -1); }
  // Closes what it holds (if anything) and holds FD instead.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace jenky
