// The loader's typed reads: each problem an error at its own position.
#include "config/loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace jenky {
namespace {

class LoaderTest : public ::testing::Test {
 protected:
  const toml::table& Table(std::string_view text) {
    table_ = toml::parse(text);
    return table_;
  }

  EnvLookup env_ = [](const std::string& name) -> std::optional<std::string> {
    if (name == "HOME") return "/home/u";
    return std::nullopt;
  };
  std::vector<ConfigError> errors_;
  Loader loader_{"/etc/jenky/jenky.toml", env_, errors_};
  toml::table table_;
};

TEST_F(LoaderTest, ValuesOfTheRightTypeAreRead) {
  const auto& t = Table("s = \"x\"\nb = true\nl = [\"a\", \"b\"]\nd = \"2m\"\nz = \"1KiB\"\n");
  EXPECT_EQ(loader_.String(t, "s", "w"), "x");
  EXPECT_EQ(loader_.Bool(t, "b", "w"), true);
  EXPECT_EQ(loader_.Strings(t, "l", "w"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(loader_.Duration(t, "d", "w"), Millis(std::chrono::minutes(2)));
  EXPECT_EQ(loader_.Size(t, "z", "w"), 1024);
  EXPECT_EQ(loader_.String(t, "absent", "w"), std::nullopt);
  EXPECT_EQ(loader_.Env("HOME"), "/home/u");
  EXPECT_TRUE(errors_.empty());
}

TEST_F(LoaderTest, AValueOfAnotherTypeIsAnErrorAtItsPositionSayingWhatToWrite) {
  const auto& t = Table("s = 1\nb = \"yes\"\nl = [\"a\", 2]\nd = \"soon\"\n");
  EXPECT_EQ(loader_.String(t, "s", "server"), std::nullopt);
  EXPECT_EQ(loader_.Bool(t, "b", "server"), std::nullopt);
  EXPECT_EQ(loader_.Strings(t, "l", "server"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(loader_.Duration(t, "d", "server"), std::nullopt);
  ASSERT_EQ(errors_.size(), 4u);
  EXPECT_EQ(errors_[0].ToString(), "/etc/jenky/jenky.toml:1:5: server.s must be a string");
  EXPECT_EQ(errors_[1].line, 2);
  EXPECT_NE(errors_[1].message.find("must be true or false (without quotes)"), std::string::npos);
  EXPECT_EQ(errors_[2].line, 3);
  EXPECT_EQ(errors_[2].column, 11);
  EXPECT_NE(errors_[2].message.find("server.l must contain only strings"), std::string::npos);
  EXPECT_EQ(errors_[3].line, 4);
  EXPECT_NE(errors_[3].message.find("server.d: "), std::string::npos);
}

TEST_F(LoaderTest, UnknownKeysAreEachReportedWithTheKnownOnes) {
  const auto& t = Table("listen = \"x\"\nlisten_port = 1\nnope = 2\n");
  loader_.CheckKeys(t, "[server]", {"listen", "data_dir"});
  ASSERT_EQ(errors_.size(), 2u);
  EXPECT_EQ(loader_.ErrorCount(), 2u);
  std::vector<std::string> got = {errors_[0].ToString(), errors_[1].ToString()};
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got[0],
            "/etc/jenky/jenky.toml:2:1: unknown key 'listen_port' in [server]; known keys "
            "are: listen, data_dir");
  EXPECT_EQ(got[1],
            "/etc/jenky/jenky.toml:3:1: unknown key 'nope' in [server]; known keys are: "
            "listen, data_dir");
}

TEST(LoaderPaths, RelativePathsResolveAgainstTheConfigsDirectory) {
  EXPECT_EQ(Absolute("/etc/jenky", "data"), "/etc/jenky/data");
  EXPECT_EQ(Absolute("/etc/jenky", "../src/./x"), "/etc/src/x");
  EXPECT_EQ(Absolute("/etc/jenky", "/abs//p"), "/abs/p");
  EXPECT_EQ(Absolute("/etc/jenky", ""), "");
}

TEST(LoaderPaths, EnvironmentNamesAreIdentifiers) {
  EXPECT_TRUE(IsEnvName("GITHUB_TOKEN"));
  EXPECT_TRUE(IsEnvName("_x9"));
  EXPECT_FALSE(IsEnvName(""));
  EXPECT_FALSE(IsEnvName("9X"));
  EXPECT_FALSE(IsEnvName("A-B"));
}

}  // namespace
}  // namespace jenky
