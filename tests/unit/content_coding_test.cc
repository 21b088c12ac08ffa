#include "util/content_coding.h"

#include <gtest/gtest.h>

namespace jenky {
namespace {

ContentCoding Choose(std::string_view accept, bool br = true, bool gzip = true) {
  return ChooseContentCoding(accept, br, gzip);
}

TEST(ContentCodingTest, WithoutTheHeaderTheFileGoesAsItIs) {
  EXPECT_EQ(Choose(""), ContentCoding::kIdentity);
  EXPECT_EQ(Choose("  ,  "), ContentCoding::kIdentity);
}

TEST(ContentCodingTest, BrotliIsPreferredWhenBothAreAccepted) {
  EXPECT_EQ(Choose("gzip, deflate, br, zstd"), ContentCoding::kBrotli);
  EXPECT_EQ(Choose("br;q=1.0, gzip;q=0.8, *;q=0.1"), ContentCoding::kBrotli);
  EXPECT_EQ(Choose("gzip, br", /*br=*/false), ContentCoding::kGzip);
}

TEST(ContentCodingTest, GzipAloneIsServedGzip) {
  EXPECT_EQ(Choose("gzip"), ContentCoding::kGzip);
  EXPECT_EQ(Choose("GZip"), ContentCoding::kGzip);
  EXPECT_EQ(Choose("x-gzip"), ContentCoding::kGzip);
  EXPECT_EQ(Choose("gzip", true, /*gzip=*/false), ContentCoding::kIdentity);
  EXPECT_EQ(Choose("deflate"), ContentCoding::kIdentity);
}

TEST(ContentCodingTest, TheHigherQValueWins) {
  EXPECT_EQ(Choose("br;q=0.5, gzip;q=0.9"), ContentCoding::kGzip);
  EXPECT_EQ(Choose("br;q=0.9, gzip;q=0.5"), ContentCoding::kBrotli);
  EXPECT_EQ(Choose("gzip;q=0.2, identity;q=0.5"), ContentCoding::kIdentity);
  EXPECT_EQ(Choose("gzip;q=0.5, identity;q=0.5"), ContentCoding::kGzip);  // a tie: compress
  EXPECT_EQ(Choose("br ; Q=0.001 , gzip;q=0"), ContentCoding::kBrotli);
}

TEST(ContentCodingTest, QZeroRefusesACoding) {
  EXPECT_EQ(Choose("br;q=0, gzip"), ContentCoding::kGzip);
  EXPECT_EQ(Choose("br;q=0, gzip;q=0.000"), ContentCoding::kIdentity);
  EXPECT_EQ(Choose("*;q=0, identity"), ContentCoding::kIdentity);
}

TEST(ContentCodingTest, TheWildcardStandsForCodingsNotNamed) {
  EXPECT_EQ(Choose("*"), ContentCoding::kBrotli);
  EXPECT_EQ(Choose("br;q=0, *"), ContentCoding::kGzip);
  EXPECT_EQ(Choose("*;q=0.5, gzip"), ContentCoding::kGzip);
}

TEST(ContentCodingTest, RefusingIdentityWithNoVariantLeftIsNotAcceptable) {
  EXPECT_EQ(Choose("identity;q=0"), ContentCoding::kNotAcceptable);
  EXPECT_EQ(Choose("*;q=0"), ContentCoding::kNotAcceptable);
  EXPECT_EQ(Choose("gzip, identity;q=0", /*br=*/true, /*gzip=*/false),
            ContentCoding::kNotAcceptable);
  EXPECT_EQ(Choose("gzip, identity;q=0"), ContentCoding::kGzip);
  EXPECT_EQ(Choose("*;q=0, br"), ContentCoding::kBrotli);
}

TEST(ContentCodingTest, ABrokenQValueIgnoresItsElement) {
  EXPECT_EQ(Choose("br;q=2, gzip"), ContentCoding::kGzip);
  EXPECT_EQ(Choose("br;q=abc"), ContentCoding::kIdentity);
  EXPECT_EQ(Choose("br;q=0.12345, gzip;q=1.5"), ContentCoding::kIdentity);
  EXPECT_EQ(Choose("br;q=, gzip;q=1.000"), ContentCoding::kGzip);
  EXPECT_EQ(Choose("identity;q=x"),
            ContentCoding::kIdentity);  // ignored: identity stays acceptable
}

TEST(ContentCodingTest, TokensAndSuffixes) {
  EXPECT_EQ(ContentCodingToken(ContentCoding::kBrotli), "br");
  EXPECT_EQ(ContentCodingToken(ContentCoding::kGzip), "gzip");
  EXPECT_EQ(ContentCodingToken(ContentCoding::kIdentity), "");
  EXPECT_EQ(ContentCodingSuffix(ContentCoding::kBrotli), ".br");
  EXPECT_EQ(ContentCodingSuffix(ContentCoding::kGzip), ".gz");
}

TEST(ContentCodingTest, OnlyContentHashedAssetsAreImmutable) {
  EXPECT_TRUE(IsHashedAssetName("assets/index-B3x_9aQz.js"));
  EXPECT_TRUE(IsHashedAssetName("assets/index-DkE4-1a_.css"));
  EXPECT_TRUE(IsHashedAssetName("assets/run-page-01234567.js"));
  EXPECT_FALSE(IsHashedAssetName("index.html"));
  EXPECT_FALSE(IsHashedAssetName("assets/logo.svg"));
  EXPECT_FALSE(IsHashedAssetName("assets/app-short.js"));
  EXPECT_FALSE(IsHashedAssetName("assets/sub/index-B3x_9aQz.js"));
  EXPECT_FALSE(IsHashedAssetName("favicon-B3x_9aQz.ico"));
  EXPECT_FALSE(IsHashedAssetName("assets/index-B3x_9a!z.js"));
  EXPECT_FALSE(IsHashedAssetName("assets/-B3x_9aQz.js"));
  EXPECT_FALSE(IsHashedAssetName("assets/index_B3x_9aQz.js"));
}

}  // namespace
}  // namespace jenky
