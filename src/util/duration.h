// Durations as users write them in jenky.toml: "90s", "15m", "1h30m", "500ms".
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "util/status.h"

namespace jenky {

using Millis = std::chrono::milliseconds;

// Parses a sequence of <number><unit> with units ms, s, m, h, d. The whole
// string must be used; zero and negative durations are refused.
Result<Millis> ParseDuration(std::string_view text);

// The shortest exact spelling, e.g. 5400000ms -> "1h30m".
std::string FormatDuration(Millis d);

// Sizes: "1MiB", "512KiB", "10MB", "4096" (bytes).
Result<long long> ParseSize(std::string_view text);

// The shortest exact binary spelling, e.g. 1048576 -> "1MiB", 1000 -> "1000B".
std::string FormatSize(long long bytes);

}  // namespace jenky
