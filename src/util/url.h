// Percent-decoding for URL paths, query strings and form bodies.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace jenky {

// False on a malformed %-escape. PLUS_IS_SPACE for query strings and forms.
bool UrlDecode(std::string_view in, std::string& out, bool plus_is_space);

// "a=1&b=x%20y" -> {a: 1, b: "x y"}; later duplicates are ignored.
std::map<std::string, std::string> ParseQuery(std::string_view query);

}  // namespace jenky
