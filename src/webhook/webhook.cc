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

namespace jenky {

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
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

namespace {

constexpr int64_t kSignatureToleranceSeconds = 300;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "sha256=<hex>" (GitHub style) or bare hex, compared in constant time.
bool HexSignatureMatches(std::string_view header, std::string_view secret, std::string_view body) {
  std::string_view sig = header;
  if (sig.rfind("sha256=", 0) == 0) sig.remove_prefix(7);
  if (sig.size() != 64) return false;
  return ConstantTimeEquals(Lower(sig), HmacSha256Hex(secret, body));
}

// Standard Webhooks (GitLab signing tokens): webhook-signature holds one or
// more "v1,<base64 HMAC-SHA256 of id.timestamp.body>", space separated.
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
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  std::string signed_content = id + "." + ts + "." + std::string(req.body);
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(signed_content.data()), signed_content.size(), md,
       &len);
  std::string expected = "v1," + Base64Encode(std::string_view(reinterpret_cast<char*>(md), len));
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

bool AllZeros(std::string_view s) {
  return !s.empty() && s.find_first_not_of('0') == std::string_view::npos;
}

bool Printable(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::string Str(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* cur = &j;
  for (const char* key : path) {
    if (!cur->is_object()) return "";
    auto it = cur->find(key);
    if (it == cur->end()) return "";
    cur = &*it;
  }
  return cur->is_string() ? cur->get<std::string>() : "";
}

// True only for a JSON true at `key`: a forge's payload is input, and a
// "deleted": "yes" must read as not deleted rather than throw.
bool IsTrue(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::string FirstOf(std::initializer_list<std::string> values) {
  for (const auto& v : values) {
    if (!v.empty()) return v;
  }
  return "";
}

// The message of the commit COMMIT in a payload's "commits" array (GitLab,
// Gitea), else of its last entry.
std::string CommitMessage(const nlohmann::json& j, const std::string& commit) {
  auto it = j.find("commits");
  if (it == j.end() || !it->is_array() || it->empty()) return "";
  for (const auto& c : *it) {
    if (Str(c, {"id"}) == commit) return Str(c, {"message"});
  }
  return Str(it->back(), {"message"});
}

Verdict Reject(VerdictKind kind, std::string reason) {
  Verdict v;
  v.kind = kind;
  v.reason = std::move(reason);
  return v;
}

// Parses the JSON payload, from a JSON body or a form's `payload=` field.
bool ParsePayload(const HookRequest& req, nlohmann::json& out, std::string& why) {
  std::string_view body = req.body;
  std::string form_payload;
  std::string type = Lower(req.header("content-type"));
  if (type.rfind("application/x-www-form-urlencoded", 0) == 0) {
    auto fields = ParseQuery(body);
    auto it = fields.find("payload");
    if (it == fields.end()) {
      why = "form body has no payload= field";
      return false;
    }
    form_payload = it->second;
    body = form_payload;
  }
  if (JsonNestedDeeperThan(body, req.max_json_depth)) {
    why = fmt::format(
        "payload nests arrays and objects more than {} levels deep "
        "([server] max_json_depth)",
        req.max_json_depth);
    return false;
  }
  try {
    out = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {  // parse_error; out_of_range: huge numbers
    why = fmt::format("payload is not valid JSON: {}", e.what());
    return false;
  }
  if (!out.is_object()) {
    why = "payload must be a JSON object";
    return false;
  }
  return true;
}

}  // namespace

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

// Applies the deletion, branch and value checks common to every provider.
Verdict Finish(const WebhookConfig& config, Verdict v) {
  Trigger& t = v.trigger;
  if (t.ref.rfind("refs/heads/", 0) == 0) t.branch = t.ref.substr(11);
  if (t.ref.size() > 255 || !Printable(t.ref)) {
    return Reject(VerdictKind::kBadRequest, "ref must be at most 255 printable characters");
  }
  if (std::string why = RefProblem(t.ref); !why.empty()) {
    return Reject(VerdictKind::kBadRequest, why);
  }
  if (t.actor.size() > 255 || !Printable(t.actor)) t.actor.clear();
  // Shown as a link in the UI: only a plain http(s) address.
  if (t.repo_url.size() > 512 || !Printable(t.repo_url) ||
      !(t.repo_url.rfind("https://", 0) == 0 || t.repo_url.rfind("http://", 0) == 0)) {
    t.repo_url.clear();
  }
  if (t.message.size() > 2000) t.message.resize(2000);
  for (char& c : t.message) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') c = ' ';
  }
  if (t.delivery.size() > 128 || !Printable(t.delivery)) {
    return Reject(VerdictKind::kBadRequest, "delivery id must be at most 128 printable characters");
  }
  if (AllZeros(t.commit)) {
    v.kind = VerdictKind::kIgnored;
    v.reason = t.branch.empty() ? fmt::format("{} was deleted", t.ref)
                                : fmt::format("branch {} was deleted", t.branch);
    return v;
  }
  if (!t.commit.empty() &&
      (t.commit.size() < 4 || t.commit.size() > 64 ||
       t.commit.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)) {
    return Reject(VerdictKind::kBadRequest, "commit must be a hex commit id of 4 to 64 digits");
  }
  if (!config.branches.empty()) {
    std::string list;
    for (const auto& b : config.branches) list += (list.empty() ? "" : ", ") + b;
    if (t.branch.empty()) {
      v.kind = VerdictKind::kIgnored;
      v.reason = fmt::format("{} is not a branch; branches = [{}]",
                             t.ref.empty() ? "the delivery names no ref and" : t.ref, list);
      return v;
    }
    bool match = false;
    for (const auto& pattern : config.branches) match = match || GlobMatch(pattern, t.branch);
    if (!match) {
      v.kind = VerdictKind::kIgnored;
      v.reason = fmt::format("branch {} does not match branches = [{}]", t.branch, list);
      return v;
    }
  }
  v.kind = VerdictKind::kDeploy;
  return v;
}

bool EventAllowed(const WebhookConfig& config, const std::string& event) {
  if (config.events.empty()) return event == "push";
  for (const auto& e : config.events) {
    if (e == event || e == "*") return true;
  }
  return false;
}

Verdict IgnoredEvent(const WebhookConfig& config, const std::string& event) {
  std::string list;
  for (const auto& e : config.events) list += (list.empty() ? "" : ", ") + e;
  Verdict v = Reject(VerdictKind::kIgnored, fmt::format("event '{}' does not deploy; events = [{}]",
                                                        event, list.empty() ? "push" : list));
  v.event = event;
  return v;
}

// The part every forge's push shares: the event filter, the JSON payload and
// the verdict's common fields. False when V already holds the answer.
bool ReadPush(const WebhookConfig& config, const HookRequest& req, const std::string& event,
              const std::string& provider, const std::string& delivery, nlohmann::json& j,
              Verdict& v) {
  if (!EventAllowed(config, event)) {
    v = IgnoredEvent(config, event);
    return false;
  }
  std::string why;
  if (!ParsePayload(req, j, why)) {
    v = Reject(VerdictKind::kBadRequest, why);
    return false;
  }
  v.event = event;
  v.trigger.kind = TriggerKind::kWebhook;
  v.trigger.provider = provider;
  v.trigger.delivery = delivery;
  v.trigger.ref = Str(j, {"ref"});
  return true;
}

Verdict GitHub(const WebhookConfig& config, const HookRequest& req) {
  std::string sig = req.header("x-hub-signature-256");
  if (sig.empty()) {
    return Reject(VerdictKind::kUnauthorized,
                  "missing X-Hub-Signature-256 header (set a secret "
                  "on the GitHub webhook)");
  }
  if (!HexSignatureMatches(sig, config.secret, req.body)) {
    return Reject(VerdictKind::kUnauthorized, "X-Hub-Signature-256 does not match");
  }
  std::string event = req.header("x-github-event");
  std::string delivery = req.header("x-github-delivery");
  if (event == "ping") {
    Verdict v = Reject(VerdictKind::kPing, "ping");
    v.event = event;
    v.trigger.delivery = delivery;
    return v;
  }
  if (event.empty()) return Reject(VerdictKind::kBadRequest, "missing X-GitHub-Event header");
  nlohmann::json j;
  Verdict v;
  if (!ReadPush(config, req, event, "github", delivery, j, v)) return v;
  v.trigger.commit = FirstOf({Str(j, {"after"}), Str(j, {"head_commit", "id"})});
  v.trigger.actor = FirstOf({Str(j, {"pusher", "name"}), Str(j, {"sender", "login"})});
  v.trigger.repo_url = Str(j, {"repository", "html_url"});
  v.trigger.message = Str(j, {"head_commit", "message"});
  if (IsTrue(j, "deleted") && v.trigger.commit.empty()) v.trigger.commit = std::string(40, '0');
  return Finish(config, std::move(v));
}

Verdict Gitea(const WebhookConfig& config, const HookRequest& req) {
  // Forgejo sends both its own and Gitea's headers; Gitea only its own.
  std::string sig = FirstOf({req.header("x-forgejo-signature"), req.header("x-gitea-signature")});
  if (sig.empty()) {
    return Reject(VerdictKind::kUnauthorized,
                  "missing X-Gitea-Signature / X-Forgejo-Signature "
                  "header (set a secret on the webhook)");
  }
  if (!HexSignatureMatches(sig, config.secret, req.body)) {
    return Reject(VerdictKind::kUnauthorized, "webhook signature does not match");
  }
  std::string event = FirstOf({req.header("x-forgejo-event"), req.header("x-gitea-event")});
  std::string delivery =
      FirstOf({req.header("x-forgejo-delivery"), req.header("x-gitea-delivery")});
  if (event.empty()) return Reject(VerdictKind::kBadRequest, "missing X-Gitea-Event header");
  nlohmann::json j;
  Verdict v;
  if (!ReadPush(config, req, event, config.provider, delivery, j, v)) return v;
  v.trigger.commit = Str(j, {"after"});
  v.trigger.actor = FirstOf(
      {Str(j, {"pusher", "login"}), Str(j, {"pusher", "username"}), Str(j, {"sender", "login"})});
  v.trigger.repo_url = Str(j, {"repository", "html_url"});
  v.trigger.message =
      FirstOf({Str(j, {"head_commit", "message"}), CommitMessage(j, v.trigger.commit)});
  return Finish(config, std::move(v));
}

Verdict GitLab(const WebhookConfig& config, const HookRequest& req) {
  if (!config.secret.empty()) {
    std::string token = req.header("x-gitlab-token");
    if (token.empty()) {
      return Reject(VerdictKind::kUnauthorized,
                    "missing X-Gitlab-Token header (set the secret "
                    "token on the GitLab webhook)");
    }
    // Compare digests: equal length whatever was sent, so timing says nothing.
    if (!ConstantTimeEquals(Sha256Hex(token), Sha256Hex(config.secret))) {
      return Reject(VerdictKind::kUnauthorized, "X-Gitlab-Token does not match");
    }
  }
  if (!config.signing_key.empty()) {
    std::string why;
    if (!StandardWebhookMatches(req, config.signing_key, why)) {
      return Reject(VerdictKind::kUnauthorized, why);
    }
  }
  std::string raw_event = req.header("x-gitlab-event");
  std::string event = raw_event == "Push Hook"       ? "push"
                      : raw_event == "Tag Push Hook" ? "tag_push"
                                                     : raw_event;
  std::string delivery = FirstOf({req.header("x-gitlab-event-uuid"), req.header("webhook-id")});
  if (event.empty()) return Reject(VerdictKind::kBadRequest, "missing X-Gitlab-Event header");
  nlohmann::json j;
  Verdict v;
  if (!ReadPush(config, req, event, "gitlab", delivery, j, v)) return v;
  v.trigger.commit = FirstOf({Str(j, {"after"}), Str(j, {"checkout_sha"})});
  v.trigger.actor = FirstOf({Str(j, {"user_username"}), Str(j, {"user_name"})});
  v.trigger.repo_url =
      FirstOf({Str(j, {"project", "web_url"}), Str(j, {"repository", "homepage"})});
  v.trigger.message = CommitMessage(j, v.trigger.commit);
  return Finish(config, std::move(v));
}

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
  if (!config.events.empty() && !EventAllowed(config, event)) return IgnoredEvent(config, event);
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
  return Finish(config, std::move(v));
}

}  // namespace

Verdict EvaluateDelivery(const WebhookConfig& config, const HookRequest& req) {
  switch (ParseWebhookProvider(config.provider).value_or(WebhookProvider::kGeneric)) {
    case WebhookProvider::kGitHub: return GitHub(config, req);
    case WebhookProvider::kGitea:
    case WebhookProvider::kForgejo: return Gitea(config, req);
    case WebhookProvider::kGitLab: return GitLab(config, req);
    case WebhookProvider::kGeneric: break;
  }
  return Generic(config, req);
}

}  // namespace jenky
