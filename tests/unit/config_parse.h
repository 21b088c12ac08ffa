// Helpers for the tests of config/: parse a config text with an empty
// environment, and every error as one string to search.
#pragma once

#include <optional>
#include <string>

#include "config/config.h"

namespace jenky {

inline ConfigLoad ParseWithoutEnv(const std::string& text) {
  return ParseConfig(text, "/etc/jenky/jenky.toml",
                     [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
}

// All error strings joined, for matching.
inline std::string AllErrors(const ConfigLoad& c) {
  std::string out;
  for (const auto& e : c.errors) out += e.ToString() + "\n";
  return out;
}

}  // namespace jenky
