#include "http/send_pool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace jenky {
namespace {

struct Pairs {
  std::vector<int> ours, theirs;
  explicit Pairs(int n) {
    for (int i = 0; i < n; ++i) {
      int sv[2];
      EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
      ours.push_back(sv[0]);
      theirs.push_back(sv[1]);
    }
  }
  ~Pairs() {
    for (int fd : ours) close(fd);
    for (int fd : theirs) {
      if (fd >= 0) close(fd);
    }
  }
};

std::string ReadAll(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, n);
  return out;
}

void EverySocketGetsTheFrame(int helpers) {
  SendPool pool(helpers);
  const std::string frame = "\x81\x05hello";
  Pairs p(SendPool::kMinParallel * 2 + 3);  // big enough to be split
  std::vector<SendPool::Job> jobs;
  for (int fd : p.ours) jobs.push_back({fd, frame.data(), frame.size()});
  for (int round = 0; round < 3; ++round) {
    for (auto& j : jobs) j.sent = 0;
    pool.SendAll(jobs);
    for (const auto& j : jobs) {
      EXPECT_EQ(j.sent, frame.size());
      EXPECT_EQ(j.error, 0);
    }
  }
  for (int fd : p.theirs) EXPECT_EQ(ReadAll(fd), frame + frame + frame);
}

TEST(SendPoolTest, EverySocketGetsTheWholeFrameOnTheCallerAlone) { EverySocketGetsTheFrame(0); }
TEST(SendPoolTest, EverySocketGetsTheWholeFrameOnHelpers) { EverySocketGetsTheFrame(2); }

TEST(SendPoolTest, AFullSocketTakesPartOfAFrameAndAClosedOneReportsAnError) {
  SendPool pool(1);
  Pairs p(SendPool::kMinParallel + 2);
  int small = 4096;
  setsockopt(p.ours[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  close(p.theirs[1]);
  p.theirs[1] = -1;
  std::string big(4 << 20, 'x');
  std::string frame = "frame";
  std::vector<SendPool::Job> jobs;
  jobs.push_back({p.ours[0], big.data(), big.size()});
  for (size_t i = 1; i < p.ours.size(); ++i)
    jobs.push_back({p.ours[i], frame.data(), frame.size()});
  pool.SendAll(jobs);
  EXPECT_GT(jobs[0].sent, 0u);
  EXPECT_LT(jobs[0].sent, big.size()) << "the socket was full: the rest waits";
  EXPECT_EQ(jobs[0].error, 0) << "a full socket is not an error";
  EXPECT_EQ(jobs[1].error, EPIPE);
  EXPECT_EQ(jobs[2].sent, frame.size());
}

}  // namespace
}  // namespace jenky
