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

// Prefix for run events: "run=42 project=taowai ".
std::string RunTag(int64_t run_id, std::string_view project);

}  // namespace jenky
