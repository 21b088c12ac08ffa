#include "webhook/webhook.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "config/webhook_provider.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/url.h"
#include "webhook/forges.h"
#include "webhook/payload.h"

namespace jenky {

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string StandardWebhookSignature(std::string_view key, std::string_view id,
                                     std::string_view timestamp, std::string_view body) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  std::string signed_content = fmt::format("{}.{}.{}", id, timestamp, body);
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(signed_content.data()), signed_content.size(), md,
       &len);
  return "v1," + Base64Encode(std::string_view(reinterpret_cast<char*>(md), len));
}

bool GlobMatch(std::string_view p, std::string_view t) {
  if (p.empty()) return t.empty();
  if (p.substr(0, 2) == "**") {
    std::string_view rest = p.substr(2);
    for (size_t i = 0; i <= t.size(); ++i) {
      if (GlobMatch(rest, t.substr(i))) return true;
    }
    return false;
  }
  if (p[0] == '*') {
    std::string_view rest = p.substr(1);
    for (size_t i = 0; i <= t.size(); ++i) {
      if (GlobMatch(rest, t.substr(i))) return true;
      if (i < t.size() && t[i] == '/') break;
    }
    return false;
  }
  if (t.empty()) return false;
  if (p[0] == '?' ? t[0] != '/' : p[0] == t[0]) return GlobMatch(p.substr(1), t.substr(1));
  return false;
}

namespace hook {

constexpr int64_t kSignatureToleranceSeconds = 300;

bool StandardWebhookMatches(const HookRequest& req, std::string_view key, std::string& why) {
  std::string id = req.header("webhook-id");
  std::string ts = req.header("webhook-timestamp");
  std::string sigs = req.header("webhook-signature");
  if (id.empty() || ts.empty() || sigs.empty()) {
    why = "missing webhook-id, webhook-timestamp or webhook-signature header";
    return false;
  }
  char* end = nullptr;
  long long t = std::strtoll(ts.c_str(), &end, 10);
  if (*end != '\0' || std::llabs(req.now_unix_seconds - t) > kSignatureToleranceSeconds) {
    why = "webhook-timestamp is more than 5 minutes away from this server's clock";
    return false;
  }
  std::string expected = StandardWebhookSignature(key, id, ts, req.body);
  bool ok = false;
  size_t pos = 0;
  while (pos < sigs.size()) {
    size_t sp = sigs.find(' ', pos);
    if (sp == std::string::npos) sp = sigs.size();
    if (ConstantTimeEquals(std::string_view(sigs).substr(pos, sp - pos), expected)) ok = true;
    pos = sp + 1;
  }
  if (!ok) why = "webhook-signature does not match";
  return ok;
}

}  // namespace hook

