#include "util/duration.h"

#include <cctype>

#include <fmt/format.h>

namespace jenky {

namespace {

// Reads digits at text[i...]; returns false if there are none or they overflow.
bool ReadNumber(std::string_view text, size_t& i, long long& out) {
  size_t start = i;
  out = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (out > (1LL << 50)) return false;
    out = out * 10 + (text[i] - '0');
    ++i;
  }
  return i > start;
}

}  // namespace

Result<Millis> ParseDuration(std::string_view text) {
  auto bad = [&] {
    return Status::Error(fmt::format(
        "bad duration '{}': write a number with a unit (ms, s, m, h, d), like 90s, 15m or 1h30m",
        text));
  };
  if (text.empty()) return bad();
  long long total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    long long n;
    if (!ReadNumber(text, i, n)) return bad();
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    long long scale;
    if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1000;
    else if (unit == "m") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else if (unit == "d") scale = 86'400'000;
    else return bad();
    total_ms += n * scale;
    if (total_ms > (1LL << 50)) return bad();
  }
  if (total_ms <= 0) {
    return Status::Error(fmt::format("bad duration '{}': it must be longer than zero", text));
  }
  return Millis(total_ms);
}

std::string FormatDuration(Millis d) {
  long long ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  struct Unit {
    long long scale;
    const char* name;
  };
  for (Unit u : {Unit{86'400'000, "d"}, Unit{3'600'000, "h"}, Unit{60'000, "m"}, Unit{1000, "s"},
                 Unit{1, "ms"}}) {
    if (ms >= u.scale) {
      out += fmt::format("{}{}", ms / u.scale, u.name);
      ms %= u.scale;
    }
  }
  return out;
}

Result<long long> ParseSize(std::string_view text) {
  auto bad = [&] {
    return Status::Error(fmt::format(
        "bad size '{}': write a number of bytes with an optional unit, like 512KiB, 1MiB or 10MB",
        text));
  };
  size_t i = 0;
  long long n;
  if (!ReadNumber(text, i, n)) return bad();
  std::string_view unit = text.substr(i);
  long long scale;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "KiB") scale = 1LL << 10;
  else if (unit == "MiB") scale = 1LL << 20;
  else if (unit == "GiB") scale = 1LL << 30;
  else if (unit == "KB") scale = 1000;
  else if (unit == "MB") scale = 1000 * 1000;
  else if (unit == "GB") scale = 1000 * 1000 * 1000;
  else return bad();
  if (n > (1LL << 40) / scale) return bad();
  if (n <= 0) return Status::Error(fmt::format("bad size '{}': it must be more than zero", text));
  return n * scale;
}

std::string FormatSize(long long bytes) {
  for (auto [shift, unit] : {std::pair{30, "GiB"}, std::pair{20, "MiB"}, std::pair{10, "KiB"}}) {
    long long scale = 1LL << shift;
    if (bytes >= scale && bytes % scale == 0) return fmt::format("{}{}", bytes / scale, unit);
  }
  return fmt::format("{}B", bytes);
}

}  // namespace jenky
