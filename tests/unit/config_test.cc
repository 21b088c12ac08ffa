#include "config/config.h"

#include <gtest/gtest.h>

#include <map>

namespace jenky {
namespace {

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

ConfigLoad Parse(const std::string& text, std::map<std::string, std::string> env = {}) {
  return ParseConfig(text, "/etc/jenky/jenky.toml", FakeEnv(std::move(env)));
}

// All error strings joined, for matching.
std::string Errors(const ConfigLoad& c) {
  std::string out;
  for (const auto& e : c.errors) out += e.ToString() + "\n";
  return out;
}

TEST(ConfigTest, LoadsTheSpecExample) {
  auto c = Parse(R"(
[server]
listen = "127.0.0.1:8080"
data_dir = "/var/lib/jenky"
public_url = "https://deploy.example.com/"
allowed_origins = ["https://deploy.example.com"]

[[tokens]]
name = "laptop"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
scopes = ["read", "deploy"]

[projects.taowai]
description = "the taowai web app"
workdir = "/home/lewin/code/taowai"
script = """
git pull --ff-only
make build
"""
shell = "/bin/bash"
timeout = "15m"
concurrency = "queue"
env = { GOFLAGS = "-mod=mod" }
secrets = ["DB_PASSWORD"]
keep_runs = 200

[projects.taowai.webhook]
provider = "github"
secret_env = "TAOWAI_HOOK_SECRET"
branches = ["main"]
)",
                 {{"DB_PASSWORD", "hunter22"}, {"TAOWAI_HOOK_SECRET", "s3cret-hook"}});
  ASSERT_TRUE(c.ok()) << Errors(c);
  EXPECT_EQ(c.config.server.port, 8080);
  EXPECT_EQ(c.config.server.public_url, "https://deploy.example.com");
  ASSERT_EQ(c.config.tokens.size(), 1u);
  EXPECT_EQ(c.config.tokens[0].scopes, unsigned{kScopeRead | kScopeDeploy});
  const ProjectConfig* p = c.config.FindProject("taowai");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->timeout, std::chrono::minutes(15));
  EXPECT_EQ(p->concurrency, Concurrency::kQueue);
  EXPECT_EQ(p->secrets.at(0).second, "hunter22");
  EXPECT_EQ(p->env.at(0).first, "GOFLAGS");
  EXPECT_EQ(p->webhook->secret, "s3cret-hook");
  EXPECT_EQ(p->webhook->branches, std::vector<std::string>{"main"});
}

TEST(ConfigTest, UnknownKeyIsReportedAtItsPosition) {
  auto c = Parse("[projects.a]\nscript = \"true\"\ntimout = \"5m\"\n");
  ASSERT_EQ(c.errors.size(), 1u) << Errors(c);
  EXPECT_EQ(c.errors[0].line, 3);
  EXPECT_EQ(c.errors[0].column, 1);
  EXPECT_NE(c.errors[0].message.find("unknown key 'timout'"), std::string::npos);
  EXPECT_NE(c.errors[0].message.find("timeout"), std::string::npos);  // lists the known keys
  EXPECT_EQ(c.errors[0].ToString().rfind("/etc/jenky/jenky.toml:3:1: ", 0), 0u);
}

// Found by tests/fuzz/config_fuzz.cc: a character that cannot start a key
// opening a table header tripped an assertion inside toml++ where asserts
// are on (this test's build, if it was not built with NDEBUG).
TEST(ConfigTest, TableHeaderThatCannotStartAKeyIsAnErrorAtItsPosition) {
  for (std::string header : {"[\003projects.a]", "[\\server]", "[[\177tokens]]"}) {
    auto c = Parse("[server]\nlisten = \"127.0.0.1:1\"\n" + header + "\n");
    ASSERT_EQ(c.errors.size(), 1u) << Errors(c);
    EXPECT_EQ(c.errors[0].line, 3) << Errors(c);
    EXPECT_NE(c.errors[0].message.find("TOML syntax"), std::string::npos) << Errors(c);
  }
}

