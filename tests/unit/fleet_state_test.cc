// A fleet run's per-host state files (exec/fleet_state.h).
#include "exec/fleet_state.h"

#include <gtest/gtest.h>

#include "temp_dir.h"

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

}  // namespace
}  // namespace jenky
