#include "util/utf8.h"

#include <gtest/gtest.h>

namespace jenky {
namespace {

TEST(Utf8Test, HoldsBackOnlyACharacterThatIsCutOff) {
  std::string euro = "\xE2\x82\xAC";  // €
  EXPECT_EQ(CompleteUtf8Prefix("abc"), 3u);
  EXPECT_EQ(CompleteUtf8Prefix("a" + euro), 4u);
  EXPECT_EQ(CompleteUtf8Prefix("a" + euro.substr(0, 1)), 1u);
  EXPECT_EQ(CompleteUtf8Prefix("a" + euro.substr(0, 2)), 1u);
  std::string emoji = "\xF0\x9F\x98\x80";  // 😀
  EXPECT_EQ(CompleteUtf8Prefix("x" + emoji.substr(0, 3)), 1u);
  EXPECT_EQ(CompleteUtf8Prefix("x" + emoji), 5u);
  // Invalid bytes are not worth waiting for.
  EXPECT_EQ(CompleteUtf8Prefix("x\xFF"), 2u);
  EXPECT_EQ(CompleteUtf8Prefix("x\xC0"), 2u);          // overlong lead
  EXPECT_EQ(CompleteUtf8Prefix("x\xE0\x80"), 3u);      // overlong second byte
  EXPECT_EQ(CompleteUtf8Prefix("x\xED\xA0"), 3u);      // surrogate
  EXPECT_EQ(CompleteUtf8Prefix("\x80\x80\x80\x80"), 4u);  // stray continuations
  EXPECT_EQ(CompleteUtf8Prefix(""), 0u);
}

TEST(Utf8Test, EveryCutOfAValidTextReassemblesExactly) {
  std::string text = "ok ✔ 日本語 😀 done\n\x1b[32mgreen\x1b[0m";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    size_t keep = CompleteUtf8Prefix(std::string_view(text).substr(0, cut));
    std::string first = SanitizeUtf8(std::string_view(text).substr(0, keep));
    std::string rest = SanitizeUtf8(std::string_view(text).substr(keep));
    EXPECT_EQ(first + rest, text) << cut;
  }
}

TEST(Utf8Test, InvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(SanitizeUtf8("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(SanitizeUtf8("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Utf8Test, JsonEscaping) {
  std::string out;
  AppendJsonEscapedUtf8("say \"hi\"\\\n\t\x01 ✔\xFF", out);
  EXPECT_EQ(out, "say \\\"hi\\\"\\\\\\n\\t\\u0001 ✔\xEF\xBF\xBD");
}

}  // namespace
}  // namespace jenky