// Found by tests/fuzz/config_fuzz.cc: toml++ 3.3.0 reached undefined
// behaviour (__builtin_unreachable) testing most non-ASCII characters for
// whitespace (src/config/toml.h); UBSan builds of this test saw it.
TEST(ConfigTest, NonAsciiWhereTomlTestsForWhitespace) {
  // Valid: a line-ending backslash in a """ string trims up to the "é".
  auto c = Parse(
      "[projects.a]\ndescription = \"\"\"caf\\\n  \xc3\xa9 au lait\"\"\"\n"
      "script = \"true\"\n");
  ASSERT_TRUE(c.ok()) << Errors(c);
  ASSERT_EQ(c.config.projects.size(), 1u);
  EXPECT_EQ(c.config.projects[0].description, "caf\xc3\xa9 au lait");
  // Invalid: a non-ASCII character right after a value, or as a key.
  for (std::string bad : {"[server]\nkill_grace = \"1s\"\xc2\xa7\n", "\xd0\x96 = 1\n"}) {
    auto e = Parse(bad);
    ASSERT_EQ(e.errors.size(), 1u) << Errors(e);
    EXPECT_NE(e.errors[0].message.find("TOML syntax"), std::string::npos) << Errors(e);
  }
}

TEST(ConfigTest, BadDurationNamesTheFix) {
  auto c = Parse("[projects.a]\nscript = \"true\"\ntimeout = \"15 minutes\"\n");
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].line, 3);
  EXPECT_NE(c.errors[0].message.find("like 90s, 15m or 1h30m"), std::string::npos);
}

TEST(ConfigTest, RunLimitsAreSizesAndCountsInRange) {
  auto ok = Parse("[projects.a]\nscript = \"true\"\nmemory_max = \"512MiB\"\ntasks_max = 200\n");
  ASSERT_TRUE(ok.ok()) << Errors(ok);
  EXPECT_EQ(ok.config.projects[0].memory_max, 512LL << 20);
  EXPECT_EQ(ok.config.projects[0].tasks_max, 200);
  auto bad = Parse("[projects.a]\nscript = \"true\"\nmemory_max = \"4KiB\"\ntasks_max = 0\n");
  EXPECT_EQ(Errors(bad),
            "/etc/jenky/jenky.toml:3:14: projects.a.memory_max must be at least 1MiB\n"
            "/etc/jenky/jenky.toml:4:13: projects.a.tasks_max must be a whole number from 1 to "
            "4194304 (processes and threads of a run at once)\n");
}

TEST(ConfigTest, ProjectNeedsExactlyOneThingToRun) {
  auto none = Parse("[projects.a]\ndescription = \"x\"\n");
  EXPECT_NE(Errors(none).find("has nothing to run"), std::string::npos);
  auto two = Parse("[projects.a]\nscript = \"true\"\nrecipe = \"demo\"\n");
  EXPECT_NE(Errors(two).find(":3:10: project 'a' has more than one of script"), std::string::npos)
      << Errors(two);
}

TEST(ConfigTest, MissingSecretAndTokenEnvAreErrors) {
  auto c = Parse(R"(
[[tokens]]
name = "ci"
env = "JENKY_TOKEN_CI"
scopes = ["deploy"]
[projects.a]
script = "true"
secrets = ["DB_PASSWORD"]
)");
  std::string e = Errors(c);
  EXPECT_NE(e.find("JENKY_TOKEN_CI, which is not set"), std::string::npos) << e;
  EXPECT_NE(e.find("secret DB_PASSWORD of project 'a' is not in the server's environment"),
            std::string::npos)
      << e;
}

TEST(ConfigTest, ShortSecretsAreRefused) {
  auto c = Parse("[projects.a]\nscript = \"true\"\nsecrets = [\"PIN\"]\n", {{"PIN", "123"}});
  EXPECT_NE(Errors(c).find("shorter than 4 bytes"), std::string::npos);
}

TEST(ConfigTest, SecretsThatAreOnlyWhitespaceAreRefused) {
  // Masking "    " would hide every indentation in every log.
  auto c = Parse(R"(
[[tokens]]
name = "ci"
env = "T"
scopes = ["read"]
[projects.a]
script = "true"
secrets = ["BLANK"]
[projects.a.webhook]
provider = "github"
secret_env = "HOOK"
)",
                 {{"T", "  \t "}, {"BLANK", "    \n"}, {"HOOK", "\t\t\t\t"}});
  std::string e = Errors(c);
  EXPECT_NE(e.find("secret BLANK is only whitespace"), std::string::npos) << e;
  EXPECT_NE(e.find("webhook secret is only whitespace"), std::string::npos) << e;
  EXPECT_NE(e.find("token 'ci': environment variable T is only whitespace"), std::string::npos)
      << e;
}

