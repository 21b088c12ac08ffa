// What the providers' readers (webhook.cc, forges.cc) share: reading a
// payload's fields, checking signatures, and Finish, which turns what a
// delivery asks for into a Verdict by the project's filters. Internal to
// src/webhook/; pure functions.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "webhook/webhook.h"

namespace jenky::hook {

std::string Lower(std::string_view s);
// "sha256=<hex>" (GitHub style) or bare hex, compared in constant time.
bool HexSignatureMatches(std::string_view header, std::string_view secret, std::string_view body);
// The string at PATH in J; "" when absent or not a string.
std::string Str(const nlohmann::json& j, std::initializer_list<const char*> path);
// True only for a JSON true at KEY: a payload is input, and "deleted": "yes"
// must read as not deleted rather than throw.
bool IsTrue(const nlohmann::json& j, const char* key);
std::string FirstOf(std::initializer_list<std::string> values);
Verdict Reject(VerdictKind kind, std::string reason);

// The message of commit COMMIT in a payload's "commits" array (GitLab,
// Gitea), else of its last entry; "" without one.
std::string CommitMessage(const nlohmann::json& j, const std::string& commit);
// Parses the JSON payload, from a JSON body or a form's `payload=` field.
bool ParsePayload(const HookRequest& req, nlohmann::json& out, std::string& why);
bool IsHexCommit(std::string_view s);

// Whether EVENT (as DeployableEvents spells it) is one the project deploys from.
bool EventAllowed(const WebhookConfig& config, const std::string& event);
Verdict IgnoredEvent(const WebhookConfig& config, const std::string& event,
                     const std::string& delivery);
Verdict Ignored(Verdict v, std::string reason);

// What a delivery asks for, read by its provider's reader.
enum class Ask {
  kPush,     // tags deploy only when `tags` lists them; branches by `branches`
  kRelease,  // a tag: `tags` filters when set, else every release deploys
  kCiGreen,  // a finished, successful CI run on a branch (or a tag, as kPush)
};

// Checks the values in V.trigger (ref, commit, actor, delivery), a deletion
// and the project's branch and tag filters; kDeploy with a reason that says
// what deploys, or why not. WHAT names the delivery in that reason ("push",
// "release v1.2", "workflow CI").
Verdict Finish(const WebhookConfig& config, Verdict v, Ask ask, const std::string& what);

}  // namespace jenky::hook
