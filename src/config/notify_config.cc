#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config/notify_load.h"
#include "config/webhook_config.h"
#include "config/webhook_provider.h"
#include "util/nearest_name.h"

namespace jenky {

namespace fs = std::filesystem;

const char* NotifyKindName(NotifyKind k) {
  switch (k) {
    case NotifyKind::kWebhook: return "webhook";
    case NotifyKind::kSlack: return "slack";
    case NotifyKind::kDiscord: return "discord";
    case NotifyKind::kNtfy: return "ntfy";
    case NotifyKind::kEmail: return "email";
  }
  return "webhook";
}

std::optional<NotifyKind> ParseNotifyKind(std::string_view name) {
  for (NotifyKind k : {NotifyKind::kWebhook, NotifyKind::kSlack, NotifyKind::kDiscord,
                       NotifyKind::kNtfy, NotifyKind::kEmail}) {
    if (name == NotifyKindName(k)) return k;
  }
  return std::nullopt;
}

const char* NotifyEventName(NotifyEvent e) {
  switch (e) {
    case kOnStarted: return "started";
    case kOnSucceeded: return "succeeded";
    case kOnFailed: return "failed";
    case kOnRecovered: return "recovered";
    case kOnCancelled: return "cancelled";
  }
  return "failed";
}

std::optional<NotifyEvent> ParseNotifyEvent(std::string_view name) {
  for (NotifyEvent e : {kOnStarted, kOnSucceeded, kOnFailed, kOnRecovered, kOnCancelled}) {
    if (name == NotifyEventName(e)) return e;
  }
  return std::nullopt;
}

const char* StatusProviderName(StatusProvider p) {
  switch (p) {
    case StatusProvider::kGitHub: return "github";
    case StatusProvider::kGitea: return "gitea";
    case StatusProvider::kGitLab: return "gitlab";
  }
  return "github";
}

bool NotifyConfig::Wants(const std::string& project) const {
  return projects.empty() || std::find(projects.begin(), projects.end(), project) != projects.end();
}

namespace {

const std::vector<std::string> kKinds = {"webhook", "slack", "discord", "ntfy", "email"};
const std::vector<std::string> kEvents = {"started", "succeeded", "failed", "recovered",
                                          "cancelled"};

std::string DidYouMean(std::string_view word, const std::vector<std::string>& names) {
  std::string near = NearestName(word, names);
  return near.empty() ? "" : fmt::format("did you mean '{}'? ", near);
}

// A value given inline (KEY) or through the environment (ENV_KEY), never
// both; an ENV_KEY naming an unset variable is an error. WHAT names it in
// messages ("notify url").
std::optional<std::string> InlineOrEnv(Loader& L, const toml::table& t, const std::string& where,
                                       const char* key, const char* env_key, const char* what,
                                       std::string& env_name) {
  auto inline_value = key ? L.String(t, key, where) : std::nullopt;
  auto env = L.String(t, env_key, where);
  if (inline_value && env) {
    L.Error(*t.get(env_key), fmt::format("{} has both {} and {}; keep one", where, key, env_key));
    return std::nullopt;
  }
  if (inline_value) return inline_value;
  if (!env) return std::nullopt;
  if (!IsEnvName(*env)) {
    L.Error(*t.get(env_key),
            fmt::format("{}.{} must name an environment variable, not '{}'", where, env_key, *env));
    return std::nullopt;
  }
  env_name = *env;
  auto v = L.Env(*env);
  if (!v || v->empty()) {
    L.Error(*t.get(env_key),
            fmt::format("{} variable {} is not set in the server's environment; set it (in the "
                        "unit's EnvironmentFile, say) or remove {}.{}",
                        what, *env, where, env_key));
    return std::nullopt;
  }
  return v;
}

bool IsHttpUrl(std::string_view url) {
  return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

void LoadLimits(Loader& L, const toml::table& t, const std::string& where, DeliveryLimits& out) {
  if (auto ca = L.String(t, "ca_file", where)) {
    std::string path = Absolute(fs::path(L.file()).parent_path().string(), *ca);
    if (access(path.c_str(), R_OK) != 0) {
      L.Error(*t.get("ca_file"),
              fmt::format("{}.ca_file {} cannot be read: {}", where, path, strerror(errno)));
    }
    out.ca_file = path;
  }
  if (auto d = L.Duration(t, "timeout", where)) {
    if (d->count() <= 0) L.Error(*t.get("timeout"), where + ".timeout must be more than 0");
    else out.timeout = *d;
  }
  if (auto d = L.Duration(t, "give_up_after", where)) {
    if (d->count() <= 0) {
      L.Error(*t.get("give_up_after"), where + ".give_up_after must be more than 0");
    } else {
      out.give_up_after = *d;
    }
  }
}

void LoadOn(Loader& L, const toml::table& t, const std::string& where, NotifyConfig& n) {
  auto on = L.Strings(t, "on", where);
  if (!on) return;
  n.on = 0;
  for (const std::string& e : *on) {
    if (auto ev = ParseNotifyEvent(e)) {
      n.on |= *ev;
    } else {
      L.Error(*t.get("on"), fmt::format("{}.on has '{}', which is not an event; {}the events are "
                                        "started, succeeded, failed, recovered and cancelled",
                                        where, e, DidYouMean(e, kEvents)));
    }
  }
  if (on->empty()) L.Error(*t.get("on"), where + ".on is empty; give at least \"failed\"");
}

void LoadEmail(Loader& L, const toml::table& t, const std::string& where, NotifyConfig& n) {
  auto url = InlineOrEnv(L, t, where, "smtp_url", "smtp_url_env", "notify smtp_url", n.url_env);
  if (!url) {
    if (!t.get("smtp_url") && !t.get("smtp_url_env")) {
      L.Error(t, where + " (email) needs smtp_url = \"smtp://mail.example.com:587\"");
    }
  } else if (url->rfind("smtp://", 0) != 0 && url->rfind("smtps://", 0) != 0) {
    L.Error(*t.get(t.get("smtp_url") ? "smtp_url" : "smtp_url_env"),
            where + ".smtp_url must start with smtp:// (STARTTLS) or smtps:// (TLS)");
  } else {
    n.url = *url;
  }
  if (auto from = L.String(t, "from", where)) n.from = *from;
  else L.Error(t, where + " (email) needs from = \"jenky@example.com\"");
  if (auto to = L.Strings(t, "to", where)) n.to = *to;
  if (n.to.empty()) L.Error(t, where + " (email) needs to = [\"ops@example.com\"]");
  if (auto user = L.String(t, "username", where)) n.username = *user;
  if (auto pw =
          InlineOrEnv(L, t, where, nullptr, "password_env", "notify password", n.password_env)) {
    n.password = *pw;
  }
  if (auto tls = L.Bool(t, "starttls", where)) n.starttls = *tls;
}

void LoadNotifyEntry(Loader& L, const toml::table& t, const std::string& where,
                     const std::string& project, Config& c) {
  L.CheckKeys(t, "[[" + where + "]]",
              {"name", "kind", "url", "url_env", "secret_env", "on", "projects", "smtp_url",
               "smtp_url_env", "from", "to", "username", "password_env", "starttls", "timeout",
               "give_up_after", "ca_file"});
  NotifyConfig n;
  auto kind = L.String(t, "kind", where);
  if (!kind) {
    if (!t.get("kind")) {
      L.Error(t, where + " needs kind = \"webhook\" (or slack, discord, ntfy, email)");
    }
    return;
  }
  if (auto k = ParseNotifyKind(*kind)) {
    n.kind = *k;
  } else {
    L.Error(*t.get("kind"), fmt::format("unknown notify kind '{}'; {}use webhook, slack, "
                                        "discord, ntfy or email",
                                        *kind, DidYouMean(*kind, kKinds)));
    return;
  }
  if (auto name = L.String(t, "name", where)) n.name = *name;
  if (n.kind == NotifyKind::kEmail) {
    LoadEmail(L, t, where, n);
  } else if (auto url = InlineOrEnv(L, t, where, "url", "url_env", "notify url", n.url_env)) {
    if (!IsHttpUrl(*url)) {
      L.Error(*t.get(t.get("url") ? "url" : "url_env"),
              fmt::format("{}.url must be an http:// or https:// URL", where));
    }
    n.url = *url;
  } else if (!t.get("url") && !t.get("url_env")) {
    L.Error(t,
            fmt::format("{} ({}) needs url = \"https://...\" or url_env = \"NAME\"", where, *kind));
  }
  std::string ignored;
  if (auto secret = InlineOrEnv(L, t, where, nullptr, "secret_env", "notify secret", ignored)) {
    if (n.kind != NotifyKind::kWebhook) {
      L.Error(*t.get("secret_env"), where + ".secret_env signs kind = \"webhook\" only");
    } else if (secret->rfind("whsec_", 0) == 0) {
      n.secret = DecodeSigningToken(*secret);
      if (n.secret.empty()) {
        L.Error(*t.get("secret_env"),
                fmt::format("{} starts with whsec_ but is not base64 after it", ignored));
      }
    } else if (secret->size() < 16) {
      L.Error(*t.get("secret_env"),
              fmt::format("notify secret in {} is shorter than 16 bytes; use a long random "
                          "string (or a whsec_ key)",
                          ignored));
    } else {
      n.secret = *secret;
    }
    n.secret_env = ignored;
  }
  LoadOn(L, t, where, n);
  if (!project.empty()) {
    if (t.get("projects")) {
      L.Error(*t.get("projects"), where + " belongs to its project; drop projects here");
    }
    n.projects = {project};
  } else if (auto ps = L.Strings(t, "projects", where)) {
    n.projects = *ps;
    // The top level's [[notify]] is loaded after every project.
    std::vector<std::string> known;
    for (const auto& proj : c.projects) known.push_back(proj.name);
    for (const std::string& name : n.projects) {
      if (c.FindProject(name)) continue;
      L.Error(*t.get("projects"),
              fmt::format("{}.projects names '{}', which is not a configured project; {}", where,
                          name, DidYouMean(name, known)));
    }
  }
  LoadLimits(L, t, where, n.limits);
  c.notify.push_back(std::move(n));
}

}  // namespace

void LoadNotify(Loader& L, const toml::node& node, const std::string& where,
                const std::string& project, Config& c) {
  const toml::array* entries = node.as_array();
  if (!entries || !entries->is_array_of_tables()) {
    L.Error(node, fmt::format("{} must be written as [[{}]] tables", where, where));
    return;
  }
  for (const toml::node& e : *entries) LoadNotifyEntry(L, *e.as_table(), where, project, c);
}

void CheckNotify(Loader& L, const toml::table& root, Config& c) {
  // Default names: the kind, or KIND-N (its position among that kind) when
  // a kind is used more than once.
  std::map<NotifyKind, int> per_kind;
  for (const NotifyConfig& n : c.notify) ++per_kind[n.kind];
  std::map<NotifyKind, int> seen;
  std::set<std::string> names;
  for (NotifyConfig& n : c.notify) {
    int index = ++seen[n.kind];
    if (n.name.empty()) {
      n.name = per_kind[n.kind] == 1 ? NotifyKindName(n.kind)
                                     : fmt::format("{}-{}", NotifyKindName(n.kind), index);
    }
    if (!names.insert(n.name).second) {
      L.Error(root, fmt::format("two [[notify]] entries are named '{}'; give each a distinct "
                                "name = \"...\"",
                                n.name));
    }
  }
}

// deployments = true (GitHub's Deployments API) and its environment.
static void LoadDeployments(Loader& L, const toml::table& t, const std::string& where,
                            StatusConfig& s) {
  if (const toml::node* d = t.get("deployments")) {
    if (auto b = d->value<bool>()) {
      s.deployments = *b;
    } else {
      L.Error(*d, where + ".deployments must be true or false");
    }
    if (s.deployments && s.provider != StatusProvider::kGitHub) {
      L.Error(*d, fmt::format("{}.deployments is GitHub's Deployments API; provider '{}' has none "
                              "(remove it: the commit status is still sent)",
                              where, StatusProviderName(s.provider)));
    }
  }
  if (auto env = L.String(t, "environment", where)) {
    if (env->empty() || env->size() > 255) {
      L.Error(*t.get("environment"), where + ".environment must be 1 to 255 characters");
    } else {
      s.environment = *env;
    }
    if (!s.deployments) {
      L.Error(*t.get("environment"),
              where +
                  ".environment names the deployments' environment; set deployments = true "
                  "too, or remove it");
    }
  }
}

void LoadStatus(Loader& L, const toml::table& t, const std::string& where, ProjectConfig& p) {
  L.CheckKeys(t, "[" + where + "]",
              {"provider", "api_url", "repo", "token_env", "context", "timeout", "give_up_after",
               "ca_file", "deployments", "environment"});
  StatusConfig s;
  std::string provider;
  if (auto v = L.String(t, "provider", where)) {
    provider = *v;
  } else if (p.webhook) {
    provider = p.webhook->provider;
  }
  if (provider == "github") s.provider = StatusProvider::kGitHub;
  else if (provider == "gitea" || provider == "forgejo") s.provider = StatusProvider::kGitea;
  else if (provider == "gitlab") s.provider = StatusProvider::kGitLab;
  else if (provider.empty() || provider == "generic") {
    L.Error(t, fmt::format("{} needs provider = \"github\" (or gitea, forgejo, gitlab){}", where,
                           provider.empty() ? "" : ": the webhook's provider is generic"));
  } else {
    L.Error(*t.get("provider"),
            fmt::format("unknown status provider '{}'; {}use github, gitea, forgejo or gitlab",
                        provider, DidYouMean(provider, {"github", "gitea", "forgejo", "gitlab"})));
  }
  if (auto url = L.String(t, "api_url", where)) {
    if (!IsHttpUrl(*url)) {
      L.Error(*t.get("api_url"), where + ".api_url must be an http:// or https:// URL");
    }
    s.api_url = *url;
    while (!s.api_url.empty() && s.api_url.back() == '/') s.api_url.pop_back();
  } else if (s.provider == StatusProvider::kGitHub) {
    s.api_url = "https://api.github.com";
  } else if (s.provider == StatusProvider::kGitLab) {
    s.api_url = "https://gitlab.com/api/v4";
  } else {
    L.Error(t, where + " needs api_url for Gitea/Forgejo, like \"https://git.example.com/api/v1\"");
  }
  if (auto repo = L.String(t, "repo", where)) {
    if (repo->empty() || repo->front() == '/' || repo->find("..") != std::string::npos ||
        repo->find_first_of(" ?#%\\") != std::string::npos) {
      L.Error(*t.get("repo"), where + ".repo must be \"owner/name\"");
    }
    s.repo = *repo;
  } else if (!p.webhook) {
    // Without it each run's status names the repository its webhook
    // payload did; a project no webhook triggers has none.
    L.Error(t, where +
                   " needs repo = \"owner/name\" (the repository the commits belong to): "
                   "the project has no [" +
                   where.substr(0, where.rfind('.')) + ".webhook] whose payloads would name it");
  }
  if (auto token = InlineOrEnv(L, t, where, nullptr, "token_env", "status token", s.token_env)) {
    s.token = *token;
  } else if (!t.get("token_env")) {
    L.Error(t, where + " needs token_env = \"NAME\": the variable holding the forge's API token");
  }
  if (auto ctx = L.String(t, "context", where)) {
    if (ctx->empty()) L.Error(*t.get("context"), where + ".context is empty; the forge needs one");
    else s.context = *ctx;
  }
  LoadDeployments(L, t, where, s);
  LoadLimits(L, t, where, s.limits);
  p.status = std::move(s);
}

void LoadMetricsListen(Loader& L, const toml::table& t, ServerConfig& s) {
  // Not about metrics, but [server]'s other key of this area: "0s" keeps
  // sent and failed messages forever.
  if (auto d = L.Duration(t, "outbox_retention", "server")) s.outbox_retention = *d;
  auto listen = L.String(t, "metrics_listen", "server");
  if (!listen) return;
  if (!SplitHostPort(*listen, s.metrics_host, s.metrics_port)) {
    L.Error(*t.get("metrics_listen"),
            fmt::format("server.metrics_listen '{}' is not HOST:PORT; write it like "
                        "\"127.0.0.1:9101\"",
                        *listen));
    return;
  }
  s.metrics_listen = *listen;
}

std::vector<std::string> NotifySecretEnvNames(const Config& c) {
  std::vector<std::string> names;
  for (const NotifyConfig& n : c.notify) {
    for (const std::string* env : {&n.url_env, &n.secret_env, &n.password_env}) {
      if (!env->empty()) names.push_back(*env);
    }
  }
  for (const ProjectConfig& p : c.projects) {
    if (p.status && !p.status->token_env.empty()) names.push_back(p.status->token_env);
  }
  return names;
}

std::vector<std::string> NotifySecretValues(const Config& c) {
  std::vector<std::string> values;
  for (const NotifyConfig& n : c.notify) {
    if (!n.url_env.empty()) values.push_back(n.url);
    if (!n.secret_env.empty()) values.push_back(n.secret);
    if (!n.password.empty()) values.push_back(n.password);
  }
  for (const ProjectConfig& p : c.projects) {
    if (p.status && !p.status->token.empty()) values.push_back(p.status->token);
  }
  return values;
}

}  // namespace jenky
