#include "util/systemd.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "service/unit.h"
#include "temp_dir.h"

namespace jenky {
namespace {

// A real NOTIFY_SOCKET: a datagram socket the test binds and reads.
class NotifySocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    close(fd_);
    unsetenv("NOTIFY_SOCKET");
  }
  void Bind(const std::string& path, bool abstract) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + (abstract ? 1 : 0), path.data(), path.size());
    socklen_t len = offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 1 : 0);
    ASSERT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    setenv("NOTIFY_SOCKET", ((abstract ? "@" : "") + path).c_str(), 1);
  }
  std::string Receive() {
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, n) : "";
  }
  TempDir dir_{"notify"};
  int fd_ = -1;
};

TEST_F(NotifySocketTest, SendsStatesToAPathSocket) {
  Bind(dir_ / "notify", false);
  EXPECT_TRUE(SdNotify("READY=1\nSTATUS=0 running deploy(s), 0 queued"));
  EXPECT_EQ(Receive(), "READY=1\nSTATUS=0 running deploy(s), 0 queued");
  EXPECT_TRUE(SdNotify("WATCHDOG=1"));
  EXPECT_EQ(Receive(), "WATCHDOG=1");
}

TEST_F(NotifySocketTest, SendsToAnAbstractSocket) {
  Bind("jenky-test-" + std::to_string(getpid()), true);
  EXPECT_TRUE(SdNotify("STOPPING=1"));
  EXPECT_EQ(Receive(), "STOPPING=1");
}

TEST(SdNotifyTest, IsANoOpOutsideSystemd) {
  unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(SdNotify("READY=1"));
}

TEST(SdNotifyTest, WatchdogIntervalIsHalfTheTimeoutForThisProcessOnly) {
  setenv("WATCHDOG_USEC", "30000000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  EXPECT_EQ(WatchdogInterval().count(), 15'000'000);
  setenv("WATCHDOG_PID", "1", 1);
  EXPECT_EQ(WatchdogInterval().count(), 0);
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
}

TEST(ListenFdsTest, TakesPassedSocketsOnlyForThisProcess) {
  setenv("LISTEN_PID", "1", 1);
  setenv("LISTEN_FDS", "1", 1);
  EXPECT_TRUE(TakeListenFds().empty());
  EXPECT_EQ(getenv("LISTEN_FDS"), nullptr);  // removed for children either way
}

TEST(UnitFileTest, ServiceAndSocketPassSystemdAnalyzeVerify) {
  if (system("command -v systemd-analyze >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "systemd-analyze not installed";
  }
  TempDir tmp("unit");
  const std::string& dir = tmp.path();
  ServiceOptions o;
  o.binary = JENKY_BINARY;
  o.user = "root";
  std::string service = JenkyServiceUnit(o);
  EXPECT_NE(service.find("Type=notify"), std::string::npos);
  EXPECT_NE(service.find("KillMode=process"), std::string::npos);
  // Runs get cgroups of their own in the unit's (exec/cgroup.h), which
  // ProtectControlGroups would make read-only.
  EXPECT_NE(service.find("\nDelegate=yes\n"), std::string::npos);
  EXPECT_EQ(service.find("\nProtectControlGroups="), std::string::npos);
  EXPECT_NE(service.find("WatchdogSec=30s"), std::string::npos);
  EXPECT_NE(service.find("Restart=always"), std::string::npos);
  EXPECT_NE(service.find("StateDirectory=jenky"), std::string::npos);
  std::ofstream(dir + "/jenky.service") << service;
  std::ofstream(dir + "/jenky.socket") << JenkySocketUnit(o);
  std::string cmd = "cd " + dir + " && SYSTEMD_LOG_LEVEL=err systemd-analyze verify --man=no " +
                    "jenky.service jenky.socket > verify.out 2>&1";
  int rc = system(cmd.c_str());
  std::ifstream out(dir + "/verify.out");
  std::string text((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  // Outside a booted systemd, verify may only complain about the manager;
  // anything about our units is a failure.
  bool about_us = text.find("jenky.s") != std::string::npos;
  EXPECT_TRUE(rc == 0 || !about_us) << text;
}

}  // namespace
}  // namespace jenky