TEST(ConfigTest, TokenEnvIsHashed) {
  auto c = Parse("[[tokens]]\nname = \"ci\"\nenv = \"T\"\nscopes = [\"admin\"]\n", {{"T", "test"}});
  ASSERT_TRUE(c.ok()) << Errors(c);
  EXPECT_EQ(c.config.tokens[0].sha256,
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  EXPECT_EQ(c.config.tokens[0].scopes, kAllScopes);
}

TEST(ConfigTest, BadTokenHashAndScope) {
  auto c = Parse("[[tokens]]\nname = \"ci\"\nsha256 = \"ABC\"\nscopes = [\"write\"]\n");
  std::string e = Errors(c);
  EXPECT_NE(e.find("64 lower-case hex digits"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown scope 'write'"), std::string::npos) << e;
}

TEST(ConfigTest, NoTokensMeansLoopbackOnly) {
  auto c = Parse("[server]\nlisten = \"0.0.0.0:8080\"\n");
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].line, 2);
  EXPECT_NE(c.errors[0].message.find("only on a loopback address"), std::string::npos);
  EXPECT_TRUE(Parse("[server]\nlisten = \"[::1]:9000\"\n").ok());
}

TEST(ConfigTest, SyntaxErrorHasPosition) {
  auto c = Parse("[projects.a]\nscript = \"unterminated\n");
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].line, 2);
  EXPECT_NE(c.errors[0].message.find("TOML syntax"), std::string::npos);
}

TEST(ConfigTest, ManyErrorsAreAllReported) {
  auto c = Parse(R"(
[server]
listen = "nonsense"
[projects."bad name"]
script = "x"
[projects.b]
script = "x"
concurrency = "parallel"
shell = "bin/bash"
keep_runs = 0
recipe = "nope"
)");
  EXPECT_GE(c.errors.size(), 5u) << Errors(c);
  std::string e = Errors(c);
  EXPECT_NE(e.find("is not HOST:PORT"), std::string::npos);
  EXPECT_NE(e.find("project name 'bad name'"), std::string::npos);
  EXPECT_NE(e.find("'parallel' is not one of"), std::string::npos);
  EXPECT_NE(e.find("must be an absolute path"), std::string::npos);
  EXPECT_NE(e.find("keep_runs must be"), std::string::npos);
}

TEST(ConfigTest, DefaultsFollowXdg) {
  Config c = DefaultConfig(FakeEnv({{"XDG_DATA_HOME", "/x"}, {"HOME", "/home/u"}}));
  EXPECT_EQ(c.server.data_dir, "/x/jenky");
  EXPECT_EQ(c.server.listen, "127.0.0.1:8080");
  EXPECT_EQ(DefaultConfig(FakeEnv({{"HOME", "/home/u"}})).server.data_dir,
            "/home/u/.local/share/jenky");
}

TEST(ConfigTest, RelativePathsAreRelativeToTheConfigFile) {
  auto c =
      Parse("[server]\ndata_dir = \"data\"\n[projects.a]\nscript = \"x\"\nworkdir = \"../src\"\n");
  ASSERT_TRUE(c.ok()) << Errors(c);
  EXPECT_EQ(c.config.server.data_dir, "/etc/jenky/data");
  EXPECT_EQ(c.config.projects[0].workdir, "/etc/src");
}

TEST(HostPortTest, Splits) {
  std::string host;
  int port;
  EXPECT_TRUE(SplitHostPort("127.0.0.1:0", host, port));
  EXPECT_EQ(port, 0);
  EXPECT_TRUE(SplitHostPort("[::1]:8080", host, port));
  EXPECT_EQ(host, "::1");
  EXPECT_FALSE(SplitHostPort("::1:8080", host, port));
  EXPECT_FALSE(SplitHostPort("localhost", host, port));
  EXPECT_FALSE(SplitHostPort("a:99999", host, port));
}

}  // namespace
}  // namespace jenky
