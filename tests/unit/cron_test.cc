// Cron expressions and their fire times, with a made-up clock, across the
// daylight saving changes of Europe/Berlin (2026-03-29 02:00 -> 03:00 and
// 2026-10-25 03:00 -> 02:00) and America/New_York: nothing here waits.
#include "util/cron.h"

#include <gtest/gtest.h>

#include "util/time.h"

namespace jenky {
namespace {

// Unix seconds of a UTC time "YYYY-MM-DDTHH:MM:00Z".
int64_t Utc(int y, int mo, int d, int h, int mi) {
  struct tm tm = {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  return timegm(&tm);
}

std::string At(std::optional<int64_t> t) { return t ? FormatRfc3339(*t * 1000) : "never"; }

TimeZone Zone(const char* name) {
  auto z = TimeZone::Load(name);
  EXPECT_TRUE(z.ok()) << z.status().message();
  return z.ok() ? *z : TimeZone::Utc();
}

TEST(CronTest, WeekdaysAtThreeInUtc) {
  auto c = Cron::Parse("0 3 * * 1-5");
  ASSERT_TRUE(c.ok()) << c.status().message();
  // Friday 2026-12-04 10:00 -> Monday 03:00.
  EXPECT_EQ(At(c->Next(Utc(2026, 12, 4, 10, 0), TimeZone::Utc())), "2026-12-07T03:00:00.000Z");
  EXPECT_EQ(At(c->Next(Utc(2026, 12, 7, 3, 0), TimeZone::Utc())), "2026-12-08T03:00:00.000Z");
}

TEST(CronTest, NamesStepsListsAndMacros) {
  auto c = Cron::Parse("*/20 9-17/4 * jan,jul MON-fri");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(At(c->Next(Utc(2026, 12, 4, 10, 0), TimeZone::Utc())), "2027-01-01T09:00:00.000Z");
  EXPECT_EQ(At(c->Next(Utc(2027, 1, 1, 9, 0), TimeZone::Utc())), "2027-01-01T09:20:00.000Z");
  EXPECT_EQ(At(c->Next(Utc(2027, 1, 1, 9, 40), TimeZone::Utc())), "2027-01-01T13:00:00.000Z");
  auto daily = Cron::Parse("@daily");
  ASSERT_TRUE(daily.ok());
  EXPECT_EQ(At(daily->Next(Utc(2026, 12, 31, 23, 59), TimeZone::Utc())),
            "2027-01-01T00:00:00.000Z");
  // Day of month or day of week, when both are given: the 13th, and Fridays.
  auto either = Cron::Parse("0 0 13 * 5");
  ASSERT_TRUE(either.ok());
  EXPECT_EQ(At(either->Next(Utc(2026, 12, 5, 0, 0), TimeZone::Utc())), "2026-12-11T00:00:00.000Z");
  EXPECT_EQ(At(either->Next(Utc(2026, 12, 11, 0, 0), TimeZone::Utc())), "2026-12-13T00:00:00.000Z");
  EXPECT_EQ(At(Cron::Parse("0 0 30 2 *")->Next(Utc(2026, 1, 1, 0, 0), TimeZone::Utc())), "never");
}

TEST(CronTest, BadExpressionsSayWhichFieldAndWhatItMayHold) {
  EXPECT_EQ(Cron::Parse("0 3 * *").status().message(),
            "'0 3 * *' has 4 fields; a cron expression has five: minute hour day-of-month month "
            "day-of-week, like \"0 3 * * 1-5\"");
  EXPECT_EQ(Cron::Parse("0 24 * * *").status().message(),
            "in '0 24 * * *': hour '24' is not 0-23, a range, a list or a step (*/n)");
  EXPECT_EQ(Cron::Parse("0 3 * * mon-frx").status().message(),
            "in '0 3 * * mon-frx': day of week 'mon-frx' is not a name or 0-7, a range, a list or "
            "a step (*/n)");
  EXPECT_FALSE(Cron::Parse("@fortnightly").ok());
  EXPECT_FALSE(Cron::Parse("*/0 * * * *").ok());
}

TEST(CronTest, BerlinSpringForwardFiresASkippedTimeAtTheJump) {
  TimeZone berlin = Zone("Europe/Berlin");
  auto c = Cron::Parse("30 2 * * *");
  ASSERT_TRUE(c.ok());
  // 2026-03-28 02:30 CET = 01:30Z; on the 29th 02:30 does not exist: the
  // clocks jump from 02:00 CET (01:00Z) to 03:00 CEST.
  EXPECT_EQ(At(c->Next(Utc(2026, 3, 27, 12, 0), berlin)), "2026-03-28T01:30:00.000Z");
  EXPECT_EQ(At(c->Next(Utc(2026, 3, 28, 1, 30), berlin)), "2026-03-29T01:00:00.000Z");
  EXPECT_EQ(At(c->Next(Utc(2026, 3, 29, 1, 0), berlin)), "2026-03-30T00:30:00.000Z");
  // Every 15 minutes in the skipped hour: once, at the jump.
  auto quarter = Cron::Parse("*/15 2 * * *");
  EXPECT_EQ(At(quarter->Next(Utc(2026, 3, 29, 0, 50), berlin)), "2026-03-29T01:00:00.000Z");
  EXPECT_EQ(At(quarter->Next(Utc(2026, 3, 29, 1, 0), berlin)), "2026-03-30T00:00:00.000Z");
  // 03:00 local keeps its wall time: 02:00Z before, 01:00Z after.
  auto three = Cron::Parse("0 3 * * *");
  EXPECT_EQ(At(three->Next(Utc(2026, 3, 28, 0, 0), berlin)), "2026-03-28T02:00:00.000Z");
  EXPECT_EQ(At(three->Next(Utc(2026, 3, 28, 2, 0), berlin)), "2026-03-29T01:00:00.000Z");
}

TEST(CronTest, BerlinFallBackFiresARepeatedTimeOnce) {
  TimeZone berlin = Zone("Europe/Berlin");
  auto c = Cron::Parse("30 2 * * *");
  // 2026-10-25: 02:30 CEST (00:30Z), then again 02:30 CET (01:30Z): once.
  EXPECT_EQ(At(c->Next(Utc(2026, 10, 24, 12, 0), berlin)), "2026-10-25T00:30:00.000Z");
  EXPECT_EQ(At(c->Next(Utc(2026, 10, 25, 0, 30), berlin)), "2026-10-26T01:30:00.000Z");
  auto hourly = Cron::Parse("0 * * * *");
  EXPECT_EQ(At(hourly->Next(Utc(2026, 10, 25, 0, 0), berlin)), "2026-10-25T02:00:00.000Z");
}

TEST(CronTest, NewYorkSpringForward) {
  TimeZone ny = Zone("America/New_York");
  auto c = Cron::Parse("0 9 * * *");
  // 2026-03-08: EST (-5) -> EDT (-4). 09:00 local is 14:00Z then 13:00Z.
  EXPECT_EQ(At(c->Next(Utc(2026, 3, 7, 0, 0), ny)), "2026-03-07T14:00:00.000Z");
  EXPECT_EQ(At(c->Next(Utc(2026, 3, 7, 14, 0), ny)), "2026-03-08T13:00:00.000Z");
}

TEST(CronTest, UnknownTimeZonesAreNamed) {
  auto z = TimeZone::Load("Europe/Berln");
  ASSERT_FALSE(z.ok());
  EXPECT_NE(z.status().message().find("unknown time zone 'Europe/Berln'"), std::string::npos);
  EXPECT_FALSE(TimeZone::Load("../../etc/passwd").ok());
}

}  // namespace
}  // namespace jenky
