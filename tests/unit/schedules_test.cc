// ScheduleBook with a made-up clock: what is due, each project once; the
// next fires the API shows; a fire missed while jenky was down.
#include "server/schedules.h"

#include <gtest/gtest.h>

#include "config_parse.h"
#include "server/poller.h"
#include "util/time.h"

namespace jenky {
namespace {

int64_t UtcMs(int y, int mo, int d, int h, int mi) {
  struct tm tm = {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  return timegm(&tm) * 1000LL;
}

Config Scheduled(bool catch_up) {
  auto c =
      ParseWithoutEnv(std::string("[projects.nightly]\nscript = \"x\"\n"
                                  "schedule = [\"0 3 * * 1-5\", \"30 3 * * 1-5\", \"0 3 * * *\"]\n"
                                  "timezone = \"Europe/Berlin\"\n") +
                      (catch_up ? "catch_up = true\n" : "") + "[projects.plain]\nscript = \"x\"\n");
  EXPECT_TRUE(c.ok()) << AllErrors(c);
  return c.config;
}

TEST(ScheduleBookTest, DueFiresEachProjectOnceAndAdvances) {
  ScheduleBook book;
  int64_t now = UtcMs(2026, 12, 3, 12, 0);  // Thursday
  book.Sync(Scheduled(false), now);
  EXPECT_EQ(book.NextDue(), UtcMs(2026, 12, 4, 2, 0));  // 03:00 CET
  EXPECT_TRUE(book.Due(UtcMs(2026, 12, 4, 1, 59)).empty());
  auto due = book.Due(UtcMs(2026, 12, 4, 2, 0));
  ASSERT_EQ(due.size(), 1u);  // two expressions fired: one run
  EXPECT_EQ(due[0].first, "nightly");
  EXPECT_EQ(book.NextDue(), UtcMs(2026, 12, 4, 2, 30));
  auto next = book.Next("nightly");
  ASSERT_EQ(next.size(), 3u);
  EXPECT_EQ(next[0].second, UtcMs(2026, 12, 7, 2, 0));  // weekdays: Monday
  EXPECT_EQ(next[2].second, UtcMs(2026, 12, 5, 2, 0));  // every day: Saturday
  EXPECT_TRUE(book.Next("plain").empty());
}

TEST(ScheduleBookTest, AFireMissedWhileDownRunsOnceOnlyWithCatchUp) {
  int64_t down_at = UtcMs(2026, 12, 3, 12, 0);
  int64_t up_at = UtcMs(2026, 12, 6, 12, 0);  // three nights missed
  std::map<std::string, int64_t> seen = {{"nightly", down_at}};
  ScheduleBook without;
  without.Sync(Scheduled(false), up_at);
  EXPECT_TRUE(without.Missed(seen, up_at).empty());
  ScheduleBook with;
  with.Sync(Scheduled(true), up_at);
  auto missed = with.Missed(seen, up_at);
  ASSERT_EQ(missed.size(), 1u);
  EXPECT_EQ(missed[0].first, "nightly");
  // Nothing missed: down and up before the next fire; never seen: nothing.
  EXPECT_TRUE(with.Missed({{"nightly", UtcMs(2026, 12, 6, 11, 0)}}, up_at).empty());
  EXPECT_TRUE(with.Missed({}, up_at).empty());
}

TEST(ScheduleConfigTest, BadSchedulesAreConfigErrorsAtTheirPlace) {
  auto c = ParseWithoutEnv(
      "[projects.a]\nscript = \"x\"\nschedule = [\"0 3 * * *\",\n \"0 25 * * *\"]\n"
      "timezone = \"Mars/Olympus\"\n[projects.b]\nscript = \"x\"\ncatch_up = true\n");
  std::string errors = AllErrors(c);
  EXPECT_NE(errors.find(":4:2: projects.a.schedule: in '0 25 * * *': hour '25' is not 0-23"),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("projects.a.timezone: unknown time zone 'Mars/Olympus'"), std::string::npos)
      << errors;
  EXPECT_NE(errors.find("projects.b.catch_up applies to a schedule, and there is none"),
            std::string::npos)
      << errors;
}

TEST(PollTest, LsRemoteOutputBackoffAndDisplay) {
  RemoteHeads h = ParseLsRemote(
      "ref: refs/heads/main\tHEAD\n"
      "4c1e6a0d3f2b5e7a9c8d1f0e2b3a4c5d6e7f8091\tHEAD\n"
      "4c1e6a0d3f2b5e7a9c8d1f0e2b3a4c5d6e7f8091\trefs/heads/main\n"
      "aa11bb22cc33dd44ee55ff6677889900aabbccdd\trefs/tags/v1\n");
  EXPECT_EQ(h.head, "refs/heads/main");
  EXPECT_EQ(h.refs.at("refs/heads/main"), "4c1e6a0d3f2b5e7a9c8d1f0e2b3a4c5d6e7f8091");
  EXPECT_EQ(h.refs.size(), 2u);
  Millis minute = std::chrono::minutes(1);
  EXPECT_EQ(NextPollDelay(minute, 0), minute);
  EXPECT_EQ(NextPollDelay(minute, 1), 2 * minute);
  EXPECT_EQ(NextPollDelay(minute, 3), 8 * minute);
  EXPECT_EQ(NextPollDelay(minute, 30), 10 * minute);
  EXPECT_EQ(NextPollDelay(std::chrono::minutes(30), 5), std::chrono::hours(1));
  EXPECT_EQ(RepoForDisplay("https://bot:ghp_s3cret@github.com/acme/shop.git"),
            "https://github.com/acme/shop.git");
  EXPECT_EQ(RepoForDisplay("git@github.com:acme/shop.git"), "git@github.com:acme/shop.git");
}

TEST(PollConfigTest, PollNeedsARepoAndASaneInterval) {
  auto c = ParseWithoutEnv(
      "[projects.a]\nscript = \"x\"\n[projects.a.poll]\nbranches = [\"main\"]\n"
      "interval = \"100ms\"\nbranch = \"x\"\n");
  std::string errors = AllErrors(c);
  EXPECT_NE(errors.find("projects.a.poll needs repo = \"...\""), std::string::npos) << errors;
  EXPECT_NE(errors.find("projects.a.poll.interval must be at least 1s"), std::string::npos)
      << errors;
  EXPECT_NE(errors.find("unknown key 'branch' in [projects.a.poll]"), std::string::npos) << errors;
  auto ok = ParseWithoutEnv(
      "[projects.a]\nscript = \"x\"\n[projects.a.poll]\nrepo = \"git@example.com:a/b.git\"\n");
  ASSERT_TRUE(ok.ok()) << AllErrors(ok);
  EXPECT_EQ(ok.config.projects[0].poll->interval, std::chrono::minutes(1));
}

}  // namespace
}  // namespace jenky
