// What a run's state change says, and to whom: the outbox messages
// (core/outbox_message.h) one change of a run causes under a configuration,
// rendered as each receiver wants them (docs/notifications.md).
//
// Pure functions of the configuration, the run and the time: no I/O, no
// secrets (the sender adds those, notify/outbound.h), unit-tested alone.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/outbox_message.h"
#include "core/run.h"

namespace jenky {

struct RenderContext {
  std::string base_url;  // public_url, else the bound address: links to the run page
  int64_t now = 0;       // unix ms
  // How the project's previous decisive run ended (succeeded or failed,
  // cancelled runs skipped); nullopt when unknown or none. Only asked for a
  // success: it makes "recovered".
  std::function<std::optional<RunStatus>()> previous_outcome;
  // Whether the run's GitHub deployment was already made (its
  // "deployment.create" message exists). Asked for a run past queued, with
  // deployments on: a run that started at once was never recorded queued,
  // so its first message makes the deployment. Unset: false.
  std::function<bool()> deployment_made;
};

// The messages RUN's new state causes (status: queued, running or final),
// ids unset (the outbox numbers them), in the order they must go: the
// commit status first, then notifications in [[notify]] order.
std::vector<OutboxMessage> MessagesFor(const Config& config, const Run& run,
                                       const RenderContext& ctx);

// The notify event RUN's state is (started, succeeded, failed, cancelled),
// or 0 for queued. "recovered" is decided by MessagesFor.
unsigned EventOf(RunStatus s);

// The repository a commit status goes to when [projects.X.status] names
// none: the path of the web address the webhook payload gave
// (Run::trigger.repo_url, "repository" in the Run JSON). GitHub and
// Gitea/Forgejo: its last two segments ("https://git.example.com/owner/name"
// is "owner/name"); GitLab: the path after the instance's own (api_url's
// path before /api/v4), nested groups kept ("group/sub/app"). "" when
// WEB_URL is not such an address.
std::string RepoFromWebUrl(const StatusConfig& status, std::string_view web_url);

// The run page: BASE_URL/runs/ID.
std::string RunPageUrl(const std::string& base_url, int64_t run_id);

// "app #42 failed after 1m 3s" and the details lines every message carries
// (project, run, result, duration, commit, actor, trigger, reason, link).
std::string Headline(const Run& run, std::string_view event_name);
std::vector<std::pair<std::string, std::string>> Details(const Run& run, const std::string& page);

}  // namespace jenky
