#include "util/duration.h"

#include <gtest/gtest.h>

namespace jenky {
namespace {

TEST(DurationTest, ParsesUnitsAndSums) {
  EXPECT_EQ(ParseDuration("90s")->count(), 90'000);
  EXPECT_EQ(ParseDuration("15m")->count(), 900'000);
  EXPECT_EQ(ParseDuration("1h30m")->count(), 5'400'000);
  EXPECT_EQ(ParseDuration("250ms")->count(), 250);
  EXPECT_EQ(ParseDuration("2d")->count(), 172'800'000);
}

TEST(DurationTest, RefusesWhatIsNotADuration) {
  for (const char* bad :
       {"", "15", "m", "15 minutes", "1.5h", "-5s", "0s", "5x", "99999999999999999d"}) {
    auto d = ParseDuration(bad);
    EXPECT_FALSE(d.ok()) << bad;
  }
  EXPECT_NE(ParseDuration("15 minutes").status().message().find("like 90s, 15m or 1h30m"),
            std::string::npos);
}

TEST(DurationTest, FormatsShortest) {
  EXPECT_EQ(FormatDuration(Millis(5'400'000)), "1h30m");
  EXPECT_EQ(FormatDuration(Millis(1500)), "1s500ms");
  EXPECT_EQ(FormatDuration(Millis(0)), "0s");
}

TEST(SizeTest, ParsesUnits) {
  EXPECT_EQ(*ParseSize("1MiB"), 1 << 20);
  EXPECT_EQ(*ParseSize("512KiB"), 512 << 10);
  EXPECT_EQ(*ParseSize("10MB"), 10'000'000);
  EXPECT_EQ(*ParseSize("4096"), 4096);
  EXPECT_FALSE(ParseSize("1 MiB").ok());
  EXPECT_FALSE(ParseSize("0").ok());
  EXPECT_FALSE(ParseSize("lots").ok());
}

}  // namespace
}  // namespace jenky
