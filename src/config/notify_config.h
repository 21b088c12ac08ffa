// Where a run's outcome goes besides the run page (docs/notifications.md):
// `[[notify]]` receivers (a signed JSON webhook, Slack or Mattermost,
// Discord, ntfy, email), global or under a project, each for the events it
// lists in `on`; and a project's commit status on its forge
// (`[projects.X.status]`: GitHub, Gitea/Forgejo, GitLab).
//
// The types; config.h holds them (Config::notify, ProjectConfig::status) and
// config/notify_load.h loads them. Secrets
// (a URL from url_env, secret_env, password_env, token_env) are read from the
// environment when the config loads, kept in the Config value only, and never
// shown: the outbox adds them to a message when it sends it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/duration.h"

namespace jenky {

enum class NotifyKind { kWebhook, kSlack, kDiscord, kNtfy, kEmail };
const char* NotifyKindName(NotifyKind k);
std::optional<NotifyKind> ParseNotifyKind(std::string_view name);

// The events a receiver can ask for (`on`). "failed" covers failed,
// timed_out and interrupted runs; "recovered" is the first success after
// one of those (a receiver that asks for both succeeded and recovered gets
// one message, run.recovered).
enum NotifyEvent : unsigned {
  kOnStarted = 1,
  kOnSucceeded = 2,
  kOnFailed = 4,
  kOnRecovered = 8,
  kOnCancelled = 16,
};
const char* NotifyEventName(NotifyEvent e);
std::optional<NotifyEvent> ParseNotifyEvent(std::string_view name);

// How long the outbox tries one receiver: each attempt, and in all; and
// whom it trusts for TLS.
struct DeliveryLimits {
  Millis timeout = std::chrono::seconds(10);
  Millis give_up_after = std::chrono::hours(24);
  // PEM CA certificates to verify the receiver with instead of the system's
  // (a forge behind a private CA); absolute; "" = the system's trust store.
  std::string ca_file;
};

struct NotifyConfig {
  std::string name;  // unique among [[notify]]: `name`, else KIND, or KIND-N if repeated
  NotifyKind kind = NotifyKind::kWebhook;
  std::string url;      // resolved from url or url_env (email: smtp_url)
  std::string url_env;  // set: the URL is a secret (a Slack hook), never shown
  std::string secret;   // webhook: Standard Webhooks key bytes ("whsec_" decoded)
  std::string secret_env;
  unsigned on = kOnFailed | kOnRecovered;
  std::vector<std::string> projects;  // empty = every project
  // email
  std::string from;
  std::vector<std::string> to;
  std::string username;
  std::string password;
  std::string password_env;
  bool starttls = true;  // smtp:// upgrades with STARTTLS (required unless false)
  DeliveryLimits limits;

  bool Wants(const std::string& project) const;
  std::string receiver() const { return "notify:" + name; }
};

enum class StatusProvider { kGitHub, kGitea, kGitLab };
const char* StatusProviderName(StatusProvider p);

struct StatusConfig {
  StatusProvider provider = StatusProvider::kGitHub;
  std::string api_url;  // no trailing slash: https://api.github.com, .../api/v1, .../api/v4
  std::string repo;     // owner/name (GitLab: the project's path or numeric id)
  std::string token;
  std::string token_env;
  std::string context = "jenky/deploy";
  // GitHub only: also a deployment (Deployments API) per run with a commit,
  // in ENVIRONMENT, its statuses (in_progress, then success, failure or
  // error) linking to the run page as log_url. Receiver "deploy:PROJECT".
  bool deployments = false;
  std::string environment = "production";
  DeliveryLimits limits;
};

}  // namespace jenky
