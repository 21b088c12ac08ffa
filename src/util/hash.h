// SHA-256 and constant-time comparison, from OpenSSL.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace jenky {

std::string Sha256Hex(std::string_view data);
// The raw 20-byte SHA-1 digest (only for the WebSocket handshake, RFC 6455).
std::string Sha1(std::string_view data);

// Lower-case hex, two digits a byte; and back (nullopt unless TEXT is that).
std::string HexEncode(std::string_view data);
std::optional<std::string> HexDecode(std::string_view text);

// Standard base64 with padding.
std::string Base64Encode(std::string_view data);

// Compares without an early exit, so timing tells nothing about where a guess
// went wrong. Different lengths compare unequal (length is not secret here:
// callers compare fixed-size digests).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// 32 random bytes from the OS, hex encoded. Used for session ids.
std::string RandomHex(size_t bytes);

bool IsLowerHex(std::string_view s);

}  // namespace jenky
