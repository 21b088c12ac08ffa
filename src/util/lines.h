// Walking text line by line without copying it. Pure; any thread.
#pragma once

#include <string_view>

namespace jenky {

// Calls FN(line) for each line of TEXT, without its '\n'; a last line with
// no '\n' is one too, and an empty TEXT has none.
template <typename F>
void ForEachLine(std::string_view text, F&& fn) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    fn(text.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace jenky
