#include "config/webhook_events.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "util/nearest_name.h"

namespace jenky {
namespace {

// Events the forges send that do not deploy: named so that a config listing
// one is told why, and so that a typo of one is not "corrected" into an
// event that deploys.
constexpr const char* kGitHubOthers[] = {"check_run",
                                         "create",
                                         "delete",
                                         "deployment",
                                         "deployment_status",
                                         "fork",
                                         "gollum",
                                         "issues",
                                         "issue_comment",
                                         "label",
                                         "member",
                                         "milestone",
                                         "package",
                                         "ping",
                                         "pull_request",
                                         "pull_request_review",
                                         "registry_package",
                                         "repository",
                                         "star",
                                         "status",
                                         "watch",
                                         "workflow_dispatch",
                                         "workflow_job"};
constexpr const char* kGiteaOthers[] = {"create",        "delete",       "fork",        "issues",
                                        "issue_comment", "pull_request", "repository",  "wiki",
                                        "package",       "status",       "workflow_job"};
constexpr const char* kGitLabOthers[] = {
    "Issue Hook",         "Confidential Issue Hook", "Note Hook",    "Confidential Note Hook",
    "Merge Request Hook", "Wiki Page Hook",          "Job Hook",     "Deployment Hook",
    "Release Hook",       "Feature Flag Hook",       "Member Hook",  "Subgroup Hook",
    "Emoji Hook",         "Milestone Hook",          "Project Hook", "Resource Access Token Hook"};

std::vector<std::string> Others(WebhookProvider p) {
  std::vector<std::string> out;
  auto add = [&](const auto& list) {
    for (const char* n : list) out.emplace_back(n);
  };
  switch (p) {
    case WebhookProvider::kGitHub: add(kGitHubOthers); break;
    case WebhookProvider::kGitea:
    case WebhookProvider::kForgejo: add(kGiteaOthers); break;
    case WebhookProvider::kGitLab: add(kGitLabOthers); break;
    case WebhookProvider::kGeneric: break;
  }
  return out;
}

std::string List(const std::vector<HookEventName>& events) {
  std::string out;
  for (const auto& e : events) out += fmt::format("{}\"{}\"", out.empty() ? "" : ", ", e.name);
  return out;
}

}  // namespace

std::vector<HookEventName> DeployableEvents(WebhookProvider p) {
  switch (p) {
    case WebhookProvider::kGitHub:
      return {{"push", HookEvent::kPush},
              {"release", HookEvent::kRelease},
              {"workflow_run", HookEvent::kCiGreen},
              {"check_suite", HookEvent::kCiGreen}};
    case WebhookProvider::kGitea:
      return {{"push", HookEvent::kPush},
              {"release", HookEvent::kRelease},
              {"workflow_run", HookEvent::kCiGreen}};
    case WebhookProvider::kForgejo:
      return {{"push", HookEvent::kPush}, {"release", HookEvent::kRelease}};
    case WebhookProvider::kGitLab:
      return {{"Push Hook", HookEvent::kPush},
              {"Tag Push Hook", HookEvent::kPush},
              {"Pipeline Hook", HookEvent::kCiGreen}};
    case WebhookProvider::kGeneric: break;
  }
  return {};
}

const char* DefaultEvent(WebhookProvider p) {
  return p == WebhookProvider::kGitLab ? "Push Hook" : "push";
}

std::string CanonicalEvent(WebhookProvider p, std::string_view name) {
  if (p == WebhookProvider::kGitLab) {
    if (name == "push") return "Push Hook";
    if (name == "tag_push") return "Tag Push Hook";
    if (name == "pipeline") return "Pipeline Hook";
  }
  return std::string(name);
}

std::string EventProblem(WebhookProvider p, std::string_view name) {
  if (p == WebhookProvider::kGeneric || name == "*") return "";
  std::vector<HookEventName> deployable = DeployableEvents(p);
  std::string canonical = CanonicalEvent(p, name);
  for (const auto& e : deployable) {
    if (canonical == e.name) return "";
  }
  const char* provider = WebhookProviderName(p);
  std::vector<std::string> others = Others(p);
  if (std::find(others.begin(), others.end(), canonical) != others.end()) {
    return fmt::format("{} event \"{}\" does not deploy anything; {} events that deploy: {}",
                       provider, name, provider, List(deployable));
  }
  std::vector<std::string> names;
  for (const auto& e : deployable) names.emplace_back(e.name);
  names.insert(names.end(), others.begin(), others.end());
  std::string nearest = NearestName(name, names);
  std::string hint = nearest.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", nearest);
  return fmt::format("unknown {} event \"{}\"{}; {} events that deploy: {}", provider, name, hint,
                     provider, List(deployable));
}

}  // namespace jenky
