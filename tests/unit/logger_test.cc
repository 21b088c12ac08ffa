#include "util/logger.h"

#include <gtest/gtest.h>

namespace jenky {
namespace {

using Lines = std::vector<std::string>;

TEST(RepeatFilterTest, RepeatsAreCountedAndTheCountWrittenBeforeTheNextLine) {
  RepeatFilter f;
  EXPECT_EQ(f.Take(LogLevel::kWarning, "accept: Too many open files", 0),
            Lines{"accept: Too many open files"});
  for (int i = 1; i <= 500; ++i) {
    EXPECT_EQ(f.Take(LogLevel::kWarning, "accept: Too many open files", i * 50), Lines{});
  }
  EXPECT_EQ(
      f.Take(LogLevel::kInfo, "run=1 project=p started", 25'100),
      (Lines{"(the previous message was repeated 500 more times)", "run=1 project=p started"}));
  EXPECT_EQ(f.Take(LogLevel::kInfo, "run=2 project=p started", 25'200),
            Lines{"run=2 project=p started"});
}

TEST(RepeatFilterTest, ARepeatIsWrittenAgainAfterTheWindow) {
  RepeatFilter f;
  EXPECT_EQ(f.Take(LogLevel::kError, "x", 0), Lines{"x"});
  EXPECT_EQ(f.Take(LogLevel::kError, "x", 1), Lines{});
  EXPECT_EQ(f.Take(LogLevel::kError, "x", RepeatFilter::kRepeatWindowMs),
            (Lines{"(the previous message was repeated 1 more time)", "x"}));
  // The same text at another level is another message.
  EXPECT_EQ(f.Take(LogLevel::kWarning, "x", RepeatFilter::kRepeatWindowMs + 1), Lines{"x"});
}

}  // namespace
}  // namespace jenky
