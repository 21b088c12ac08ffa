#include "config/webhook_provider.h"

namespace jenky {

namespace {

struct ProviderName {
  WebhookProvider provider;
  const char* name;
};
constexpr ProviderName kNames[] = {{WebhookProvider::kGitHub, "github"},
                                   {WebhookProvider::kGitea, "gitea"},
                                   {WebhookProvider::kForgejo, "forgejo"},
                                   {WebhookProvider::kGitLab, "gitlab"},
                                   {WebhookProvider::kGeneric, "generic"}};

}  // namespace

const char* WebhookProviderName(WebhookProvider p) {
  for (const ProviderName& n : kNames) {
    if (n.provider == p) return n.name;
  }
  return "generic";  // (unreachable: every enumerator is in the table)
}

std::optional<WebhookProvider> ParseWebhookProvider(std::string_view name) {
  for (const ProviderName& n : kNames) {
    if (name == n.name) return n.provider;
  }
  return std::nullopt;
}

}  // namespace jenky
