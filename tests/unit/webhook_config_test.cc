// A project's webhook, as loaded from jenky.toml.
#include "config/webhook_config.h"

#include <gtest/gtest.h>

#include <string>

#include "config_parse.h"

namespace jenky {
namespace {

ConfigLoad Parse(const std::string& text) { return ParseWithoutEnv(text); }
std::string Errors(const ConfigLoad& c) { return AllErrors(c); }

TEST(WebhookConfigTest, WebhookNeedsASecret) {
  auto c = Parse("[projects.a]\nscript = \"x\"\n[projects.a.webhook]\nprovider = \"github\"\n");
  EXPECT_NE(Errors(c).find("unsigned webhook would let anyone deploy"), std::string::npos);
}

TEST(WebhookConfigTest, AnUnknownProviderListsTheKnownOnes) {
  auto c = Parse(
      "[projects.a]\nscript = \"x\"\n[projects.a.webhook]\nprovider = \"GitHub\"\n"
      "secret = \"s3cret\"\n");
  ASSERT_EQ(c.errors.size(), 1u) << Errors(c);
  EXPECT_EQ(c.errors[0].line, 4);
  EXPECT_NE(c.errors[0].message.find("unknown webhook provider 'GitHub'; use github, gitea, "
                                     "forgejo, gitlab or generic"),
            std::string::npos);
}

TEST(WebhookConfigTest, ASigningTokenIsGitLabsAndDecodedToItsKey) {
  auto c = Parse(
      "[projects.a]\nscript = \"x\"\n[projects.a.webhook]\nprovider = \"gitlab\"\n"
      "signing_token = \"whsec_aGVsbG8=\"\n");
  ASSERT_TRUE(c.ok()) << Errors(c);
  ASSERT_TRUE(c.config.projects[0].webhook.has_value());
  EXPECT_EQ(c.config.projects[0].webhook->provider, "gitlab");
  EXPECT_EQ(c.config.projects[0].webhook->signing_key, "hello");
  auto github = Parse(
      "[projects.a]\nscript = \"x\"\n[projects.a.webhook]\nprovider = \"github\"\n"
      "secret = \"s3cret\"\nsigning_token = \"whsec_aGVsbG8=\"\n");
  EXPECT_NE(Errors(github).find("signing_token is only for provider = \"gitlab\""),
            std::string::npos)
      << Errors(github);
}

TEST(WebhookConfigTest, SigningTokensThatAreNotWhsecBase64AreRefused) {
  EXPECT_EQ(DecodeSigningToken("whsec_aGVsbG8="), "hello");
  EXPECT_EQ(DecodeSigningToken("whsec_aGk="), "hi");
  EXPECT_EQ(DecodeSigningToken("aGVsbG8="), "");
  EXPECT_EQ(DecodeSigningToken("whsec_"), "");
  EXPECT_EQ(DecodeSigningToken("whsec_abc"), "");  // not a multiple of 4
}

TEST(WebhookConfigTest, AMistypedEventIsAnErrorAtItsPlaceWithTheNearestName) {
  auto c = Parse(
      "[projects.a]\nscript = \"x\"\n[projects.a.webhook]\nprovider = \"github\"\n"
      "secret = \"s3cret\"\nevents = [\"push\",\n  \"psuh\"]\n");
  ASSERT_EQ(c.errors.size(), 1u) << Errors(c);
  EXPECT_EQ(c.errors[0].line, 7);
  EXPECT_EQ(c.errors[0].message,
            "projects.a.webhook.events: unknown github event \"psuh\" (did you mean \"push\"?); "
            "github events that deploy: \"push\", \"release\", \"workflow_run\", \"check_suite\"");
}

TEST(WebhookConfigTest, GitLabEventsAreItsHeaderNamesAndTheOlderShortOnes) {
  auto c = Parse(
      "[projects.a]\nscript = \"x\"\n[projects.a.webhook]\nprovider = \"gitlab\"\n"
      "secret = \"s3cret\"\nevents = [\"push\", \"Pipeline Hook\"]\nworkflows = [\"deploy\"]\n");
  ASSERT_TRUE(c.ok()) << Errors(c);
  EXPECT_EQ(c.config.projects[0].webhook->events,
            (std::vector<std::string>{"Push Hook", "Pipeline Hook"}));
  EXPECT_EQ(c.config.projects[0].webhook->workflows, (std::vector<std::string>{"deploy"}));
  auto github_name = Parse(
      "[projects.a]\nscript = \"x\"\n[projects.a.webhook]\nprovider = \"gitlab\"\n"
      "secret = \"s3cret\"\nevents = [\"workflow_run\"]\n");
  EXPECT_NE(Errors(github_name).find("unknown gitlab event \"workflow_run\""), std::string::npos)
      << Errors(github_name);
}

TEST(WebhookConfigTest, FiltersThatNoEventReadsAreErrors) {
  auto workflows = Parse(
      "[projects.a]\nscript = \"x\"\n[projects.a.webhook]\nprovider = \"github\"\n"
      "secret = \"s3cret\"\nworkflows = [\"CI\"]\n");
  EXPECT_NE(Errors(workflows).find("workflows names CI runs, but events has no CI event; add one "
                                   "to events: \"workflow_run\" or \"check_suite\""),
            std::string::npos)
      << Errors(workflows);
  auto tag_push = Parse(
      "[projects.a]\nscript = \"x\"\n[projects.a.webhook]\nprovider = \"gitlab\"\n"
      "secret = \"s3cret\"\nevents = [\"Tag Push Hook\"]\n");
  EXPECT_NE(Errors(tag_push).find("lists \"Tag Push Hook\" but no tags deploy"), std::string::npos)
      << Errors(tag_push);
  auto empty = Parse(
      "[projects.a]\nscript = \"x\"\n[projects.a.webhook]\nprovider = \"github\"\n"
      "secret = \"s3cret\"\nevents = []\n");
  EXPECT_NE(Errors(empty).find("events is empty, so nothing would deploy"), std::string::npos);
}

}  // namespace
}  // namespace jenky
