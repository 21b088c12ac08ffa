// "Did you mean": the known name nearest to a mistyped one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace jenky {

// The name in NAMES nearest to WORD by edit distance, ignoring case, when it
// is close enough to be a slip of the keyboard (at most a third of WORD's
// length, and 2 at least); "" when none is.
std::string NearestName(std::string_view word, const std::vector<std::string>& names);

}  // namespace jenky
