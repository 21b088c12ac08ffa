// GitHub's, Gitea's/Forgejo's and GitLab's deliveries: their signatures,
// their events and what each event's payload means (docs/webhooks.md,
// "Events"). Every field read here is one the forge documents.
#include "webhook/forges.h"

#include <fmt/format.h>

#include "config/webhook_events.h"
#include "util/hash.h"
#include "webhook/payload.h"

namespace jenky::hook {
namespace {

const nlohmann::json kNoObject = nlohmann::json::object();

const nlohmann::json& Object(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : kNoObject;
}

// A payload's text as it may appear in a reason (a header line): bounded.
std::string Short(std::string s) {
  if (s.size() > 100) s = s.substr(0, 97) + "...";
  return s;
}

bool Listed(const std::vector<std::string>& names, const std::string& name) {
  for (const auto& n : names) {
    if (n == name) return true;
  }
  return false;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// After the signature: the event filter and the payload. False when V holds
// the answer already.
bool Open(const WebhookConfig& config, const HookRequest& req, bool allowed,
          const std::string& event, const std::string& delivery, nlohmann::json& j, Verdict& v) {
  if (!allowed) {
    v = IgnoredEvent(config, event, delivery);
    return false;
  }
  std::string why;
  bool ok = ParsePayload(req, j, why);
  if (!ok) v = Reject(VerdictKind::kBadRequest, why);
  v.event = event;
  v.trigger.kind = TriggerKind::kWebhook;
  v.trigger.provider = config.provider;
  v.trigger.delivery = delivery;
  return ok;
}

// A push (GitHub, Gitea, Forgejo): for an annotated tag `after` is the tag
// object's id, and head_commit the commit it points to.
Verdict ReadPush(const WebhookConfig& config, const nlohmann::json& j, Verdict v) {
  v.trigger.ref = Str(j, {"ref"});
  std::string head = Str(j, {"head_commit", "id"});
  std::string after = Str(j, {"after"});
  bool tag = v.trigger.ref.rfind("refs/tags/", 0) == 0;
  v.trigger.commit = tag ? FirstOf({head, after}) : FirstOf({after, head});
  v.trigger.actor = FirstOf({Str(j, {"pusher", "name"}), Str(j, {"pusher", "login"}),
                             Str(j, {"pusher", "username"}), Str(j, {"sender", "login"})});
  if (IsTrue(j, "deleted") && after.empty()) v.trigger.commit = std::string(40, '0');
  v.trigger.message =
      FirstOf({Str(j, {"head_commit", "message"}), CommitMessage(j, v.trigger.commit)});
  return Finish(config, std::move(v), Ask::kPush, "push");
}

// A release (GitHub, Gitea, Forgejo): published deploys its tag. The payload
// names the tag, not its commit: target_commitish is a branch name unless
// the release was made at a commit, and only then is it JENKY_COMMIT.
Verdict ReadRelease(const WebhookConfig& config, const nlohmann::json& j, Verdict v) {
  const nlohmann::json& release = Object(j, "release");
  std::string action = Str(j, {"action"});
  std::string tag = Str(release, {"tag_name"});
  if (action != "published") {
    return Ignored(std::move(v), fmt::format("release {} was {}: only a published release deploys",
                                             Short(tag), Short(action)));
  }
  if (IsTrue(release, "draft")) {
    return Ignored(std::move(v), fmt::format("release {} is a draft", Short(tag)));
  }
  if (tag.empty()) return Reject(VerdictKind::kBadRequest, "release payload has no tag_name");
  v.trigger.ref = "refs/tags/" + tag;
  std::string target = Str(release, {"target_commitish"});
  if (target.size() == 40 && IsHexCommit(target)) v.trigger.commit = target;
  v.trigger.actor = FirstOf({Str(release, {"author", "login"}), Str(j, {"sender", "login"})});
  return Finish(config, std::move(v), Ask::kRelease, "release published");
}

// GitHub's workflow_run and check_suite (and Gitea's workflow_run, sent in
// GitHub's shape): a run that completed with success on one of the
// repository's own branches deploys its head commit.
Verdict ReadCiRun(const WebhookConfig& config, const nlohmann::json& j, Verdict v) {
  bool suite = v.event == "check_suite";
  const nlohmann::json& run = Object(j, suite ? "check_suite" : "workflow_run");
  std::string name = suite ? Str(run, {"app", "name"}) : Str(run, {"name"});
  std::string label = fmt::format("{} '{}'", suite ? "check suite" : "workflow", Short(name));
  std::string branch = Str(run, {"head_branch"});
  v.trigger.ref = branch.empty() ? "" : "refs/heads/" + branch;
  v.trigger.commit = Str(run, {"head_sha"});
  v.trigger.message = Str(run, {"head_commit", "message"});
  v.trigger.actor = FirstOf({Str(run, {"actor", "login"}), Str(run, {"triggering_actor", "login"}),
                             Str(j, {"sender", "login"})});
  std::string action = Str(j, {"action"});
  std::string on = branch.empty() ? "" : " on " + Short(branch);
  if (action != "completed") {
    return Ignored(std::move(v),
                   fmt::format("{}{} is {}: it deploys once it completes with success", label, on,
                               action.empty() ? "not completed" : Short(action)));
  }
  std::string conclusion = Str(run, {"conclusion"});
  if (conclusion != "success") {
    return Ignored(std::move(v), fmt::format("{}{} concluded {}: only success deploys", label, on,
                                             conclusion.empty() ? "nothing" : Short(conclusion)));
  }
  if (!config.workflows.empty() && !Listed(config.workflows, name)) {
    return Ignored(std::move(v),
                   fmt::format("{} is not one of workflows = [{}]", label, Join(config.workflows)));
  }
  std::string cause = Str(run, {"event"});
  std::string head_repo = Str(run, {"head_repository", "full_name"});
  std::string repo = Str(j, {"repository", "full_name"});
  if (cause.rfind("pull_request", 0) == 0 || (!head_repo.empty() && head_repo != repo)) {
    return Ignored(std::move(v), fmt::format("{} ran for a pull request{}: only runs on the "
                                             "repository's own branches deploy",
                                             label, head_repo != repo ? " from a fork" : ""));
  }
  if (branch.empty()) {
    return Ignored(std::move(v), fmt::format("{} names no branch (a pull request from a fork?); "
                                             "only runs on the repository's own branches deploy",
                                             label));
  }
  return Finish(config, std::move(v), Ask::kCiGreen, label + " succeeded");
}

}  // namespace

Verdict GitHub(const WebhookConfig& config, const HookRequest& req) {
  std::string delivery = req.header("x-github-delivery");
  auto refuse = [&](std::string why) {
    Verdict v = Reject(VerdictKind::kUnauthorized, std::move(why));
    v.trigger.delivery = delivery;
    return v;
  };
  std::string sig = req.header("x-hub-signature-256");
  if (sig.empty()) {
    return refuse("missing X-Hub-Signature-256 header (set a secret on the GitHub webhook)");
  }
  if (!HexSignatureMatches(sig, config.secret, req.body)) {
    return refuse("X-Hub-Signature-256 does not match");
  }
  std::string event = req.header("x-github-event");
  if (event == "ping") {
    Verdict v = Reject(VerdictKind::kPing, "ping");
    v.event = event;
    v.trigger.delivery = delivery;
    return v;
  }
  if (event.empty()) return Reject(VerdictKind::kBadRequest, "missing X-GitHub-Event header");
  nlohmann::json j;
  Verdict v;
  if (!Open(config, req, EventAllowed(config, event), event, delivery, j, v)) return v;
  v.trigger.repo_url = Str(j, {"repository", "html_url"});
  if (event == "push") return ReadPush(config, j, std::move(v));
  if (event == "release") return ReadRelease(config, j, std::move(v));
  if (event == "workflow_run" || event == "check_suite") return ReadCiRun(config, j, std::move(v));
  return IgnoredEvent(config, event, delivery);  // "*" lets it through; it means nothing here
}

Verdict Gitea(const WebhookConfig& config, const HookRequest& req) {
  std::string delivery =
      FirstOf({req.header("x-forgejo-delivery"), req.header("x-gitea-delivery")});
  auto refuse = [&](std::string why) {
    Verdict v = Reject(VerdictKind::kUnauthorized, std::move(why));
    v.trigger.delivery = delivery;
    return v;
  };
  // Forgejo sends both its own and Gitea's headers; Gitea only its own.
  std::string sig = FirstOf({req.header("x-forgejo-signature"), req.header("x-gitea-signature")});
  if (sig.empty()) {
    return refuse(
        "missing X-Gitea-Signature / X-Forgejo-Signature header (set a secret on the webhook)");
  }
  if (!HexSignatureMatches(sig, config.secret, req.body)) {
    return refuse("webhook signature does not match");
  }
  std::string event = FirstOf({req.header("x-forgejo-event"), req.header("x-gitea-event")});
  if (event.empty()) return Reject(VerdictKind::kBadRequest, "missing X-Gitea-Event header");
  nlohmann::json j;
  Verdict v;
  if (!Open(config, req, EventAllowed(config, event), event, delivery, j, v)) return v;
  v.trigger.repo_url = Str(j, {"repository", "html_url"});
  bool ci = event == "workflow_run" && config.provider == "gitea";
  if (event == "push") return ReadPush(config, j, std::move(v));
  if (event == "release") return ReadRelease(config, j, std::move(v));
  if (ci) return ReadCiRun(config, j, std::move(v));
  return IgnoredEvent(config, event, delivery);
}

namespace {

// A Pipeline Hook: a pipeline whose status is success deploys its commit,
// on its branch or (object_attributes.tag) its tag.
Verdict ReadPipeline(const WebhookConfig& config, const nlohmann::json& j, Verdict v) {
  const nlohmann::json& p = Object(j, "object_attributes");
  std::string name = Str(p, {"name"});
  std::string label = name.empty() ? "pipeline" : fmt::format("pipeline '{}'", Short(name));
  std::string ref = Str(p, {"ref"});
  if (!ref.empty()) v.trigger.ref = (IsTrue(p, "tag") ? "refs/tags/" : "refs/heads/") + ref;
  v.trigger.commit = Str(p, {"sha"});
  v.trigger.message = Str(j, {"commit", "message"});
  v.trigger.actor = FirstOf({Str(j, {"user", "username"}), Str(j, {"user", "name"})});
  std::string status = Str(p, {"status"});
  std::string on = ref.empty() ? "" : " on " + Short(ref);
  if (status != "success") {
    return Ignored(std::move(v), fmt::format("{}{} is {}: only success deploys", label, on,
                                             status.empty() ? "without a status" : Short(status)));
  }
  if (!config.workflows.empty() && !Listed(config.workflows, name)) {
    return Ignored(
        std::move(v),
        fmt::format("{} is not one of workflows = [{}]{}", label, Join(config.workflows),
                    name.empty() ? " (GitLab names a pipeline with workflow:name)" : ""));
  }
  std::string source = Str(p, {"source"});
  auto mr = j.find("merge_request");
  if (source.find("merge_request") != std::string::npos ||
      source == "external_pull_request_event" || (mr != j.end() && mr->is_object())) {
    return Ignored(std::move(v), fmt::format("{} ran for a merge request: only pipelines of the "
                                             "project's own branches and tags deploy",
                                             label));
  }
  return Finish(config, std::move(v), Ask::kCiGreen, label + " succeeded");
}

}  // namespace

Verdict GitLab(const WebhookConfig& config, const HookRequest& req) {
  std::string delivery = FirstOf({req.header("x-gitlab-event-uuid"), req.header("webhook-id")});
  auto refuse = [&](std::string why) {
    Verdict v = Reject(VerdictKind::kUnauthorized, std::move(why));
    v.trigger.delivery = delivery;
    return v;
  };
  if (!config.secret.empty()) {
    std::string token = req.header("x-gitlab-token");
    if (token.empty()) {
      return refuse("missing X-Gitlab-Token header (set the secret token on the GitLab webhook)");
    }
    // Compare digests: equal length whatever was sent, so timing says nothing.
    if (!ConstantTimeEquals(Sha256Hex(token), Sha256Hex(config.secret))) {
      return refuse("X-Gitlab-Token does not match");
    }
  }
  if (!config.signing_key.empty()) {
    std::string why;
    if (!StandardWebhookMatches(req, config.signing_key, why)) return refuse(why);
  }
  std::string event = req.header("x-gitlab-event");
  if (event.empty()) return Reject(VerdictKind::kBadRequest, "missing X-Gitlab-Event header");
  // A tag push deploys when tags are configured and the webhook takes pushes.
  bool allowed = EventAllowed(config, event) || (event == "Tag Push Hook" && !config.tags.empty() &&
                                                 EventAllowed(config, "Push Hook"));
  nlohmann::json j;
  Verdict v;
  if (!Open(config, req, allowed, event, delivery, j, v)) return v;
  v.trigger.repo_url =
      FirstOf({Str(j, {"project", "web_url"}), Str(j, {"repository", "homepage"})});
  if (event == "Pipeline Hook") return ReadPipeline(config, j, std::move(v));
  if (event != "Push Hook" && event != "Tag Push Hook")
    return IgnoredEvent(config, event, delivery);
  v.trigger.ref = Str(j, {"ref"});
  std::string after = Str(j, {"after"});
  std::string checkout = Str(j, {"checkout_sha"});
  // Tag Push Hook: `after` is the tag object's id, checkout_sha its commit.
  v.trigger.commit =
      event == "Tag Push Hook" ? FirstOf({checkout, after}) : FirstOf({after, checkout});
  v.trigger.actor = FirstOf({Str(j, {"user_username"}), Str(j, {"user_name"})});
  v.trigger.message = CommitMessage(j, v.trigger.commit);
  return Finish(config, std::move(v), Ask::kPush, "push");
}

}  // namespace jenky::hook
