#include "config/config.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <openssl/evp.h>

#include "config/toml.h"
#include "util/client_address.h"
#include "util/embedded.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/secret_env.h"
#include "util/tls.h"

namespace jenky {
namespace fs = std::filesystem;

const char* ConcurrencyName(Concurrency c) {
  switch (c) {
    case Concurrency::kCoalesce: return "coalesce";
    case Concurrency::kQueue: return "queue";
    case Concurrency::kCancelPrevious: return "cancel-previous";
  }
  return "coalesce";
}

std::string ConfigError::ToString() const {
  if (line > 0) return fmt::format("{}:{}:{}: {}", file, line, column, message);
  return fmt::format("{}: {}", file, message);
}

const ProjectConfig* Config::FindProject(std::string_view name) const {
  for (const auto& p : projects) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::vector<std::string> Config::SecretEnvNames() const {
  std::vector<std::string> names;
  for (const auto& t : tokens) {
    if (!t.env.empty()) names.push_back(t.env);
  }
  for (const auto& p : projects) {
    for (const auto& [name, value] : p.secrets) names.push_back(name);
    if (p.webhook && !p.webhook->secret_env.empty()) names.push_back(p.webhook->secret_env);
    if (p.webhook && !p.webhook->signing_token_env.empty()) {
      names.push_back(p.webhook->signing_token_env);
    }
  }
  return names;
}

EnvLookup ProcessEnv() {
  // What the server withheld from its environment (util/secret_env.h) is
  // still found: a reload reads secrets again.
  return [](const std::string& name) { return LookupEnv(name); };
}

bool SplitHostPort(std::string_view listen, std::string& host, int& port) {
  size_t colon;
  if (!listen.empty() && listen[0] == '[') {
    size_t close = listen.find(']');
    if (close == std::string_view::npos || close + 1 >= listen.size() || listen[close + 1] != ':')
      return false;
    host = std::string(listen.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = listen.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    host = std::string(listen.substr(0, colon));
    if (host.find(':') != std::string::npos) return false;  // IPv6 needs brackets
  }
  std::string_view p = listen.substr(colon + 1);
  if (p.empty() || p.size() > 5) return false;
  port = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
    port = port * 10 + (c - '0');
  }
  return port <= 65535;
}

bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

bool IsAllWhitespace(std::string_view s) {
  return s.find_first_not_of(" \t\r\n\v\f") == std::string_view::npos;
}

bool IsValidProjectName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

std::string DefaultDataDir(const EnvLookup& env) {
  if (auto xdg = env("XDG_DATA_HOME"); xdg && !xdg->empty()) return *xdg + "/jenky";
  if (auto home = env("HOME"); home && !home->empty()) return *home + "/.local/share/jenky";
  return "/var/lib/jenky";
}

Config DefaultConfig(const EnvLookup& env) {
  Config c;
  c.server.data_dir = DefaultDataDir(env);
  return c;
}

long long MaxLogBytesOf(const ServerConfig& server, const ProjectConfig& project) {
  return project.max_log_bytes > 0 ? project.max_log_bytes : server.max_log_bytes;
}

std::string WorkdirOf(const ServerConfig& server, const ProjectConfig& project) {
  if (!project.workdir.empty()) return project.workdir;
  return server.data_dir + "/workspaces/" + project.name;
}

ProjectConfig DemoProject() {
  ProjectConfig p;
  p.name = "demo";
  p.description = "a few seconds of coloured, progressing output (serve --demo)";
  p.recipe = "demo";
  p.timeout = std::chrono::minutes(5);
  return p;
}

namespace {

// Reads one TOML table, remembering which keys were used so that the rest can
// be reported as unknown at their own position.
class Loader {
 public:
  Loader(std::string file, const EnvLookup& env, std::vector<ConfigError>& errors)
      : file_(std::move(file)), env_(env), errors_(errors) {}

  void Error(const toml::source_region& where, std::string message) {
    errors_.push_back({file_, static_cast<int>(where.begin.line),
                       static_cast<int>(where.begin.column), std::move(message)});
  }
  void Error(const toml::node& where, std::string message) {
    Error(where.source(), std::move(message));
  }

  // Every key of TABLE not in ALLOWED is an error.
  void CheckKeys(const toml::table& table, std::string_view where,
                 std::initializer_list<std::string_view> allowed) {
    for (auto&& [key, node] : table) {
      if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
      std::string list;
      for (auto a : allowed) list += fmt::format("{}{}", list.empty() ? "" : ", ", a);
      Error(key.source(), fmt::format("unknown key '{}' in {}; known keys are: {}", key.str(),
                                      where, list));
    }
  }

  std::optional<std::string> String(const toml::table& t, std::string_view key,
                                    std::string_view where) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (auto s = n->value<std::string>()) return *s;
    Error(*n, fmt::format("{}.{} must be a string", where, key));
    return std::nullopt;
  }

  std::optional<bool> Bool(const toml::table& t, std::string_view key, std::string_view where) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (auto b = n->value<bool>()) return *b;
    Error(*n, fmt::format("{}.{} must be true or false (without quotes)", where, key));
    return std::nullopt;
  }

  std::optional<std::vector<std::string>> Strings(const toml::table& t, std::string_view key,
                                                  std::string_view where) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    const toml::array* arr = n->as_array();
    if (!arr) {
      Error(*n, fmt::format("{}.{} must be an array of strings, like [\"a\", \"b\"]", where, key));
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (const toml::node& item : *arr) {
      if (auto s = item.value<std::string>()) {
        out.push_back(*s);
      } else {
        Error(item, fmt::format("{}.{} must contain only strings", where, key));
      }
    }
    return out;
  }

  std::optional<Millis> Duration(const toml::table& t, std::string_view key,
                                 std::string_view where) {
    auto s = String(t, key, where);
    if (!s) return std::nullopt;
    auto d = ParseDuration(*s);
    if (!d.ok()) {
      Error(*t.get(key), fmt::format("{}.{}: {}", where, key, d.status().message()));
      return std::nullopt;
    }
    return *d;
  }

  std::optional<long long> Size(const toml::table& t, std::string_view key,
                                std::string_view where) {
    auto s = String(t, key, where);
    if (!s) return std::nullopt;
    auto n = ParseSize(*s);
    if (!n.ok()) {
      Error(*t.get(key), fmt::format("{}.{}: {}", where, key, n.status().message()));
      return std::nullopt;
    }
    return *n;
  }

  std::optional<std::string> Env(const std::string& name) { return env_(name); }
  size_t ErrorCount() const { return errors_.size(); }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  const EnvLookup& env_;
  std::vector<ConfigError>& errors_;
};

std::string Absolute(const std::string& base_dir, const std::string& p) {
  if (p.empty()) return p;
  fs::path path(p);
  if (path.is_absolute()) return path.lexically_normal().string();
  return (fs::path(base_dir) / path).lexically_normal().string();
}

bool IsEnvName(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// [server] tls_cert / tls_key: both or neither, and a pair that works, or
// the server does not start (and a reload keeps the running pair).
void LoadTls(Loader& L, const toml::table& t, const std::string& base_dir, ServerConfig& s) {
  if (auto d = L.Duration(t, "tls_handshake_timeout", "server")) {
    if (*d < std::chrono::milliseconds(100)) {
      L.Error(*t.get("tls_handshake_timeout"), "server.tls_handshake_timeout must be at least 100ms");
    } else {
      s.tls_handshake_timeout = *d;
    }
  }
  auto cert = L.String(t, "tls_cert", "server");
  auto key = L.String(t, "tls_key", "server");
  if (!cert && !key) return;
  if (!cert || !key) {
    L.Error(*t.get(cert ? "tls_cert" : "tls_key"),
            fmt::format("server.{} is set but server.{} is not: HTTPS needs both, the certificate "
                        "(PEM, with its chain) and its private key; set both, or neither to "
                        "serve plain HTTP",
                        cert ? "tls_cert" : "tls_key", cert ? "tls_key" : "tls_cert"));
    return;
  }
  s.tls_cert = Absolute(base_dir, *cert);
  s.tls_key = Absolute(base_dir, *key);
  auto ctx = TlsContext::Server(s.tls_cert, s.tls_key);
  if (!ctx.ok()) {
    L.Error(*t.get(ctx.status().code() == "tls_key" ? "tls_key" : "tls_cert"), ctx.status().message());
    return;
  }
  s.tls = *ctx;
}

void LoadServer(Loader& L, const toml::table& t, const std::string& base_dir, Config& c) {
  L.CheckKeys(t, "[server]", {"listen", "data_dir", "public_url", "allowed_origins", "allowed_hosts", "trusted_proxies",
                              "max_body", "kill_grace", "max_auth_failures",
                              "ws_idle_timeout", "ws_max_lag", "ws_max_viewers",
                              "ws_max_viewers_per_run", "max_log_bytes", "max_json_depth",
                              "max_url", "max_connections", "max_connections_per_address", "session_lifetime", "tls_cert",
                              "tls_key", "tls_handshake_timeout", "warm_shell"});
  if (auto listen = L.String(t, "listen", "server")) {
    if (!SplitHostPort(*listen, c.server.host, c.server.port)) {
      L.Error(*t.get("listen"), fmt::format("server.listen '{}' is not HOST:PORT; write it like "
                                            "\"127.0.0.1:8080\" or \"[::1]:8080\"", *listen));
    } else {
      c.server.listen = *listen;
    }
  }
  if (auto dir = L.String(t, "data_dir", "server")) c.server.data_dir = Absolute(base_dir, *dir);
  if (auto url = L.String(t, "public_url", "server")) {
    if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
      L.Error(*t.get("public_url"),
              "server.public_url must start with http:// or https://, like "
              "\"https://deploy.example.com\"");
    }
    while (!url->empty() && url->back() == '/') url->pop_back();
    c.server.public_url = *url;
  }
  if (auto origins = L.Strings(t, "allowed_origins", "server")) {
    for (auto& o : *origins) {
      while (!o.empty() && o.back() == '/') o.pop_back();
      if ((o.rfind("http://", 0) != 0 && o.rfind("https://", 0) != 0) ||
          o.find('/', o.find("://") + 3) != std::string::npos) {
        L.Error(*t.get("allowed_origins"),
                fmt::format("server.allowed_origins: '{}' is not an origin; write scheme, host and "
                            "port only, like \"https://deploy.example.com\"", o));
      }
    }
    c.server.allowed_origins = *origins;
  }
  if (auto hosts = L.Strings(t, "allowed_hosts", "server")) {
    for (const auto& h : *hosts) {
      if (h.empty() || h.find_first_of("/: \t") != std::string::npos) {
        L.Error(*t.get("allowed_hosts"),
                fmt::format("server.allowed_hosts: '{}' is not a host name; write names only, "
                            "like \"deploy.example.com\", \".example.com\" (and its subdomains) "
                            "or \"*\" (any name)", h));
      }
    }
    c.server.allowed_hosts = *hosts;
  }
  if (auto proxies = L.Strings(t, "trusted_proxies", "server")) {
    if (auto set = AddressSet::Parse(*proxies); !set.ok()) {
      L.Error(*t.get("trusted_proxies"), "server.trusted_proxies: " + set.status().message());
    }
    c.server.trusted_proxies = *proxies;
  }
  if (auto size = L.String(t, "max_body", "server")) {
    auto n = ParseSize(*size);
    if (!n.ok()) L.Error(*t.get("max_body"), "server.max_body: " + n.status().message());
    else c.server.max_body_bytes = *n;
  }
  if (auto d = L.Duration(t, "kill_grace", "server")) c.server.kill_grace = *d;
  if (auto b = L.Bool(t, "warm_shell", "server")) c.server.warm_shell = *b;
  if (auto size = L.String(t, "ws_max_lag", "server")) {
    auto n = ParseSize(*size);
    if (!n.ok()) L.Error(*t.get("ws_max_lag"), "server.ws_max_lag: " + n.status().message());
    else c.server.ws_max_lag_bytes = *n;
  }
  if (auto d = L.Duration(t, "ws_idle_timeout", "server")) {
    if (*d < std::chrono::seconds(1)) L.Error(*t.get("ws_idle_timeout"), "server.ws_idle_timeout must be at least 1s");
    else c.server.ws_idle_timeout = *d;
  }
  if (auto n = L.Size(t, "max_log_bytes", "server")) c.server.max_log_bytes = *n;
  if (auto n = L.Size(t, "max_url", "server")) {
    // Below 256 bytes jenky's own URLs (a run's log with offset and line) break.
    if (*n < 256) L.Error(*t.get("max_url"), "server.max_url must be at least 256B");
    else c.server.max_url_bytes = *n;
  }
  if (auto d = L.Duration(t, "session_lifetime", "server")) {
    if (*d < std::chrono::seconds(1)) {
      L.Error(*t.get("session_lifetime"), "server.session_lifetime must be at least 1s");
    } else {
      c.server.session_lifetime = *d;
    }
  }
  LoadTls(L, t, base_dir, c.server);
  // A whole number in [LO, HI]; WHAT says what it counts, for the error.
  auto count = [&](const char* key, int lo, int hi, const char* what, int& out) {
    const toml::node* n = t.get(key);
    if (!n) return;
    auto v = n->value<int64_t>();
    if (!v || *v < lo || *v > hi) {
      L.Error(*n, fmt::format("server.{} must be a whole number of {}, {} to {}", key, what, lo, hi));
    } else {
      out = static_cast<int>(*v);
    }
  };
  count("max_auth_failures", 0, 1'000'000, "failures per minute (0 = no limit)",
        c.server.max_auth_failures);
  count("ws_max_viewers", 1, 1'000'000, "WebSocket viewers", c.server.ws_max_viewers);
  count("ws_max_viewers_per_run", 1, 1'000'000, "WebSocket viewers of one run",
        c.server.ws_max_viewers_per_run);
  count("max_json_depth", 2, 10'000, "levels", c.server.max_json_depth);
  count("max_connections", 1, 1'000'000, "connections", c.server.max_connections);
  count("max_connections_per_address", 0, 1'000'000, "connections (0 = no limit)",
        c.server.max_connections_per_address);
}

void LoadToken(Loader& L, const toml::table& t, Config& c, std::set<std::string>& names) {
  L.CheckKeys(t, "[[tokens]]", {"name", "sha256", "env", "scopes"});
  TokenConfig tok;
  auto name = L.String(t, "name", "tokens");
  if (!name || name->empty()) {
    L.Error(t, "a [[tokens]] entry needs a name, like name = \"laptop\"");
  } else {
    tok.name = *name;
    if (!names.insert(*name).second) {
      L.Error(*t.get("name"), fmt::format("two tokens are named '{}'; names must differ", *name));
    }
  }
  auto sha = L.String(t, "sha256", "tokens");
  auto env = L.String(t, "env", "tokens");
  if (sha && env) {
    L.Error(*t.get("env"), "a token has either sha256 or env, not both");
  } else if (sha) {
    if (sha->size() != 64 || !IsLowerHex(*sha)) {
      L.Error(*t.get("sha256"), "tokens.sha256 must be 64 lower-case hex digits: the output of "
                                "`printf %s TOKEN | sha256sum`");
    }
    tok.sha256 = *sha;
  } else if (env) {
    tok.env = *env;
    auto value = L.Env(*env);
    if (!value || value->empty()) {
      L.Error(*t.get("env"), fmt::format("token '{}' reads environment variable {}, which is not "
                                         "set; set it in the server's environment",
                                         tok.name, *env));
    } else if (IsAllWhitespace(*value)) {
      L.Error(*t.get("env"), fmt::format("token '{}': environment variable {} is only whitespace; "
                                         "set it to the token", tok.name, *env));
    } else {
      tok.sha256 = Sha256Hex(*value);
    }
  } else {
    L.Error(t, fmt::format("token '{}' needs sha256 = \"<hex sha256 of the token>\" or "
                           "env = \"VARIABLE\"", tok.name));
  }
  if (auto scopes = L.Strings(t, "scopes", "tokens")) {
    for (const auto& s : *scopes) {
      if (s == "read") tok.scopes |= kScopeRead;
      else if (s == "deploy") tok.scopes |= kScopeDeploy;
      else if (s == "admin") tok.scopes |= kAllScopes;
      else L.Error(*t.get("scopes"), fmt::format("unknown scope '{}'; scopes are read, deploy and admin", s));
    }
    if (scopes->empty()) L.Error(*t.get("scopes"), "tokens.scopes is empty; give at least \"read\"");
  } else {
    L.Error(t, fmt::format("token '{}' needs scopes, like scopes = [\"read\", \"deploy\"]", tok.name));
  }
  c.tokens.push_back(std::move(tok));
}

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

void LoadWebhook(Loader& L, const toml::table& t, const std::string& where, ProjectConfig& p) {
  L.CheckKeys(t, "[" + where + "]", {"provider", "secret", "secret_env", "signing_token",
                                     "signing_token_env", "branches", "events"});
  WebhookConfig w;
  auto provider = L.String(t, "provider", where);
  static const std::set<std::string> kProviders = {"github", "gitea", "forgejo", "gitlab",
                                                   "generic"};
  if (!provider) {
    L.Error(t, where + " needs provider = \"github\" (or gitea, forgejo, gitlab, generic)");
  } else if (!kProviders.count(*provider)) {
    L.Error(*t.get("provider"), fmt::format("unknown webhook provider '{}'; use github, gitea, "
                                            "forgejo, gitlab or generic", *provider));
  } else {
    w.provider = *provider;
  }
  // A value given inline or through an environment variable; never both.
  auto secret_value = [&](const char* key, const char* env_key, std::string& env_name)
      -> std::optional<std::pair<std::string, const toml::node*>> {
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
                                           "environment", key, *env));
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
      L.Error(*secret->second, "webhook secret is only whitespace (an empty line of an "
                               "EnvironmentFile?); use a long random string");
    }
  }
  if (signing) {
    if (w.provider != "gitlab") {
      L.Error(*signing->second, "signing_token is only for provider = \"gitlab\"");
    }
    w.signing_key = DecodeSigningToken(signing->first);
    if (w.signing_key.empty()) {
      L.Error(*signing->second, "signing_token must be GitLab's \"whsec_<base64>\" value");
    }
  }
  bool has_credential = secret || (signing && w.provider == "gitlab");
  if (!has_credential && L.ErrorCount() == errors_before) {
    L.Error(t, where + " needs secret_env = \"VARIABLE\" (or secret = \"...\"" +
                   std::string(w.provider == "gitlab" ? ", or signing_token" : "") +
                   "): an unsigned webhook would let anyone deploy");
  }
  if (auto b = L.Strings(t, "branches", where)) w.branches = *b;
  if (auto e = L.Strings(t, "events", where)) w.events = *e;
  p.webhook = std::move(w);
}

