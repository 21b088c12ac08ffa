#include "server/watcher.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>

#include "exec/process.h"

namespace jenky {
namespace {

// A child that lives until it is killed.
struct LiveChild {
  pid_t pid = fork();
  LiveChild() {
    if (pid == 0) {
      for (;;) pause();
    }
  }
  ~LiveChild() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

void RunUntil(net::io_context& io, const bool& done, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!done && std::chrono::steady_clock::now() < end) {
    io.run_for(std::chrono::milliseconds(10));
    io.restart();
  }
}

TEST(ProcessWatch, FiresWhenTheProcessExits) {
  net::io_context io;
  LiveChild child;
  ASSERT_GT(child.pid, 0);
  bool exited = false;
  ProcessWatch watch(io, PidfdOpen(child.pid), [&] { exited = true; });
  RunUntil(io, exited, std::chrono::milliseconds(100));
  EXPECT_FALSE(exited);
  kill(child.pid, SIGKILL);
  RunUntil(io, exited, std::chrono::seconds(5));
  EXPECT_TRUE(exited);
}

// Asio keeps a closed descriptor's bookkeeping for reuse. When a descriptor
// is closed while its readiness from the same epoll_wait is still queued, and
// a new descriptor is registered right then, that queued readiness reaches the
// new one: a plain wait on a pidfd then "completes" for a live process (seen
// as runs declared interrupted while their supervisor lived). The watch must
// look at the process itself before it says the process exited.
TEST(ProcessWatch, IgnoresReadinessLeftByAClosedDescriptor) {
  net::io_context io;
  LiveChild child;
  ASSERT_GT(child.pid, 0);
  int a[2], b[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0);
  net::posix::stream_descriptor first(io, a[0]);
  auto second = std::make_unique<net::posix::stream_descriptor>(io, b[0]);
  bool exited = false;
  bool swapped = false;
  std::unique_ptr<ProcessWatch> watch;
  first.async_wait(net::posix::stream_descriptor::wait_read, [&](boost::system::error_code) {
    second->close();  // its readiness is already queued behind this handler
    watch = std::make_unique<ProcessWatch>(io, PidfdOpen(child.pid), [&] { exited = true; });
    swapped = true;
  });
  second->async_wait(net::posix::stream_descriptor::wait_read, [](boost::system::error_code) {});
  ASSERT_EQ(write(a[1], "x", 1), 1);  // ready first, so its handler runs first
  ASSERT_EQ(write(b[1], "x", 1), 1);
  RunUntil(io, swapped, std::chrono::seconds(5));
  ASSERT_TRUE(swapped);
  RunUntil(io, exited, std::chrono::milliseconds(200));
  EXPECT_FALSE(exited) << "a live process was reported as exited";
  kill(child.pid, SIGKILL);
  RunUntil(io, exited, std::chrono::seconds(5));
  EXPECT_TRUE(exited) << "the real exit was missed";
  close(a[1]);
  close(b[1]);
}

}  // namespace
}  // namespace jenky
