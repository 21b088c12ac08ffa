#include "core/run_action.h"

#include <gtest/gtest.h>

#include "core/run.h"

namespace jenky {
namespace {

TEST(RunAction, EachActionHasOneNameThatParsesBackToIt) {
  EXPECT_STREQ(RunActionName(RunAction::kDeploy), "deploy");
  EXPECT_STREQ(RunActionName(RunAction::kRollback), "rollback");
  for (RunAction a : {RunAction::kDeploy, RunAction::kRollback}) {
    EXPECT_EQ(ParseRunAction(RunActionName(a)), a);
  }
  EXPECT_EQ(ParseRunAction("Deploy"), std::nullopt);
  EXPECT_EQ(ParseRunAction(""), std::nullopt);
}

TEST(RunAction, ATriggerDeploysUnlessToldOtherwise) {
  EXPECT_EQ(ParseRunAction(Trigger{}.action), RunAction::kDeploy);
}

}  // namespace
}  // namespace jenky