void LoadProject(Loader& L, const std::string& name, const toml::table& t,
                 const std::string& base_dir, ProjectConfig& p) {
  std::string where = "projects." + name;
  p.name = name;
  L.CheckKeys(t, "[" + where + "]",
              {"description", "workdir", "script", "script_file", "recipe", "params", "shell",
               "timeout", "concurrency", "env", "secrets", "keep_runs", "max_queued",
               "max_log_bytes", "webhook"});
  if (auto d = L.String(t, "description", where)) p.description = *d;
  if (auto w = L.String(t, "workdir", where)) p.workdir = Absolute(base_dir, *w);

  auto script = L.String(t, "script", where);
  auto script_file = L.String(t, "script_file", where);
  auto recipe = L.String(t, "recipe", where);
  int sources = !!script + !!script_file + !!recipe;
  if (sources == 0) {
    L.Error(t, fmt::format("project '{}' has nothing to run: give it script = \"...\", "
                           "script_file = \"deploy.sh\" or recipe = \"NAME\"", name));
  } else if (sources > 1) {
    const char* second = script_file && (script || recipe) ? "script_file" : "recipe";
    L.Error(*t.get(second), fmt::format("project '{}' has more than one of script, script_file and "
                                        "recipe; keep exactly one", name));
  }
  if (script) {
    if (script->find_first_not_of(" \t\r\n") == std::string::npos) {
      L.Error(*t.get("script"), fmt::format("project '{}' has an empty script", name));
    }
    p.script = *script;
  }
  if (script_file) {
    p.script_file = Absolute(base_dir, *script_file);
    if (access(p.script_file.c_str(), R_OK) != 0) {
      L.Error(*t.get("script_file"), fmt::format("script_file '{}' cannot be read: {}",
                                                 p.script_file, std::strerror(errno)));
    }
  }
  if (recipe) {
    if (!FindRecipe(*recipe)) {
      std::string names;
      for (const auto& r : Recipes()) {
        std::string_view n = r.name.substr(0, r.name.size() - 3);
        names += fmt::format("{}{}", names.empty() ? "" : ", ", n);
      }
      L.Error(*t.get("recipe"), fmt::format("no recipe named '{}'; jenky has: {} (see `jenky "
                                            "scripts list`)", *recipe, names));
    }
    p.recipe = *recipe;
  }
  if (const toml::node* params = t.get("params")) {
    if (const toml::table* pt = params->as_table()) {
      for (auto&& [key, value] : *pt) {
        if (auto s = value.value<std::string>()) p.params[std::string(key.str())] = *s;
        else if (auto i = value.value<int64_t>()) p.params[std::string(key.str())] = std::to_string(*i);
        else if (auto b = value.value<bool>()) p.params[std::string(key.str())] = *b ? "true" : "false";
        else L.Error(value, fmt::format("{}.params.{} must be a string, number or boolean", where, key.str()));
      }
      if (!recipe) L.Error(*params, where + ".params is only used with recipe = \"NAME\"");
    } else {
      L.Error(*params, where + ".params must be a table");
    }
  }
  // Recipe parameters: each known, each required one given, defaults filled.
  if (recipe) {
    if (auto text = FindRecipe(*recipe)) {
      std::vector<RecipeParam> declared = RecipeParams(*text);
      const toml::table* pt = t.get("params") ? t.get("params")->as_table() : nullptr;
      std::string names;
      for (const auto& d : declared) names += (names.empty() ? "" : ", ") + d.name;
      if (pt) {
        for (auto&& [key, value] : *pt) {
          // (A lambda may not capture a structured binding before clang 16.)
          std::string_view name = key.str();
          bool known = std::any_of(declared.begin(), declared.end(),
                                   [name](const RecipeParam& d) { return d.name == name; });
          if (!known) {
            L.Error(key.source(), fmt::format("recipe '{}' has no parameter '{}'; its parameters are: {}",
                                              *recipe, key.str(), names.empty() ? "(none)" : names));
          }
        }
      }
      for (const auto& d : declared) {
        if (p.params.count(d.name)) continue;
        if (d.required) {
          const toml::node& where_node = pt ? static_cast<const toml::node&>(*pt) : static_cast<const toml::node&>(t);
          L.Error(where_node, fmt::format("recipe '{}' needs parameter '{}' ({}): add it under "
                                          "[projects.{}.params]", *recipe, d.name, d.description, name));
        } else {
          p.params[d.name] = d.default_value;
        }
      }
    }
  }

  if (auto shell = L.String(t, "shell", where)) {
    if (shell->empty() || (*shell)[0] != '/') {
      L.Error(*t.get("shell"), fmt::format("{}.shell must be an absolute path, like \"/bin/bash\"", where));
    } else if (access(shell->c_str(), X_OK) != 0) {
      L.Error(*t.get("shell"), fmt::format("{}.shell '{}' is not an executable file", where, *shell));
    }
    p.shell = *shell;
  }
  if (auto d = L.Duration(t, "timeout", where)) p.timeout = *d;
  if (auto c = L.String(t, "concurrency", where)) {
    if (*c == "coalesce") p.concurrency = Concurrency::kCoalesce;
    else if (*c == "queue") p.concurrency = Concurrency::kQueue;
    else if (*c == "cancel-previous") p.concurrency = Concurrency::kCancelPrevious;
    else L.Error(*t.get("concurrency"), fmt::format("{}.concurrency '{}' is not one of coalesce, "
                                                    "queue, cancel-previous", where, *c));
  }
  if (const toml::node* env = t.get("env")) {
    if (const toml::table* et = env->as_table()) {
      for (auto&& [key, value] : *et) {
        std::string k(key.str());
        if (!IsEnvName(k)) {
          L.Error(key.source(), fmt::format("'{}' is not a valid environment variable name", k));
        } else if (k.rfind("JENKY_", 0) == 0) {
          L.Error(key.source(), fmt::format("{}.env.{}: JENKY_* variables are set by jenky", where, k));
        }
        if (auto s = value.value<std::string>()) p.env.emplace_back(k, *s);
        else L.Error(value, fmt::format("{}.env.{} must be a string", where, k));
      }
    } else {
      L.Error(*env, where + ".env must be a table, like env = { GOFLAGS = \"-mod=mod\" }");
    }
  }
  if (auto secrets = L.Strings(t, "secrets", where)) {
    for (const auto& s : *secrets) {
      auto v = L.Env(s);
      if (!IsEnvName(s)) {
        L.Error(*t.get("secrets"), fmt::format("'{}' is not a valid environment variable name", s));
      } else if (!v) {
        L.Error(*t.get("secrets"), fmt::format("secret {} of project '{}' is not in the server's "
                                               "environment; export it before starting jenky",
                                               s, name));
      } else if (v->size() < 4) {
        L.Error(*t.get("secrets"), fmt::format("secret {} is shorter than 4 bytes, too short to "
                                               "mask in logs without hiding ordinary text", s));
      } else if (IsAllWhitespace(*v)) {
        L.Error(*t.get("secrets"), fmt::format("secret {} is only whitespace: masking it would hide "
                                               "every run of spaces in the log; set its real value",
                                               s));
      } else {
        p.secrets.emplace_back(s, *v);
      }
    }
  }
  if (const toml::node* k = t.get("keep_runs")) {
    auto v = k->value<int64_t>();
    if (!v || *v < 1 || *v > 1'000'000) L.Error(*k, where + ".keep_runs must be a whole number from 1 to 1000000");
    else p.keep_runs = static_cast<int>(*v);
  }
  if (const toml::node* k = t.get("max_queued")) {
    auto v = k->value<int64_t>();
    if (!v || *v < 1 || *v > 10'000) L.Error(*k, where + ".max_queued must be a whole number from 1 to 10000");
    else p.max_queued = static_cast<int>(*v);
  }
  if (auto n = L.Size(t, "max_log_bytes", where)) p.max_log_bytes = *n;
  if (const toml::node* w = t.get("webhook")) {
    if (const toml::table* wt = w->as_table()) LoadWebhook(L, *wt, where + ".webhook", p);
    else L.Error(*w, where + ".webhook must be a table");
  }
}

}  // namespace

