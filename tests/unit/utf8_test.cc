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
  EXPECT_EQ(CompleteUtf8Prefix("x\xC0"), 2u);             // overlong lead
  EXPECT_EQ(CompleteUtf8Prefix("x\xE0\x80"), 3u);         // overlong second byte
  EXPECT_EQ(CompleteUtf8Prefix("x\xED\xA0"), 3u);         // surrogate
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
  EXPECT_EQ(SanitizeUtf8("a\xFF"
                         "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeUtf8("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Utf8Test, AnInvalidByteAnywhereInALongAsciiRunIsReplaced) {
  // (ASCII runs are scanned sixteen bytes at a time.)
  for (size_t at = 0; at < 40; ++at) {
    std::string text(40, 'a');
    text[at] = '\xFF';
    std::string expected = std::string(at, 'a') + "\xEF\xBF\xBD" + std::string(39 - at, 'a');
    EXPECT_EQ(SanitizeUtf8(text), expected) << at;
  }
}

TEST(Utf8Test, JsonEscaping) {
  std::string out;
  AppendJsonEscapedUtf8("say \"hi\"\\\n\t\x01 ✔\xFF", out);
  EXPECT_EQ(out, "say \\\"hi\\\"\\\\\\n\\t\\u0001 ✔\xEF\xBF\xBD");
}

// The escaper scans sixteen (or eight) bytes at a time; it must agree with the plain
// byte-by-byte rules at every position and for every byte value.
TEST(Utf8Test, JsonEscapingAgreesWithTheByteByByteRulesAtEveryPosition) {
  auto reference = [](std::string_view d) {
    std::string out;
    for (size_t i = 0; i < d.size(); ++i) {
      std::string one;
      AppendJsonEscapedUtf8(d.substr(i, 1), one);  // one byte: no fast path
      unsigned char c = static_cast<unsigned char>(d[i]);
      if (c >= 0x80) {
        // A multi-byte character: let the whole of it through when valid.
        size_t n = 0;
        std::string rest;
        for (size_t k = 2; k <= 4 && i + k <= d.size() && n == 0; ++k) {
          std::string t;
          AppendJsonEscapedUtf8(d.substr(i, k), t);
          if (t == std::string(d.substr(i, k))) n = k;
        }
        if (n) {
          out.append(d.substr(i, n));
          i += n - 1;
          continue;
        }
      }
      out += one;
    }
    return out;
  };
  uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1103515245 + 12345, (seed >> 16) & 0xFF; };
  for (int round = 0; round < 300; ++round) {
    std::string d;
    size_t len = next() % 64;
    for (size_t i = 0; i < len; ++i) {
      // Mostly plain text, with every kind of special byte sprinkled in.
      unsigned r = next();
      d += static_cast<char>(r < 200 ? 'a' + r % 26 : next());
    }
    for (size_t start = 0; start < 8 && start <= d.size(); ++start) {
      std::string_view v = std::string_view(d).substr(start);
      std::string got;
      AppendJsonEscapedUtf8(v, got);
      ASSERT_EQ(got, reference(v)) << "round " << round << " start " << start;
    }
  }
  for (int c = 0; c < 256; ++c) {
    std::string d = "abcdefgh" + std::string(1, static_cast<char>(c)) + "ijklmnop";
    std::string got;
    AppendJsonEscapedUtf8(d, got);
    bool plain = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
    EXPECT_EQ(got == d, plain) << c;
  }
}

}  // namespace
}  // namespace jenky
