// Which forge sends a project's webhook: the one place its names
// ("github", "gitea", "forgejo", "gitlab", "generic", as written in
// jenky.toml and shown by the API) and the enum meet. Pure; any thread.
#pragma once

#include <optional>
#include <string_view>

namespace jenky {

enum class WebhookProvider { kGitHub, kGitea, kForgejo, kGitLab, kGeneric };

const char* WebhookProviderName(WebhookProvider p);
// nullopt for any other name (names are lower-case, compared exactly).
std::optional<WebhookProvider> ParseWebhookProvider(std::string_view name);

}  // namespace jenky