ConfigLoad ParseConfig(std::string_view text, const std::string& path, const EnvLookup& env) {
  ConfigLoad out;
  out.config = DefaultConfig(env);
  out.config.path = path;
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    out.errors.push_back({path, static_cast<int>(e.source().begin.line),
                          static_cast<int>(e.source().begin.column),
                          fmt::format("TOML syntax: {}", e.description())});
    return out;
  }
  Loader L(path, env, out.errors);
  std::string base_dir = fs::absolute(fs::path(path)).parent_path().string();
  Config& c = out.config;

  L.CheckKeys(root, "the top level", {"server", "tokens", "projects"});
  if (const toml::node* s = root.get("server")) {
    if (const toml::table* st = s->as_table()) LoadServer(L, *st, base_dir, c);
    else L.Error(*s, "server must be a table: [server]");
  }
  if (const toml::node* t = root.get("tokens")) {
    const toml::array* arr = t->as_array();
    if (!arr || !arr->is_array_of_tables()) {
      L.Error(*t, "tokens must be written as [[tokens]] tables");
    } else {
      std::set<std::string> names;
      for (const toml::node& item : *arr) LoadToken(L, *item.as_table(), c, names);
    }
  }
  if (const toml::node* p = root.get("projects")) {
    if (const toml::table* pt = p->as_table()) {
      for (auto&& [key, value] : *pt) {
        std::string name(key.str());
        if (!IsValidProjectName(name)) {
          L.Error(key.source(), fmt::format("project name '{}' must be 1-64 letters, digits, '-', "
                                            "'_' or '.', starting with a letter or digit", name));
          continue;
        }
        const toml::table* proj = value.as_table();
        if (!proj) {
          L.Error(value, fmt::format("projects.{} must be a table: [projects.{}]", name, name));
          continue;
        }
        ProjectConfig pc;
        LoadProject(L, name, *proj, base_dir, pc);
        c.projects.push_back(std::move(pc));
      }
    } else {
      L.Error(*p, "projects must be a table of [projects.NAME] tables");
    }
  }
  if (c.tokens.empty() && out.errors.empty() && !IsLoopbackHost(c.server.host)) {
    const toml::node* listen = root.at_path("server.listen").node();
    ConfigError e{path, 0, 0, ""};
    if (listen) {
      e.line = static_cast<int>(listen->source().begin.line);
      e.column = static_cast<int>(listen->source().begin.column);
    }
    e.message = fmt::format("server.listen is {} but no [[tokens]] are configured: without tokens "
                            "jenky serves only on a loopback address (127.0.0.1 or [::1]); add a "
                            "[[tokens]] entry", c.server.listen);
    out.errors.push_back(std::move(e));
  }
  return out;
}

ConfigLoad LoadConfigFile(const std::string& path, const EnvLookup& env) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    ConfigLoad out;
    out.errors.push_back({path, 0, 0, text.status().message()});
    return out;
  }
  return ParseConfig(*text, path, env);
}

}  // namespace jenky
