#include "exec/masker.h"

#include <gtest/gtest.h>

namespace jenky {
namespace {

std::string MaskAll(SecretMasker& m, const std::vector<std::string>& chunks) {
  std::string out;
  for (const auto& c : chunks) out += m.Feed(c);
  return out + m.Finish();
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

TEST(SecretMaskerTest, OverlappingSecretsPreferTheLongest) {
  SecretMasker m({"abcd", "abcdefgh"});
  EXPECT_EQ(MaskAll(m, {"x abcdefgh abcd y"}), "x *** *** y");
}

TEST(SecretMaskerTest, NoSecretsPassesBytesThrough) {
  SecretMasker m({});
  EXPECT_FALSE(m.active());
  EXPECT_EQ(m.Feed(std::string("a\0b", 3)), std::string("a\0b", 3));
}

}  // namespace
}  // namespace jenky
