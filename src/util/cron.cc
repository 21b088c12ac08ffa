#include "util/cron.h"

#include <array>
#include <vector>

#include <fmt/format.h>

namespace jenky {
namespace {

struct Field {
  const char* name;
  int min;
  int max;
  const char* const* names;  // spelled values from `min`, or null
};

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",  "jul",
                                       "aug", "sep", "oct", "nov", "dec", nullptr};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", nullptr};
constexpr Field kFields[] = {{"minute", 0, 59, nullptr},
                             {"hour", 0, 23, nullptr},
                             {"day of month", 1, 31, nullptr},
                             {"month", 1, 12, kMonthNames},
                             {"day of week", 0, 7, kDayNames}};

std::optional<int> Value(std::string_view s, const Field& f) {
  if (f.names) {
    for (int i = 0; f.names[i]; ++i) {
      if (s.size() == 3 && std::tolower(s[0]) == f.names[i][0] &&
          std::tolower(s[1]) == f.names[i][1] && std::tolower(s[2]) == f.names[i][2]) {
        return f.min + i;
      }
    }
  }
  if (s.empty() || s.size() > 2 || s.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  int v = std::stoi(std::string(s));
  if (v < f.min || v > f.max) return std::nullopt;
  return v;
}

// One field ("*/15", "1-5", "mon,wed", "9-17/2") into BITS; "" or what is wrong.
std::string ParseField(std::string_view text, const Field& f, std::vector<bool>& bits) {
  bits.assign(f.max + 1, false);
  auto wrong = [&](std::string_view part) {
    return fmt::format("{} '{}' is not {}{}-{}, a range, a list or a step (*/n)", f.name, part,
                       f.names ? "a name or " : "", f.min, f.max);
  };
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view part =
        text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    std::string_view range = part;
    int step = 1;
    if (size_t slash = part.find('/'); slash != std::string_view::npos) {
      range = part.substr(0, slash);
      std::string_view s = part.substr(slash + 1);
      if (s.empty() || s.size() > 2 || s.find_first_not_of("0123456789") != s.npos) {
        return wrong(part);
      }
      step = std::stoi(std::string(s));
      if (step < 1) return wrong(part);
    }
    int lo = f.min;
    int hi = f.max;
    if (range != "*") {
      size_t dash = range.find('-');
      auto a = Value(range.substr(0, dash), f);
      if (!a) return wrong(part);
      lo = *a;
      hi = part.find('/') != std::string_view::npos && dash == std::string_view::npos ? f.max : lo;
      if (dash != std::string_view::npos) {
        auto b = Value(range.substr(dash + 1), f);
        if (!b || *b < lo) return wrong(part);
        hi = *b;
      }
    }
    for (int v = lo; v <= hi; v += step) bits[v] = true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return "";
}

// Days since 1970-01-01 to the civil date (Howard Hinnant's algorithm).
void CivilFromDays(int64_t z, int& y, int& m, int& d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(yoe + era * 400 + (m <= 2));
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

}  // namespace

Result<Cron> Cron::Parse(std::string_view expression) {
  std::string e(expression);
  static const std::array<std::pair<const char*, const char*>, 7> kMacros = {{
      {"@yearly", "0 0 1 1 *"},
      {"@annually", "0 0 1 1 *"},
      {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"},
      {"@daily", "0 0 * * *"},
      {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"},
  }};
  if (!e.empty() && e[0] == '@') {
    bool known = false;
    for (const auto& [name, value] : kMacros) {
      if (e == name) {
        e = value;
        known = true;
      }
    }
    if (!known) {
      return Status::Error(
          fmt::format("'{}' is not a cron macro; use @hourly, @daily, @weekly, "
                      "@monthly or @yearly, or five fields like \"0 3 * * 1-5\"",
                      expression));
    }
  }
  std::vector<std::string_view> fields;
  std::string_view rest = e;
  while (!rest.empty()) {
    size_t start = rest.find_first_not_of(" \t");
    if (start == rest.npos) break;
    rest.remove_prefix(start);
    size_t end = rest.find_first_of(" \t");
    fields.push_back(rest.substr(0, end));
    rest = end == rest.npos ? std::string_view() : rest.substr(end);
  }
  if (fields.size() != 5) {
    return Status::Error(
        fmt::format("'{}' has {} fields; a cron expression has five: minute hour "
                    "day-of-month month day-of-week, like \"0 3 * * 1-5\"",
                    expression, fields.size()));
  }
  Cron c;
  std::vector<bool> bits;
  for (int i = 0; i < 5; ++i) {
    if (std::string why = ParseField(fields[i], kFields[i], bits); !why.empty()) {
      return Status::Error(fmt::format("in '{}': {}", expression, why));
    }
    for (size_t v = 0; v < bits.size(); ++v) {
      if (!bits[v]) continue;
      switch (i) {
        case 0: c.minutes_.set(v); break;
        case 1: c.hours_.set(v); break;
        case 2: c.days_.set(v); break;
        case 3: c.months_.set(v); break;
        default: c.weekdays_.set(v % 7); break;  // 7 is Sunday too
      }
    }
  }
  c.any_day_ = fields[2] == "*" || fields[2].substr(0, 2) == "*/";
  c.any_weekday_ = fields[4] == "*" || fields[4].substr(0, 2) == "*/";
  return c;
}

bool Cron::DayMatches(int day, int weekday) const {
  if (any_day_ && any_weekday_) return true;
  if (any_day_) return weekdays_[weekday];
  if (any_weekday_) return days_[day];
  return days_[day] || weekdays_[weekday];
}

std::optional<int64_t> Cron::Next(int64_t after, const TimeZone& zone) const {
  // Walk the wall clock minute by minute, skipping months, days and hours
  // that cannot match.
  int64_t minute = FloorDiv(after + zone.OffsetAt(after), 60) + 1;
  const int64_t end = minute + 5LL * 366 * 24 * 60;
  while (minute < end) {
    int64_t day = FloorDiv(minute, 1440);
    int y = 0, m = 0, d = 0;
    CivilFromDays(day, y, m, d);
    int weekday = static_cast<int>(((day % 7) + 11) % 7);  // 1970-01-01 was a Thursday
    if (!months_[m] || !DayMatches(d, weekday)) {
      minute = (day + 1) * 1440;
      continue;
    }
    int hour = static_cast<int>((minute - day * 1440) / 60);
    if (!hours_[hour]) {
      minute = day * 1440 + (hour + 1) * 60;
      continue;
    }
    if (!minutes_[minute % 60]) {
      ++minute;
      continue;
    }
    int64_t utc = zone.LocalToUtc(minute * 60);
    if (utc > after) return utc;
    ++minute;
  }
  return std::nullopt;
}

std::optional<int64_t> Cron::Previous(int64_t at, const TimeZone& zone, int64_t lookback) const {
  std::optional<int64_t> last;
  for (auto t = Next(at - lookback - 1, zone); t && *t <= at; t = Next(*t, zone)) last = t;
  return last;
}

}  // namespace jenky
