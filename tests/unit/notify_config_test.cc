// [[notify]] and [projects.X.status] as loaded from jenky.toml
// (config/notify_load.h): defaults, names, secrets from the environment and
// every error `jenky check` shows.
#include "config/notify_load.h"
#include "util/nearest_name.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "config_parse.h"

namespace jenky {
namespace {

ConfigLoad Parse(const std::string& text, std::map<std::string, std::string> env = {}) {
  return ParseConfig(text, "/etc/jenky/jenky.toml",
                     [env](const std::string& name) -> std::optional<std::string> {
                       auto it = env.find(name);
                       if (it == env.end()) return std::nullopt;
                       return it->second;
                     });
}

const char* kProject = "[projects.app]\nscript = \"x\"\n";

TEST(NotifyConfigTest, ReceiversGetDefaultsAndNamesFromTheirKind) {
  auto c = Parse(std::string("[[notify]]\nkind = \"slack\"\nurl_env = \"SLACK_URL\"\n"
                             "[[notify]]\nkind = \"webhook\"\nurl = \"https://a.example/1\"\n"
                             "secret_env = \"HOOK_SECRET\"\non = [\"started\", \"succeeded\"]\n"
                             "[[notify]]\nkind = \"webhook\"\nurl = \"https://a.example/2\"\n"
                             "projects = [\"app\"]\ngive_up_after = \"1h\"\ntimeout = \"3s\"\n") +
                     kProject,
                 {{"SLACK_URL", "https://hooks.slack.com/services/T/B/secret"},
                  {"HOOK_SECRET", "a-long-enough-secret"}});
  ASSERT_TRUE(c.ok()) << AllErrors(c);
  const auto& n = c.config.notify;
  ASSERT_EQ(n.size(), 3u);
  EXPECT_EQ(n[0].name, "slack");
  EXPECT_EQ(n[0].url, "https://hooks.slack.com/services/T/B/secret");
  EXPECT_EQ(n[0].on, kOnFailed | kOnRecovered);
  EXPECT_EQ(n[1].name, "webhook-1");
  EXPECT_EQ(n[1].secret, "a-long-enough-secret");
  EXPECT_EQ(n[1].on, kOnStarted | kOnSucceeded);
  EXPECT_EQ(n[2].name, "webhook-2");
  EXPECT_TRUE(n[2].Wants("app"));
  EXPECT_FALSE(n[2].Wants("other"));
  EXPECT_EQ(n[2].limits.give_up_after, std::chrono::hours(1));
  EXPECT_EQ(n[2].limits.timeout, std::chrono::seconds(3));
  // The variables are withheld from scripts, their values masked.
  auto names = c.config.SecretEnvNames();
  EXPECT_NE(std::find(names.begin(), names.end(), "SLACK_URL"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "HOOK_SECRET"), names.end());
  auto values = NotifySecretValues(c.config);
  EXPECT_NE(std::find(values.begin(), values.end(), "a-long-enough-secret"), values.end());
}

TEST(NotifyConfigTest, AWhsecSecretIsDecodedToItsKey) {
  auto c = Parse(
      "[[notify]]\nkind = \"webhook\"\nurl = \"https://a.example\"\n"
      "secret_env = \"S\"\n",
      {{"S", "whsec_aGVsbG8gd29ybGQgMTIzNDU="}});
  ASSERT_TRUE(c.ok()) << AllErrors(c);
  EXPECT_EQ(c.config.notify[0].secret, "hello world 12345");
}

TEST(NotifyConfigTest, AProjectsOwnReceiversAreForItAlone) {
  auto c = Parse(std::string(kProject) +
                 "[[projects.app.notify]]\nkind = \"ntfy\"\nurl = \"https://ntfy.sh/t\"\n");
  ASSERT_TRUE(c.ok()) << AllErrors(c);
  ASSERT_EQ(c.config.notify.size(), 1u);
  EXPECT_EQ(c.config.notify[0].projects, std::vector<std::string>{"app"});
}

TEST(NotifyConfigTest, UnknownKindsAndEventsNameTheNearestOne) {
  auto c = Parse(std::string("[[notify]]\nkind = \"discrod\"\nurl = \"https://x\"\n"
                             "[[notify]]\nkind = \"slack\"\nurl = \"https://x\"\n"
                             "on = [\"failed\", \"recoverd\"]\n") +
                 kProject);
  std::string e = AllErrors(c);
  EXPECT_NE(e.find("jenky.toml:2:8: unknown notify kind 'discrod'; did you mean 'discord'? use "
                   "webhook, slack, discord, ntfy or email"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(":7:6: notify.on has 'recoverd', which is not an event; did you mean "
                   "'recovered'?"),
            std::string::npos)
      << e;
}

TEST(NotifyConfigTest, MissingVariablesAndFieldsAreErrorsSayingWhatToDo) {
  auto c =
      Parse(std::string("[[notify]]\nkind = \"webhook\"\nurl_env = \"NOPE\"\n"
                        "secret_env = \"NOSECRET\"\n"
                        "[[notify]]\nkind = \"slack\"\n"
                        "[[notify]]\nkind = \"email\"\nsmtp_url = \"http://mail\"\n"
                        "[[notify]]\nkind = \"ntfy\"\nurl = \"ftp://x\"\nprojects = [\"ap\"]\n") +
            kProject);
  std::string e = AllErrors(c);
  EXPECT_NE(e.find("notify url variable NOPE is not set in the server's environment"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("notify secret variable NOSECRET is not set"), std::string::npos) << e;
  EXPECT_NE(e.find("notify (slack) needs url = \"https://...\" or url_env = \"NAME\""),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("smtp_url must start with smtp:// (STARTTLS) or smtps:// (TLS)"),
            std::string::npos);
  EXPECT_NE(e.find("(email) needs from = "), std::string::npos);
  EXPECT_NE(e.find("notify.url must be an http:// or https:// URL"), std::string::npos);
  EXPECT_NE(e.find(":13:12: notify.projects names 'ap', which is not a configured project; did "
                   "you mean 'app'?"),
            std::string::npos)
      << e;
}

TEST(NotifyConfigTest, TwoReceiversWithOneNameAreRefused) {
  auto c = Parse(std::string("[[notify]]\nname = \"x\"\nkind = \"slack\"\nurl = \"https://a\"\n"
                             "[[notify]]\nname = \"x\"\nkind = \"ntfy\"\nurl = \"https://b\"\n") +
                 kProject);
  EXPECT_NE(AllErrors(c).find("two [[notify]] entries are named 'x'"), std::string::npos);
}

TEST(NotifyConfigTest, StatusDefaultsToTheWebhooksProviderAndItsApi) {
  auto c = Parse(std::string(kProject) +
                     "[projects.app.webhook]\nprovider = \"gitlab\"\nsecret = \"s3cret\"\n"
                     "[projects.app.status]\nrepo = \"group/app\"\ntoken_env = \"GL\"\n",
                 {{"GL", "glpat-123"}});
  ASSERT_TRUE(c.ok()) << AllErrors(c);
  const auto& s = *c.config.projects[0].status;
  EXPECT_EQ(s.provider, StatusProvider::kGitLab);
  EXPECT_EQ(s.api_url, "https://gitlab.com/api/v4");
  EXPECT_EQ(s.token, "glpat-123");
  EXPECT_EQ(s.context, "jenky/deploy");
}

TEST(NotifyConfigTest, StatusErrorsNameTheProblem) {
  auto c = Parse(std::string(kProject) +
                 "[projects.app.status]\nprovider = \"gihtub\"\ntoken_env = \"MISSING\"\n");
  std::string e = AllErrors(c);
  EXPECT_NE(e.find("unknown status provider 'gihtub'; did you mean 'github'?"), std::string::npos)
      << e;
  EXPECT_NE(e.find("status token variable MISSING is not set"), std::string::npos) << e;
  EXPECT_NE(e.find("needs repo = \"owner/name\" (the repository the commits belong to): the "
                   "project has no [projects.app.webhook] whose payloads would name it"),
            std::string::npos)
      << e;
  auto gitea = Parse(std::string(kProject) +
                         "[projects.app.status]\nprovider = \"forgejo\"\nrepo = \"a/b\"\n"
                         "token_env = \"T\"\n",
                     {{"T", "tok"}});
  EXPECT_NE(AllErrors(gitea).find("needs api_url for Gitea/Forgejo"), std::string::npos);
}

TEST(NotifyConfigTest, StatusRepoDefaultsToTheWebhookPayloads) {
  auto c = Parse(std::string(kProject) +
                     "[projects.app.webhook]\nprovider = \"github\"\nsecret = \"s3cret\"\n"
                     "[projects.app.status]\ntoken_env = \"GH\"\n",
                 {{"GH", "ghp-123"}});
  ASSERT_TRUE(c.ok()) << AllErrors(c);
  EXPECT_EQ(c.config.projects[0].status->repo, "");
}

TEST(NotifyConfigTest, NearestNameSuggestsOnlyCloseNames) {
  EXPECT_EQ(NearestName("slak", {"slack", "ntfy"}), "slack");
  EXPECT_EQ(NearestName("FAILED", {"failed", "started"}), "failed");
  EXPECT_EQ(NearestName("pagerduty", {"slack", "ntfy", "email"}), "");
}

}  // namespace
}  // namespace jenky

namespace jenky {
namespace {

TEST(NotifyConfigTest, ACaFileMustBeReadableAndIsRelativeToTheConfig) {
  auto c = Parse(std::string("[[notify]]\nkind = \"webhook\"\nurl = \"https://a\"\n"
                             "ca_file = \"certs/nope.pem\"\n") +
                 kProject);
  EXPECT_NE(AllErrors(c).find("notify.ca_file /etc/jenky/certs/nope.pem cannot be read"),
            std::string::npos)
      << AllErrors(c);
}

TEST(NotifyConfigTest, DeploymentsAreGitHubsAndNeedDeploymentsForAnEnvironment) {
  auto c = Parse(std::string(kProject) +
                     "[projects.app.status]\nprovider = \"github\"\nrepo = \"o/a\"\n"
                     "token_env = \"GH\"\ndeployments = true\nenvironment = \"staging\"\n",
                 {{"GH", "ghp-1"}});
  ASSERT_TRUE(c.ok()) << AllErrors(c);
  EXPECT_TRUE(c.config.projects[0].status->deployments);
  EXPECT_EQ(c.config.projects[0].status->environment, "staging");
  auto gitlab = Parse(std::string(kProject) +
                          "[projects.app.status]\nprovider = \"gitlab\"\nrepo = \"o/a\"\n"
                          "token_env = \"GH\"\ndeployments = true\n",
                      {{"GH", "x"}});
  EXPECT_NE(AllErrors(gitlab).find("deployments is GitHub's Deployments API; provider 'gitlab' "
                                   "has none"),
            std::string::npos)
      << AllErrors(gitlab);
  auto lone = Parse(std::string(kProject) +
                        "[projects.app.status]\nprovider = \"github\"\nrepo = \"o/a\"\n"
                        "token_env = \"GH\"\nenvironment = \"prod\"\ndeployments = \"yes\"\n",
                    {{"GH", "x"}});
  EXPECT_NE(AllErrors(lone).find("deployments must be true or false"), std::string::npos);
  EXPECT_NE(AllErrors(lone).find("set deployments = true too"), std::string::npos);
}

}  // namespace
}  // namespace jenky
