#include "http/api_error.h"

#include <gtest/gtest.h>

namespace jenky {
namespace {

// The status a refused delivery is recorded with (server/intake.h) is the
// one its error is answered with: the two tables agree.
TEST(ApiErrorTest, AWebhookRefusalIsAnsweredWithTheStatusItIsRecordedWith) {
  for (int i = 0; i <= static_cast<int>(IntakeOutcome::kFailed); ++i) {
    auto outcome = static_cast<IntakeOutcome>(i);
    auto error = ErrorForIntake(outcome);
    if (ResultOf(outcome) == DeliveryResult::kRejected || outcome == IntakeOutcome::kPaused) {
      ASSERT_TRUE(error) << i;
      EXPECT_EQ(static_cast<int>(Describe(*error).status), AnswerStatus(outcome)) << i;
    } else {
      EXPECT_FALSE(error) << i;
      EXPECT_LT(AnswerStatus(outcome), 300) << i;
    }
  }
}

TEST(ApiErrorTest, EveryErrorHasAClientOrServerErrorStatusAndACode) {
  for (int i = 0; i <= static_cast<int>(ApiError::kUnavailable); ++i) {
    ApiErrorInfo info = Describe(static_cast<ApiError>(i));
    EXPECT_GE(static_cast<int>(info.status), 400) << i;
    EXPECT_NE(std::string(info.code), "") << i;
  }
}

}  // namespace
}  // namespace jenky
