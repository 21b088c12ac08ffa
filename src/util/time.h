// Wall-clock times are milliseconds since the Unix epoch (UTC) everywhere in
// jenky: in memory, in SQLite and in run directories. Only the edges format them.
#pragma once

#include <cstdint>
#include <string>

namespace jenky {

int64_t NowMillis();

// RFC 3339 in UTC with milliseconds: "2026-11-25T03:31:35.123Z".
std::string FormatRfc3339(int64_t unix_ms);

}  // namespace jenky
