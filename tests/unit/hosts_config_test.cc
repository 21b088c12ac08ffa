// [hosts.NAME], targets and [projects.X.rollout] as loaded from jenky.toml
// (config/hosts_config.h): each bad value is an error at its place.
#include "config/hosts_config.h"

#include <gtest/gtest.h>

#include <string>

#include "config_parse.h"

namespace jenky {
namespace {

const char* kHosts = R"(
[hosts.web1]
address = "10.0.0.11"
user = "deploy"
port = 2222
tags = ["web"]
env = { PORT = "8080" }

[hosts.web2]
address = "10.0.0.12"
tags = ["web", "eu"]

[hosts.db1]
)";

ConfigLoad Parse(const std::string& project, const std::string& hosts = kHosts) {
  return ParseWithoutEnv(hosts + "\n[projects.app]\nscript = \"make restart\"\n" + project);
}

std::string Errors(const ConfigLoad& c) { return AllErrors(c); }

TEST(HostsConfigTest, HostsAndTargetsLoadResolved) {
  auto c = Parse(R"(targets = ["web", "db1"]
build = "make dist"
upload = ["dist/app.tar.gz"]
health = "curl -fsS localhost:8080/healthz"
deploy_dir = "/srv/app/"
[projects.app.rollout]
batch = "50%"
pause = "5s"
max_failures = 1
on_failure = "stop"
parallel = 4
health_timeout = "30s"
)");
  ASSERT_TRUE(c.ok()) << Errors(c);
  ASSERT_EQ(c.config.hosts.size(), 3u);
  const HostConfig& w1 = c.config.hosts[0];
  EXPECT_EQ(w1.address, "10.0.0.11");
  EXPECT_EQ(w1.user, "deploy");
  EXPECT_EQ(w1.port, 2222);
  EXPECT_EQ(w1.env, (std::vector<std::pair<std::string, std::string>>{{"PORT", "8080"}}));
  EXPECT_EQ(c.config.hosts[2].address, "db1") << "the name when there is no address";
  const auto& f = c.config.projects[0].fleet;
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->hosts, (std::vector<std::string>{"web1", "web2", "db1"}));
  EXPECT_EQ(f->build, "make dist");
  EXPECT_EQ(f->deploy_dir, "/srv/app");
  EXPECT_EQ(f->rollout.batch_percent, 50);
  EXPECT_EQ(f->rollout.pause, std::chrono::seconds(5));
  EXPECT_EQ(f->rollout.max_failures, 1);
  EXPECT_EQ(f->rollout.on_failure, OnFailure::kStop);
  EXPECT_EQ(f->rollout.parallel, 4);
  EXPECT_EQ(f->rollout.health_timeout, std::chrono::seconds(30));
  EXPECT_EQ(BatchSize(f->rollout, 3), 2);
}

TEST(HostsConfigTest, DefaultsAreOneAtATimeAndRollback) {
  auto c = Parse("targets = [\"web1\"]\n");
  ASSERT_TRUE(c.ok()) << Errors(c);
  const auto& f = *c.config.projects[0].fleet;
  EXPECT_EQ(f.deploy_dir, "jenky/app");
  EXPECT_EQ(f.rollout.batch, 1);
  EXPECT_EQ(f.rollout.on_failure, OnFailure::kRollback);
  EXPECT_EQ(f.rollout.parallel, 10);
  EXPECT_EQ(BatchSize(f.rollout, 20), 1);
  EXPECT_FALSE(ParseWithoutEnv("[projects.a]\nscript = \"x\"\n").config.projects[0].fleet);
}

TEST(HostsConfigTest, AnUnknownTargetIsAnErrorNamingTheHosts) {
  auto c = Parse("targets = [\"web\", \"wbe\"]\n");
  ASSERT_EQ(c.errors.size(), 1u) << Errors(c);
  EXPECT_EQ(c.errors[0].line, 17);
  EXPECT_NE(c.errors[0].message.find("'wbe' is neither a host nor a tag of one (hosts: web1, "
                                     "web2, db1)"),
            std::string::npos)
      << Errors(c);
}

TEST(HostsConfigTest, BadRolloutValuesAreErrorsAtTheirPlace) {
  struct Case {
    const char* rollout;
    const char* message;
  } cases[] = {
      {"batch = 0", "batch must be a number of hosts (1 or more) or a percentage"},
      {"batch = \"0%\"", "batch must be a number of hosts"},
      {"batch = \"150%\"", "batch must be a number of hosts"},
      {"batch = \"25\"", "batch must be a number of hosts"},
      {"batch = \"x%\"", "batch must be a number of hosts"},
      {"batch = true", "batch must be a number of hosts"},
      {"pause = \"soon\"", "pause"},
      {"max_failures = -1", "max_failures must be a whole number from 0"},
      {"on_failure = \"retry\"", "on_failure 'retry' is not one of rollback, stop, continue"},
      {"parallel = 0", "parallel must be a whole number from 1 to 100"},
      {"parallel = 1000", "parallel must be a whole number from 1 to 100"},
      {"batches = 2", "batches"},
  };
  for (const auto& k : cases) {
    auto c = Parse(std::string("targets = [\"web\"]\n[projects.app.rollout]\n") + k.rollout + "\n");
    ASSERT_EQ(c.errors.size(), 1u) << k.rollout << "\n" << Errors(c);
    EXPECT_EQ(c.errors[0].line, 19) << k.rollout;
    EXPECT_NE(c.errors[0].message.find(k.message), std::string::npos)
        << k.rollout << ": " << Errors(c);
  }
}

