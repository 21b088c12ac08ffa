// IANA time zones read from the system's tz database (TZif files under
// /usr/share/zoneinfo, or $TZDIR), for schedules (util/cron.h). GCC 12's
// <chrono> has no time zones yet. Pure once loaded; any thread.
//
// Beyond the file's last transition (2037 in Debian's "fat" files) the last
// offset holds: the POSIX rule in a file's footer is not read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace jenky {

class TimeZone {
 public:
  // NAME like "Europe/Berlin" or "UTC"; "" is the server's local time
  // (/etc/localtime). Errors name the file that was missing or unreadable.
  static Result<TimeZone> Load(const std::string& name);
  static TimeZone Utc();

  // Seconds to add to a UTC time (unix seconds) to get the wall clock there.
  int64_t OffsetAt(int64_t utc) const;
  // The UTC instant at which the wall clock shows LOCAL (seconds since the
  // epoch as if the wall clock were UTC): when it shows it twice (clocks set
  // back) the first; when it never does (clocks set forward) the moment of
  // the jump, when the wall clock passes it.
  int64_t LocalToUtc(int64_t local) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  int32_t initial_offset_ = 0;
  std::vector<int64_t> transitions_;  // UTC, ascending
  std::vector<int32_t> offsets_;      // the offset from each transition on
};

}  // namespace jenky
