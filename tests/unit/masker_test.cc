#include "exec/masker.h"
#include "util/hash.h"

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
  EXPECT_EQ(MaskAll(whole, {"-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n-----END KEY-----\n"}),
            "***\n");
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

// What `curl -v -u deploy:SECRET` prints: base64 of the pair, the secret at
// an offset that is not a multiple of 3.
TEST(SecretMaskerTest, MasksTheSecretInsideHttpBasicCredentials) {
  for (const char* user : {"deploy", "ci", "x", "admin1"}) {
    std::string pair = std::string(user) + ":hunter2!pw";
    std::string line = "> Authorization: Basic " + Base64Encode(pair) + "\n";
    SecretMasker m({"hunter2!pw"});
    std::string out = MaskAll(m, {line});
    EXPECT_NE(out.find("***"), std::string::npos) << user << ": " << out;
    // What is left of the encoding can no longer be decoded to the secret.
    EXPECT_EQ(out.find(Base64Encode(pair)), std::string::npos) << out;
  }
  SecretMasker url_safe({"\xfb\xff\xbe-token-value"});
  std::string b64 = Base64Encode("\xfb\xff\xbe-token-value");
  std::string b64url = b64;
  for (char& c : b64url) c = c == '+' ? '-' : c == '/' ? '_' : c;
  ASSERT_NE(b64, b64url);
  EXPECT_EQ(MaskAll(url_safe, {"jwt=" + b64url + "\n"}).find(b64url.substr(0, 8)),
            std::string::npos);
}

TEST(SecretMaskerTest, MasksABase64EncodingWrappedAcrossLines) {
  std::string secret(100, 'k');
  secret += "-long-private-key-material";
  std::string encoded = Base64Encode(secret + "\n");  // echo "$SECRET" | base64
  for (size_t width : {76, 64}) {
    std::string wrapped;
    for (size_t at = 0; at < encoded.size(); at += width)
      wrapped += encoded.substr(at, width) + "\n";
    SecretMasker m({secret});
    std::string out = MaskAll(m, {wrapped});
    EXPECT_EQ(out.find(encoded.substr(0, width)), std::string::npos) << width << ": " << out;
    EXPECT_EQ(out.find(encoded.substr(width, width)), std::string::npos) << width << ": " << out;
  }
}

TEST(SecretMaskerTest, MasksLowerCasePercentEscapesAndFormSpaces) {
  SecretMasker m({"p@ss word/1"});
  EXPECT_EQ(MaskAll(m, {"a=p%40ss%20word%2F1 b=p%40ss%20word%2f1 c=p%40ss+word%2f1\n"}),
            "a=*** b=*** c=***\n");
}

TEST(SecretMaskerTest, MasksASecretSplitByColourCodesKeepingTheColours) {
  SecretMasker m({"hunter2!pw"});
  EXPECT_EQ(MaskAll(m, {"pw=\x1b[31mhunter\x1b[0m2!pw ok\n"}), "pw=\x1b[31m***\x1b[0m ok\n");
  // Split across reads too, also inside an escape sequence.
  std::string text = "a \x1b[1;32mhun\x1b[0mter2\x1b[1m!pw\x1b[0m b";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    SecretMasker split({"hunter2!pw"});
    EXPECT_EQ(MaskAll(split, {text.substr(0, cut), text.substr(cut)}),
              "a \x1b[1;32m***\x1b[0m\x1b[1m\x1b[0m b")
        << cut;
  }
  // Colour codes with no secret are left alone, and text after an escape
  // that is not a CSI sequence is matched as it is.
  SecretMasker plain({"hunter2!pw"});
  EXPECT_EQ(MaskAll(plain, {"\x1b[1mbold\x1b[0m \x1b(Bhunter2!pw\n"}),
            "\x1b[1mbold\x1b[0m \x1b(B***\n");
}

TEST(SecretMaskerTest, NoSecretsPassesBytesThrough) {
  SecretMasker m({});
  EXPECT_FALSE(m.active());
  EXPECT_EQ(m.Feed(std::string("a\0b", 3)), std::string("a\0b", 3));
}

}  // namespace
}  // namespace jenky
