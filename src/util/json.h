// JSON output for anything that may hold user input (paths, payload fields,
// log text): invalid UTF-8 becomes U+FFFD instead of an exception.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace jenky {

inline std::string DumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace jenky