std::string RefProblem(std::string_view ref) {
  static constexpr std::string_view kShell = "$`;|&<>(){}'\"\\!*?[]~^ \t";
  size_t at = ref.find_first_of(kShell);
  if (at != std::string_view::npos) {
    return fmt::format(
        "ref '{}' holds '{}', which a shell acts on; jenky refuses such refs so a "
        "script that uses $JENKY_REF unquoted cannot be made to run them",
        ref, ref[at] == '\t' ? std::string("\\t") : std::string(1, ref[at]));
  }
  for (size_t start = 0; start < ref.size();) {
    if (ref[start] == '-') {
      return fmt::format(
          "ref '{}' has a part that starts with '-', which git and other commands "
          "would take for an option; jenky refuses such refs",
          ref);
    }
    size_t slash = ref.find('/', start);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return "";
}

namespace {

using namespace hook;

Verdict Generic(const WebhookConfig& config, const HookRequest& req) {
  std::string auth = req.header("authorization");
  std::string sig = FirstOf({req.header("x-jenky-signature-256"), req.header("x-hub-signature-256"),
                             req.header("x-signature-256")});
  if (auth.size() > 7 && Lower(auth.substr(0, 7)) == "bearer ") {
    if (!ConstantTimeEquals(Sha256Hex(auth.substr(7)), Sha256Hex(config.secret))) {
      return Reject(VerdictKind::kUnauthorized, "bearer token does not match");
    }
  } else if (!sig.empty()) {
    if (!HexSignatureMatches(sig, config.secret, req.body)) {
      return Reject(VerdictKind::kUnauthorized, "signature does not match");
    }
  } else {
    return Reject(VerdictKind::kUnauthorized,
                  "send Authorization: Bearer SECRET or X-Jenky-Signature-256: sha256=HMAC");
  }
  std::string event = FirstOf({req.header("x-jenky-event"), "push"});
  std::string delivery = FirstOf({req.header("x-jenky-delivery"), req.header("x-request-id")});
  if (!config.events.empty() && !EventAllowed(config, event)) {
    return IgnoredEvent(config, event, delivery);
  }
  nlohmann::json j = nlohmann::json::object();
  if (req.body.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    std::string why;
    if (!ParsePayload(req, j, why)) return Reject(VerdictKind::kBadRequest, why);
  }
  auto q = [&](const char* key) {
    auto it = req.query.find(key);
    return it == req.query.end() ? std::string() : it->second;
  };
  Verdict v;
  v.event = event;
  v.trigger.kind = TriggerKind::kWebhook;
  v.trigger.provider = WebhookProviderName(WebhookProvider::kGeneric);
  v.trigger.ref = FirstOf({q("ref"), Str(j, {"ref"})});
  if (v.trigger.ref.empty()) {
    std::string branch = FirstOf({q("branch"), Str(j, {"branch"})});
    if (!branch.empty()) v.trigger.ref = "refs/heads/" + branch;
  }
  v.trigger.commit = FirstOf({q("commit"), Str(j, {"commit"}), Str(j, {"after"})});
  v.trigger.actor = FirstOf({q("actor"), Str(j, {"actor"})});
  v.trigger.repo_url = FirstOf({Str(j, {"repository_url"}), Str(j, {"repository", "html_url"})});
  v.trigger.message = Str(j, {"message"});
  v.trigger.delivery = FirstOf({req.header("x-jenky-delivery"), req.header("x-request-id"),
                                q("delivery"), Str(j, {"delivery"})});
  return Finish(config, std::move(v), Ask::kPush, event);
}

}  // namespace

void ReadDeliveryHeaders(const WebhookConfig& config, const HookRequest& req, std::string& event,
                         std::string& delivery) {
  switch (ParseWebhookProvider(config.provider).value_or(WebhookProvider::kGeneric)) {
    case WebhookProvider::kGitHub:
      event = req.header("x-github-event");
      delivery = req.header("x-github-delivery");
      return;
    case WebhookProvider::kGitea:
    case WebhookProvider::kForgejo:
      event = FirstOf({req.header("x-forgejo-event"), req.header("x-gitea-event")});
      delivery = FirstOf({req.header("x-forgejo-delivery"), req.header("x-gitea-delivery")});
      return;
    case WebhookProvider::kGitLab:
      event = req.header("x-gitlab-event");
      delivery = FirstOf({req.header("x-gitlab-event-uuid"), req.header("webhook-id")});
      return;
    case WebhookProvider::kGeneric: break;
  }
  event = FirstOf({req.header("x-jenky-event"), "push"});
  delivery = FirstOf({req.header("x-jenky-delivery"), req.header("x-request-id")});
}

bool IsRetry(const Run& earlier, int64_t now_ms) {
  return !IsFinished(earlier.status) || now_ms - earlier.created_at < kRetryWindowMs;
}

Verdict EvaluateDelivery(const WebhookConfig& config, const HookRequest& req) {
  switch (ParseWebhookProvider(config.provider).value_or(WebhookProvider::kGeneric)) {
    case WebhookProvider::kGitHub: return hook::GitHub(config, req);
    case WebhookProvider::kGitea:
    case WebhookProvider::kForgejo: return hook::Gitea(config, req);
    case WebhookProvider::kGitLab: return hook::GitLab(config, req);
    case WebhookProvider::kGeneric: break;
  }
  return Generic(config, req);
}

}  // namespace jenky
