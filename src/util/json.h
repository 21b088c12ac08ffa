// JSON helpers for anything that may hold user input (paths, payload fields,
// log text, request bodies).
#pragma once

#include <string>
#include <string_view>

// The forward declarations only: a file that builds or reads JSON values
// includes <nlohmann/json.hpp> itself (a second of parsing per file that
// does not need it).
#include <nlohmann/json_fwd.hpp>

namespace jenky {

// Invalid UTF-8 becomes U+FFFD instead of an exception.
std::string DumpJson(const nlohmann::json& j);

// True if TEXT nests arrays and objects more than MAX_DEPTH levels deep
// (`[]` is one level, `{"a": [1]}` two). Brackets inside strings do not
// count; TEXT need not be valid JSON. Checked before parsing a client's JSON:
// parsing, walking and freeing a value cost time and memory in proportion to
// its nesting, and code that recurses over a value (dumping it, say) would
// use stack in proportion too.
bool JsonNestedDeeperThan(std::string_view text, int max_depth);

}  // namespace jenky
