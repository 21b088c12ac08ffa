#include "exec/masker.h"

#include <gtest/gtest.h>

#include <random>

namespace jenky {
namespace {

std::string MaskAll(SecretMasker& m, const std::vector<std::string>& chunks) {
  std::string out;
  for (const auto& c : chunks) out += m.Feed(c);
  out += m.Finish();
  return out;
}

TEST(SecretMaskerTest, MasksValueBase64AndUrlEncodedForms) {
  SecretMasker m({"hunter2!pw"});
  // base64("hunter2!pw") = aHVudGVyMiFwdw==, URL-encoded: hunter2%21pw
  EXPECT_EQ(MaskAll(m, {"pw=hunter2!pw b64=aHVudGVyMiFwdw== url=hunter2%21pw\n"}),
            "pw=*** b64=*** url=***\n");
}

TEST(SecretMaskerTest, MasksASecretSplitAcrossWritesAtEveryPoint) {
  std::string text = "before hunter2!pw after hunter2!pw";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    SecretMasker m({"hunter2!pw"});
    EXPECT_EQ(MaskAll(m, {text.substr(0, cut), text.substr(cut)}), "before *** after ***") << cut;
  }
  SecretMasker bytewise({"hunter2!pw"});
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  EXPECT_EQ(MaskAll(bytewise, bytes), "before *** after ***");
}

TEST(SecretMaskerTest, HoldsBackOnlyWhatCouldStartASecret) {
  SecretMasker m({"hunter2!pw"});
  EXPECT_EQ(m.Feed("log line hun"), "log line ");
  EXPECT_EQ(m.Feed("gry\n"), "hungry\n");
  EXPECT_EQ(m.Feed("plain"), "plain");
  EXPECT_EQ(m.Feed(" hunter2"), " ");
  EXPECT_EQ(m.Finish(), "hunter2");  // never completed: not the secret
}

TEST(SecretMaskerTest, EachLineOfAMultiLineSecretIsMasked) {
  SecretMasker m({"-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n-----END KEY-----\n"});
  EXPECT_EQ(MaskAll(m, {"key: MIIEvQIBADANBgkq\n"}), "key: ***\n");
  SecretMasker whole({"-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n-----END KEY-----\n"});
  EXPECT_EQ(MaskAll(whole, {"-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n-----END KEY-----\n"}), "***\n");
}

TEST(SecretMaskerTest, ASecretContainingAnotherIsNotLeftHalfShownAcrossReads) {
  // The read ends after the short secret, inside the long one that contains
  // it: masking the short one there would write the long one's other bytes.
  SecretMasker m({"abcd", "zzzzabcd-topsecret"});
  EXPECT_EQ(MaskAll(m, {"x zzzzabcd", "-topsecret y"}), "x *** y");
}

TEST(SecretMaskerTest, ALongerSecretThatCanStillMatchWaitsForTheNextRead) {
  // "abcd" is a line of the secret and complete in the first read, but the
  // URL-encoded secret starts there too and ends in the second.
  SecretMasker m({"abcd\nefgh"});
  EXPECT_EQ(MaskAll(m, {"x abcd%0A", "efgh y"}), "x *** y");
  SecretMasker m2({"abcd\nefgh"});
  EXPECT_EQ(MaskAll(m2, {"x abcd%0A", "efgX y"}), "x ***%0AefgX y");
}

TEST(SecretMaskerTest, OverlappingSecretsPreferTheLongest) {
  SecretMasker m({"abcd", "abcdefgh"});
  EXPECT_EQ(MaskAll(m, {"x abcdefgh abcd y"}), "x *** *** y");
}

// The masking rule, written the obvious way: at each position from the left,
// the longest pattern that matches there becomes the mask.
std::string MaskSlowly(const std::vector<std::string>& patterns, const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    size_t best = 0;
    for (const std::string& p : patterns) {
      if (p.size() > best && text.compare(i, p.size(), p) == 0) best = p.size();
    }
    if (best > 0) {
      out += SecretMasker::kMask;
      i += best;
    } else {
      out += text[i++];
    }
  }
  return out;
}

TEST(SecretMaskerTest, MasksLikeTheObviousRuleOnRandomOutputInRandomReads) {
  // A small alphabet, so that patterns overlap, repeat and nearly match
  // everywhere; secrets of different lengths, so the scan's stride (the
  // shortest pattern's length - 1) is exercised from 3 up.
  std::mt19937 rng(20261201);
  const std::string alphabet = "ab\ny";
  auto random_text = [&](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
    return s;
  };
  for (int round = 0; round < 400; ++round) {
    std::vector<std::string> secrets;
    int count = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < count; ++k) secrets.push_back(random_text(4 + rng() % 9));
    SecretMasker m(secrets);
    std::string text = random_text(rng() % 2000);
    // Plant whole patterns too, or long ones would hardly ever occur.
    for (int k = 0; k < 5 && !text.empty(); ++k) {
      const std::string& p = m.patterns()[rng() % m.patterns().size()];
      text.insert(rng() % text.size(), p);
    }
    std::vector<std::string> reads;
    for (size_t at = 0; at < text.size();) {
      size_t n = std::min<size_t>(text.size() - at, rng() % 300);
      reads.push_back(text.substr(at, n));
      at += n;
    }
    ASSERT_EQ(MaskAll(m, reads), MaskSlowly(m.patterns(), text))
        << "round " << round << ", secrets " << ::testing::PrintToString(secrets);
  }
}

TEST(SecretMaskerTest, NoSecretsPassesBytesThrough) {
  SecretMasker m({});
  EXPECT_FALSE(m.active());
  EXPECT_EQ(m.Feed(std::string("a\0b", 3)), std::string("a\0b", 3));
}

}  // namespace
}  // namespace jenky
