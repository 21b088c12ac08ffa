#include "core/delivery_result.h"

#include <gtest/gtest.h>

#include <string>

namespace jenky {
namespace {

TEST(DeliveryResult, EachResultHasOneNameThatParsesBackToIt) {
  const std::pair<DeliveryResult, std::string> names[] = {
      {DeliveryResult::kDeployed, "deployed"}, {DeliveryResult::kDuplicate, "duplicate"},
      {DeliveryResult::kRejected, "rejected"}, {DeliveryResult::kIgnored, "ignored"},
      {DeliveryResult::kPing, "ping"},         {DeliveryResult::kPaused, "paused"}};
  for (const auto& [result, name] : names) {
    EXPECT_EQ(DeliveryResultName(result), name);
    EXPECT_EQ(ParseDeliveryResult(name), result) << name;
  }
  EXPECT_EQ(ParseDeliveryResult("accepted"), std::nullopt);
}

}  // namespace
}  // namespace jenky
