// The events each forge sends that jenky deploys from, as written in
// `[projects.X.webhook] events` (docs/webhooks.md, "Events"): the one list
// `jenky check` validates against and the webhook code reads. Pure; any
// thread.
//
// Names are the forges' own: GitHub's and Gitea's `X-GitHub-Event` /
// `X-Gitea-Event` values ("push", "release", "workflow_run"), GitLab's
// `X-Gitlab-Event` values ("Push Hook", "Tag Push Hook", "Pipeline Hook").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/webhook_provider.h"

namespace jenky {

// What an event means to jenky.
enum class HookEvent {
  kPush,     // a branch or tag moved: deploy its new head (tags only with `tags`)
  kRelease,  // a release was published: deploy its tag
  kCiGreen,  // a CI run finished: deploy its head commit if it succeeded
};

struct HookEventName {
  const char* name;
  HookEvent meaning;
};

// The events P deploys from; empty for generic (any X-Jenky-Event name).
std::vector<HookEventName> DeployableEvents(WebhookProvider p);
// The event P's webhooks are subscribed to by default ("push", GitLab's "Push Hook").
const char* DefaultEvent(WebhookProvider p);
// NAME as DeployableEvents spells it: GitLab's older short names ("push",
// "tag_push", "pipeline") become "Push Hook", "Tag Push Hook", "Pipeline Hook";
// anything else is returned unchanged.
std::string CanonicalEvent(WebhookProvider p, std::string_view name);
// "" when NAME is an event P deploys from ("*": all of them); else what is
// wrong, with the nearest known name when there is one close enough.
std::string EventProblem(WebhookProvider p, std::string_view name);

}  // namespace jenky
