// A fleet run's per-host state files (exec/fleet_state.h).
#include "exec/fleet_state.h"

#include <gtest/gtest.h>

#include "temp_dir.h"
#include "util/fs.h"

namespace jenky {
namespace {

TEST(FleetStateTest, StatesRoundTripInTheDriversOrder) {
  TempDir dir("fleet-state");
  ASSERT_TRUE(WriteHostOrder(dir.path(), {"web2", "web1"}).ok());
  HostState a;
  a.name = "web1";
  a.address = "10.0.0.11";
  a.status = HostStatus::kRolledBack;
  a.reason = "the rollout stopped";
  a.release = "42";
  a.started_at = 1;
  a.finished_at = 2;
  ASSERT_TRUE(WriteHostState(dir.path(), a).ok());
  auto states = ReadHostStates(dir.path());
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states[0].name, "web2");
  EXPECT_EQ(states[0].status, HostStatus::kPending) << "no file yet: pending";
  EXPECT_EQ(states[1].name, "web1");
  EXPECT_EQ(states[1].status, HostStatus::kRolledBack);
  EXPECT_EQ(states[1].reason, "the rollout stopped");
  EXPECT_EQ(states[1].finished_at, 2);
  EXPECT_TRUE(ReadHostStates(dir.path() + "/none").empty());
}

TEST(FleetStateTest, EveryStatusHasItsName) {
  for (int i = 0; i < 8; ++i) {
    auto s = static_cast<HostStatus>(i);
    EXPECT_EQ(ParseHostStatus(HostStatusName(s)), s);
  }
  EXPECT_STREQ(HostStatusName(HostStatus::kRolledBack), "rolled back");
  EXPECT_FALSE(ParseHostStatus("done"));
}

HostState Host(const std::string& name, HostStatus status, const std::string& reason = "") {
  HostState s;
  s.name = name;
  s.status = status;
  s.reason = reason;
  return s;
}

TEST(FleetStateTest, TheFailureReasonNamesEachFailedHostAndWhy) {
  std::vector<HostState> hosts = {
      Host("web1", HostStatus::kRolledBack, "the rollout stopped"),
      Host("web2", HostStatus::kFailed, "switch: health check still failing after 5s"),
      Host("web3", HostStatus::kFailed, "lost the connection to web3 (10.0.0.13)"),
      Host("web4", HostStatus::kSkipped, "the rollout stopped"),
      Host("web5", HostStatus::kHealthy),
  };
  EXPECT_EQ(FleetFailureReason(hosts, "the rollout stopped: 2 host(s) failed, max_failures is 0"),
            "2 of 5 hosts failed: web2: switch: health check still failing after 5s; web3: lost "
            "the connection to web3 (10.0.0.13); 1 rolled back, 1 skipped (the rollout stopped: "
            "2 host(s) failed, max_failures is 0)");
  EXPECT_EQ(FleetFailureReason({Host("web1", HostStatus::kFailed,
                                     "prepare: prepare exited with "
                                     "status 3")},
                               ""),
            "1 of 1 host failed: web1: prepare: prepare exited with status 3");
  // The build failed: no host failed, every one was skipped.
  EXPECT_EQ(FleetFailureReason({Host("a", HostStatus::kSkipped), Host("b", HostStatus::kSkipped)},
                               "the build exited with status 2"),
            "the build exited with status 2; 2 skipped");
  // A host that never finished (its driver died) counts as failed.
  EXPECT_EQ(FleetFailureReason({Host("a", HostStatus::kSwitching)}, ""),
            "1 of 1 host failed: a: switching");
  EXPECT_EQ(FleetFailureReason({Host("a", HostStatus::kHealthy)}, "x"), "");
}

TEST(FleetStateTest, TheReasonFileIsReadBackWithoutItsNewline) {
  TempDir dir("fleet-reason");
  EXPECT_EQ(ReadFleetReason(dir.path()), "") << "no file: not a fleet run";
  ASSERT_TRUE(WriteHostOrder(dir.path(), {"a"}).ok());
  ASSERT_TRUE(WriteFileAtomic(FleetReasonPath(dir.path()), "1 of 1 host failed: a: x\n").ok());
  EXPECT_EQ(ReadFleetReason(dir.path()), "1 of 1 host failed: a: x");
}

}  // namespace
}  // namespace jenky
