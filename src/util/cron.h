// Cron expressions (crontab(5)'s five fields, names and @macros) and their
// fire times in a time zone, for `schedule = [...]` (docs/schedules in
// docs/webhooks.md). Pure; any thread.
//
// Day of month and day of week: when both are restricted (neither is `*`)
// a day matching either fires, as in every cron. Across daylight saving
// changes a schedule fires once per wall-clock time it names: a time the
// clocks skip fires at the jump (02:30 on a spring-forward night fires at
// 03:00), a time they repeat fires the first time only.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/status.h"
#include "util/timezone.h"

namespace jenky {

class Cron {
 public:
  // "0 3 * * 1-5", "*/15 9-17 * * mon-fri", "@daily". Errors say which field
  // is wrong and what it may hold.
  static Result<Cron> Parse(std::string_view expression);

  // The first fire strictly after AFTER (unix seconds) in ZONE; nullopt when
  // there is none in the next five years (February 30th).
  std::optional<int64_t> Next(int64_t after, const TimeZone& zone) const;
  // The last fire at or before AT, looking back at most LOOKBACK seconds.
  std::optional<int64_t> Previous(int64_t at, const TimeZone& zone, int64_t lookback) const;

 private:
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1-31
  std::bitset<13> months_;   // 1-12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool any_day_ = true;      // day of month is *
  bool any_weekday_ = true;  // day of week is *

  bool DayMatches(int day, int weekday) const;
};

}  // namespace jenky
