// The server's own event log: one line per event on stderr, for journald.
//
// Under systemd (JOURNAL_STREAM names our stderr) each line starts with the
// sd-daemon priority prefix ("<6>"), so `journalctl -p err` works. In a
// terminal, info lines are bare and others say "warning:"/"error:". Events
// about a run carry "run=ID project=NAME" so one grep finds a run's story.
// Thread-safe: each line is one write(2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace jenky {

enum class LogLevel { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

void LogLine(LogLevel level, std::string_view line);

template <typename... Args>
void LogInfo(fmt::format_string<Args...> f, Args&&... args) {
  LogLine(LogLevel::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void LogWarning(fmt::format_string<Args...> f, Args&&... args) {
  LogLine(LogLevel::kWarning, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void LogError(fmt::format_string<Args...> f, Args&&... args) {
  LogLine(LogLevel::kError, fmt::format(f, std::forward<Args>(args)...));
}

// Repeats of one line (an `accept` failing while descriptors are out, a
// scanner's identical requests) are not written one by one: a line equal to
// the last one written is held back and counted, and the count is written
// ("the previous message was repeated N times") before the next different
// line, or with the same line once kRepeatWindowMs has passed.
class RepeatFilter {
 public:
  static constexpr int64_t kRepeatWindowMs = 30'000;
  // The lines to write for LINE at NOW_MS (none while it is a repeat).
  std::vector<std::string> Take(LogLevel level, std::string_view line, int64_t now_ms);

 private:
  std::string last_;
  LogLevel last_level_ = LogLevel::kInfo;
  int64_t last_written_ms_ = 0;
  int64_t repeats_ = 0;
};

// Prefix for run events: "run=42 project=taowai ".
std::string RunTag(int64_t run_id, std::string_view project);

}  // namespace jenky
