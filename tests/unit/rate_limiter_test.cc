#include "util/rate_limiter.h"

#include <gtest/gtest.h>

namespace jenky {
namespace {

TEST(RateLimiterTest, BurstThenOneEveryInterval) {
  RateLimiter limiter(10);  // 10 a minute: one more every 6 s
  int64_t t = 1'000'000;
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(limiter.RetryAfterMs("1.2.3.4", t), 0) << i;
    limiter.RecordFailure("1.2.3.4", t);
  }
  int64_t wait = limiter.RetryAfterMs("1.2.3.4", t);
  EXPECT_GT(wait, 5000);
  EXPECT_LE(wait, 6001);
  EXPECT_EQ(limiter.RetryAfterMs("5.6.7.8", t), 0);  // others are not affected
  EXPECT_EQ(limiter.RetryAfterMs("1.2.3.4", t + 6001), 0);
  limiter.RecordFailure("1.2.3.4", t + 6001);
  EXPECT_GT(limiter.RetryAfterMs("1.2.3.4", t + 6001), 0);
}

TEST(RateLimiterTest, ZeroTurnsItOff) {
  RateLimiter limiter(0);
  for (int i = 0; i < 100; ++i) limiter.RecordFailure("a", 0);
  EXPECT_EQ(limiter.RetryAfterMs("a", 0), 0);
}

TEST(RateLimiterTest, MemoryIsBounded) {
  RateLimiter limiter(10);
  for (size_t i = 0; i < RateLimiter::kMaxKeys * 3; ++i) {
    limiter.RecordFailure("k" + std::to_string(i), 0);
  }
  // Still answers, and the newest offender is still tracked.
  limiter.RecordFailure("last", 0);
  for (int i = 0; i < 10; ++i) limiter.RecordFailure("last", 0);
  EXPECT_GT(limiter.RetryAfterMs("last", 0), 0);
}

TEST(LogThrottleTest, LetsABurstThroughThenCountsWhatItHoldsBack) {
  LogThrottle t(3);
  int64_t held = -1;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(t.Allow("a", 0, &held));
    EXPECT_EQ(held, 0);
  }
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(t.Allow("a", 10, &held));
  EXPECT_TRUE(t.Allow("b", 10, &held)) << "other keys are not held back";
  // A minute refills three lines; the first says what was held back.
  ASSERT_TRUE(t.Allow("a", 60'000, &held));
  EXPECT_EQ(held, 1000);
  ASSERT_TRUE(t.Allow("a", 60'000, &held));
  EXPECT_EQ(held, 0);
}

}  // namespace
}  // namespace jenky