TEST(HostsConfigTest, BadHostValuesAreErrors) {
  struct Case {
    const char* host;
    const char* message;
  } cases[] = {
      {"port = 0", "port must be a whole number from 1 to 65535"},
      {"port = \"22\"", "port must be a whole number"},
      {"address = \"-oProxyCommand=x\"", "is not a host name, address or ssh alias"},
      {"address = \"a b\"", "is not a host name"},
      {"user = \"-l\"", "user '-l' is not a user name"},
      {"identity_file = \"/nonexistent/key\"", "cannot be read by jenky"},
      {"tags = [\"a b\"]", "tags: 'a b' must be"},
      {"tags = [\"x\"]", "'x' is also a host's name"},
      {"env = { JENKY_HOST = \"x\" }", "JENKY_* variables are set by jenky"},
      {"env = { PORT = 1 }", "env.PORT must be a string"},
      {"colour = \"red\"", "colour"},
  };
  for (const auto& k : cases) {
    auto c = ParseWithoutEnv(std::string("[hosts.x]\n") + k.host + "\n");
    ASSERT_GE(c.errors.size(), 1u) << k.host;
    EXPECT_NE(AllErrors(c).find(k.message), std::string::npos) << k.host << ": " << Errors(c);
  }
  EXPECT_NE(Errors(ParseWithoutEnv("[hosts.\"-bad\"]\n")).find("host name '-bad' must be"),
            std::string::npos);
}

TEST(HostsConfigTest, FleetKeysWithoutTargetsAreErrors) {
  auto c = Parse("build = \"make\"\n[projects.app.rollout]\nbatch = 2\n");
  EXPECT_EQ(c.errors.size(), 2u) << Errors(c);
  EXPECT_NE(Errors(c).find("projects.app.build is only used with targets"), std::string::npos);
  EXPECT_NE(Errors(c).find("projects.app.rollout is only used with targets"), std::string::npos);
  EXPECT_NE(Errors(Parse("targets = []\n")).find("targets is empty"), std::string::npos);
}

ConfigLoad ParseRecipe(const std::string& project) {
  return ParseWithoutEnv(std::string(kHosts) + "\n[projects.app]\n" + project);
}

TEST(HostsConfigTest, ARecipeOnTargetsGetsItsRemoteModeFromItsParams) {
  auto c = ParseRecipe(R"(recipe = "systemd-release"
targets = ["web"]
[projects.app.params]
build = "make release"
artifacts = "bin/app  config/*.toml"
unit = "app"
releases = "/srv/app/"
health_timeout = "20s"
keep = 3
)");
  ASSERT_TRUE(c.ok()) << Errors(c);
  const FleetConfig& f = *c.config.projects[0].fleet;
  EXPECT_EQ(f.build, "make release");
  EXPECT_EQ(f.upload, (std::vector<std::string>{"bin/app", "config/*.toml"}));
  EXPECT_TRUE(f.upload_flat);
  EXPECT_EQ(f.deploy_dir, "/srv/app");
  EXPECT_EQ(f.keep_releases, 3);
  EXPECT_EQ(f.rollout.health_timeout, std::chrono::seconds(20)) << "the recipe's health_timeout";
  EXPECT_NE(f.prepare.find("JENKY_FLEET_STEP"), std::string::npos) << "the recipe is each step";
  EXPECT_EQ(f.health, f.prepare);
  EXPECT_EQ(f.rollback, f.prepare);

  auto site = ParseRecipe(R"(recipe = "static-site"
targets = ["web1"]
params = { build = "npm run build", output = "dist/", target = "/srv/www/site" }
[projects.app.rollout]
health_timeout = "5s"
)");
  ASSERT_TRUE(site.ok()) << Errors(site);
  const FleetConfig& g = *site.config.projects[0].fleet;
  EXPECT_EQ(g.upload, (std::vector<std::string>{"dist/"})) << "the output's contents";
  EXPECT_EQ(g.deploy_dir, "/srv/www/site.releases");
  EXPECT_EQ(g.health, "");
  EXPECT_EQ(g.rollout.health_timeout, std::chrono::seconds(5));
}

TEST(HostsConfigTest, ARecipeOnTargetsRefusesStepKeysAndRecipesWithoutARemoteMode) {
  auto c = ParseRecipe(R"(recipe = "static-site"
targets = ["web"]
upload = ["x"]
params = { build = "b", output = "dist", target = "srv/site" }
)");
  std::string errors = Errors(c);
  EXPECT_NE(errors.find("projects.app.upload: recipe 'static-site' sets it on targets"),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("params.target must be an absolute path"), std::string::npos) << errors;
  auto git = ParseRecipe(
      "recipe = \"git-pull\"\ntargets = [\"web\"]\n"
      "params = { remote = \"origin\" }\n");
  EXPECT_NE(Errors(git).find("recipe 'git-pull' has no remote mode"), std::string::npos)
      << Errors(git);
}

TEST(HostsConfigTest, BatchSizeRoundsUpAndStaysInRange) {
  RolloutConfig r;
  r.batch_percent = 25;
  EXPECT_EQ(BatchSize(r, 20), 5);
  EXPECT_EQ(BatchSize(r, 3), 1);
  EXPECT_EQ(BatchSize(r, 5), 2);
  r.batch_percent = 0;
  r.batch = 50;
  EXPECT_EQ(BatchSize(r, 3), 3);
}

}  // namespace
}  // namespace jenky
