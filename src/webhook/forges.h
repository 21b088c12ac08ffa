// The forges' readers (forges.cc), called by EvaluateDelivery (webhook.cc)
// by the project's provider. Internal to src/webhook/; pure functions.
#pragma once

#include <string>

#include "config/config.h"
#include "webhook/webhook.h"

namespace jenky::hook {

Verdict GitHub(const WebhookConfig& config, const HookRequest& req);
// Gitea and Forgejo (the same payloads; Forgejo sends no workflow_run).
Verdict Gitea(const WebhookConfig& config, const HookRequest& req);
Verdict GitLab(const WebhookConfig& config, const HookRequest& req);

// Standard Webhooks (GitLab signing tokens): webhook-signature holds one or
// more "v1,<base64 HMAC-SHA256 of id.timestamp.body>", space separated.
bool StandardWebhookMatches(const HookRequest& req, std::string_view key, std::string& why);

}  // namespace jenky::hook
