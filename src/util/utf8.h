// UTF-8 for log streaming: logs are bytes, WebSocket text must be UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace jenky {

// Length of the longest prefix of DATA that does not end inside a multi-byte
// character that could still be completed by the bytes that follow. Only the
// last three bytes are examined; invalid bytes are never held back.
size_t CompleteUtf8Prefix(std::string_view data);

// Appends DATA to OUT as the contents of a JSON string: quotes, backslashes
// and control characters escaped, invalid UTF-8 replaced by U+FFFD (one per
// invalid byte, as SPEC.md asks).
void AppendJsonEscapedUtf8(std::string_view data, std::string& out);

// True when DATA is entirely valid UTF-8 (RFC 3629).
bool IsValidUtf8(std::string_view data);

// DATA with invalid UTF-8 replaced by U+FFFD, not escaped (raw text frames).
std::string SanitizeUtf8(std::string_view data);

}  // namespace jenky
