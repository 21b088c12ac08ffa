#include "config/webhook_config.h"

#include <optional>
#include <utility>

#include <fmt/format.h>
#include <openssl/evp.h>

#include "config/webhook_events.h"
#include "config/webhook_provider.h"

namespace jenky {

// "whsec_<base64>" -> key bytes; "" if malformed.
std::string DecodeSigningToken(std::string_view token) {
  if (token.rfind("whsec_", 0) != 0) return "";
  std::string_view b64 = token.substr(6);
  if (b64.empty() || b64.size() % 4 != 0) return "";
  std::string out(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) return "";
  size_t pad = b64.size() - b64.find_last_not_of('=') - 1;
  out.resize(n - pad);
  return out;
}

namespace {

// `events`, `tags` and `workflows`: each event one the provider sends and
// jenky deploys from (webhook_events.h), and the filters only where an event
// reads them.
void LoadEvents(Loader& L, const toml::table& t, const std::string& where, WebhookConfig& w) {
  auto kind = ParseWebhookProvider(w.provider);
  if (!kind) return;  // reported already
  auto events = L.Strings(t, "events", where);
  if (events && events->empty()) {
    L.Error(*t.get("events"), fmt::format("{}.events is empty, so nothing would deploy; remove it "
                                          "for the default [\"{}\"]",
                                          where, DefaultEvent(*kind)));
  }
  bool ci = false;
  bool tag_push = false;
  if (events) {
    const toml::array& array = *t.get("events")->as_array();
    for (size_t i = 0; i < events->size(); ++i) {
      const std::string& name = (*events)[i];
      if (std::string problem = EventProblem(*kind, name); !problem.empty()) {
        L.Error(*array.get(i), fmt::format("{}.events: {}", where, problem));
        continue;
      }
      std::string canonical = CanonicalEvent(*kind, name);
      for (const auto& e : DeployableEvents(*kind)) {
        if (canonical == "*" || canonical == e.name) ci = ci || e.meaning == HookEvent::kCiGreen;
      }
      tag_push = tag_push || canonical == "Tag Push Hook";
      w.events.push_back(canonical);
    }
  }
  if (tag_push && w.tags.empty()) {
    L.Error(*t.get("events"),
            fmt::format("{}.events lists \"Tag Push Hook\" but no tags deploy; add tags = "
                        "[\"v*\"] (or [\"**\"] for every tag)",
                        where));
  }
  if (!w.workflows.empty() && !ci) {
    L.Error(*t.get("workflows"),
            fmt::format("{}.workflows names CI runs, but events has no CI event; add one to "
                        "events: {}",
                        where,
                        *kind == WebhookProvider::kGitLab   ? "\"Pipeline Hook\""
                        : *kind == WebhookProvider::kGitHub ? "\"workflow_run\" or \"check_suite\""
                        : *kind == WebhookProvider::kGitea  ? "\"workflow_run\""
                        : *kind == WebhookProvider::kForgejo
                            ? "none (Forgejo sends no CI event jenky reads)"
                            : "none (the generic provider has no CI events)"));
  }
}

}  // namespace

void LoadWebhook(Loader& L, const toml::table& t, const std::string& where, ProjectConfig& p) {
  L.CheckKeys(t, "[" + where + "]",
              {"provider", "secret", "secret_env", "signing_token", "signing_token_env", "branches",
               "events", "tags", "workflows"});
  WebhookConfig w;
  auto provider = L.String(t, "provider", where);
  if (!provider) {
    L.Error(t, where + " needs provider = \"github\" (or gitea, forgejo, gitlab, generic)");
  } else if (auto kind = ParseWebhookProvider(*provider); !kind) {
    L.Error(*t.get("provider"), fmt::format("unknown webhook provider '{}'; use github, gitea, "
                                            "forgejo, gitlab or generic",
                                            *provider));
  } else {
    w.provider = WebhookProviderName(*kind);
  }
  const bool gitlab = ParseWebhookProvider(w.provider) == WebhookProvider::kGitLab;
  // A value given inline or through an environment variable; never both.
  auto secret_value =
      [&](const char* key, const char* env_key,
          std::string& env_name) -> std::optional<std::pair<std::string, const toml::node*>> {
    auto inline_value = L.String(t, key, where);
    auto env = L.String(t, env_key, where);
    if (inline_value && env) {
      L.Error(*t.get(env_key), fmt::format("{} has both {} and {}; keep one", where, key, env_key));
      return std::nullopt;
    }
    if (inline_value) return std::make_pair(*inline_value, t.get(key));
    if (!env) return std::nullopt;
    env_name = *env;
    auto v = L.Env(*env);
    if (!v || v->empty()) {
      L.Error(*t.get(env_key), fmt::format("webhook {} variable {} is not set in the server's "
                                           "environment",
                                           key, *env));
      return std::nullopt;
    }
    return std::make_pair(*v, t.get(env_key));
  };
  size_t errors_before = L.ErrorCount();
  auto secret = secret_value("secret", "secret_env", w.secret_env);
  auto signing = secret_value("signing_token", "signing_token_env", w.signing_token_env);
  if (secret) {
    w.secret = secret->first;
    if (w.secret.size() < 4) {
      L.Error(*secret->second, "webhook secret is shorter than 4 bytes; use a long random string");
    } else if (IsAllWhitespace(w.secret)) {
      L.Error(*secret->second,
              "webhook secret is only whitespace (an empty line of an "
              "EnvironmentFile?); use a long random string");
    }
  }
  if (signing) {
    if (!gitlab) {
      L.Error(*signing->second, "signing_token is only for provider = \"gitlab\"");
    }
    w.signing_key = DecodeSigningToken(signing->first);
    if (w.signing_key.empty()) {
      L.Error(*signing->second, "signing_token must be GitLab's \"whsec_<base64>\" value");
    }
  }
  bool has_credential = secret || (signing && gitlab);
  if (!has_credential && L.ErrorCount() == errors_before) {
    L.Error(t, where + " needs secret_env = \"VARIABLE\" (or secret = \"...\"" +
                   std::string(gitlab ? ", or signing_token" : "") +
                   "): an unsigned webhook would let anyone deploy");
  }
  if (auto b = L.Strings(t, "branches", where)) w.branches = *b;
  if (auto tags = L.Strings(t, "tags", where)) w.tags = *tags;
  if (auto workflows = L.Strings(t, "workflows", where)) w.workflows = *workflows;
  LoadEvents(L, t, where, w);
  p.webhook = std::move(w);
}

}  // namespace jenky
