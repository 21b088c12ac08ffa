#include "config/webhook_provider.h"

#include <gtest/gtest.h>

namespace jenky {
namespace {

TEST(WebhookProvider, EveryProviderHasOneNameThatParsesBackToIt) {
  for (WebhookProvider p :
       {WebhookProvider::kGitHub, WebhookProvider::kGitea, WebhookProvider::kForgejo,
        WebhookProvider::kGitLab, WebhookProvider::kGeneric}) {
    EXPECT_EQ(ParseWebhookProvider(WebhookProviderName(p)), p) << WebhookProviderName(p);
  }
  EXPECT_STREQ(WebhookProviderName(WebhookProvider::kGitHub), "github");
  EXPECT_STREQ(WebhookProviderName(WebhookProvider::kGitLab), "gitlab");
}

TEST(WebhookProvider, OtherNamesAreNoProvider) {
  EXPECT_EQ(ParseWebhookProvider("GitHub"), std::nullopt);
  EXPECT_EQ(ParseWebhookProvider(""), std::nullopt);
  EXPECT_EQ(ParseWebhookProvider("bitbucket"), std::nullopt);
}

}  // namespace
}  // namespace jenky
