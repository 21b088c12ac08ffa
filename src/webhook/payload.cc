#include "webhook/payload.h"

#include <fmt/format.h>

#include "config/webhook_events.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/url.h"

namespace jenky::hook {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool HexSignatureMatches(std::string_view header, std::string_view secret, std::string_view body) {
  std::string_view sig = header;
  if (sig.rfind("sha256=", 0) == 0) sig.remove_prefix(7);
  if (sig.size() != 64) return false;
  return ConstantTimeEquals(Lower(sig), HmacSha256Hex(secret, body));
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

bool IsHexCommit(std::string_view s) {
  return s.size() >= 4 && s.size() <= 64 &&
         s.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
}

namespace {

bool AllZeros(std::string_view s) {
  return !s.empty() && s.find_first_not_of('0') == std::string_view::npos;
}

bool Printable(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

bool AnyMatch(const std::vector<std::string>& patterns, const std::string& name) {
  for (const auto& pattern : patterns) {
    if (GlobMatch(pattern, name)) return true;
  }
  return false;
}

// Why the project's branch and tag filters refuse T, or "" when they take it.
// As GitHub Actions' `on.push`: without filters every branch deploys and no
// tag; `tags` alone deploys those tags and no branch.
std::string FilterProblem(const WebhookConfig& config, const Trigger& t, Ask ask,
                          const std::string& tag) {
  if (!tag.empty()) {
    if (config.tags.empty()) {
      if (ask == Ask::kRelease) return "";
      return fmt::format(
          "tag {} does not deploy: tags deploy only when the webhook's tags = [...] matches them "
          "(add tags = [\"v*\"], say)",
          tag);
    }
    if (!AnyMatch(config.tags, tag)) {
      return fmt::format("tag {} does not match tags = [{}]", tag, Join(config.tags));
    }
    return "";
  }
  if (!t.branch.empty()) {
    if (config.branches.empty()) {
      if (config.tags.empty()) return "";
      return fmt::format(
          "branch {} does not deploy: only tags = [{}] do; add branches = [...] to deploy "
          "branches too",
          t.branch, Join(config.tags));
    }
    if (!AnyMatch(config.branches, t.branch)) {
      return fmt::format("branch {} does not match branches = [{}]", t.branch,
                         Join(config.branches));
    }
    return "";
  }
  if (config.branches.empty() && config.tags.empty()) return "";
  std::string filters = config.branches.empty() ? "tags = [" + Join(config.tags) + "]"
                                                : "branches = [" + Join(config.branches) + "]";
  if (t.ref.empty()) return "the delivery names no branch or tag; " + filters;
  return fmt::format("{} is neither a branch nor a tag; {}", t.ref, filters);
}

}  // namespace

bool EventAllowed(const WebhookConfig& config, const std::string& event) {
  auto provider = ParseWebhookProvider(config.provider).value_or(WebhookProvider::kGeneric);
  if (config.events.empty()) return event == DefaultEvent(provider);
  for (const auto& e : config.events) {
    if (e == event || e == "*") return true;
  }
  return false;
}

Verdict IgnoredEvent(const WebhookConfig& config, const std::string& event,
                     const std::string& delivery) {
  auto provider = ParseWebhookProvider(config.provider).value_or(WebhookProvider::kGeneric);
  std::string list = config.events.empty() ? DefaultEvent(provider) : Join(config.events);
  Verdict v = Reject(VerdictKind::kIgnored,
                     fmt::format("event '{}' does not deploy; events = [{}]", event, list));
  v.event = event;
  v.trigger.delivery = delivery;
  v.event_filtered = true;
  return v;
}

Verdict Ignored(Verdict v, std::string reason) {
  v.kind = VerdictKind::kIgnored;
  v.reason = std::move(reason);
  return v;
}

Verdict Finish(const WebhookConfig& config, Verdict v, Ask ask, const std::string& what) {
  Trigger& t = v.trigger;
  if (t.ref.rfind("refs/heads/", 0) == 0) t.branch = t.ref.substr(11);
  std::string tag = t.ref.rfind("refs/tags/", 0) == 0 ? t.ref.substr(10) : "";
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
    return Ignored(std::move(v), !t.branch.empty() ? fmt::format("branch {} was deleted", t.branch)
                                 : !tag.empty()    ? fmt::format("tag {} was deleted", tag)
                                                   : fmt::format("{} was deleted", t.ref));
  }
  if (!t.commit.empty() && !IsHexCommit(t.commit)) {
    return Reject(VerdictKind::kBadRequest, "commit must be a hex commit id of 4 to 64 digits");
  }
  if (std::string why = FilterProblem(config, t, ask, tag); !why.empty()) {
    return Ignored(std::move(v), why);
  }
  v.kind = VerdictKind::kDeploy;
  // Only the parts the delivery had: never "  by Codertocat".
  std::string reason = what;
  std::string sep = ": ";
  auto add = [&](const std::string& part) {
    reason += sep + part;
    sep = ", ";
  };
  if (!t.branch.empty()) add("branch " + t.branch);
  else if (!tag.empty()) add("tag " + tag);
  else if (!t.ref.empty()) add(t.ref);
  if (!t.commit.empty()) add(t.commit.substr(0, 12));
  if (!t.actor.empty()) add("by " + t.actor);
  v.reason = reason;
  return v;
}

}  // namespace jenky::hook
