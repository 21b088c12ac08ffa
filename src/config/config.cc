#include "config/config.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "config/loader.h"
#include "config/recipe_params.h"
#include "config/toml.h"
#include "config/webhook_config.h"
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

// [server] tls_cert / tls_key: both or neither, and a pair that works, or
// the server does not start (and a reload keeps the running pair).
void LoadTls(Loader& L, const toml::table& t, const std::string& base_dir, ServerConfig& s) {
  if (auto d = L.Duration(t, "tls_handshake_timeout", "server")) {
    if (*d < std::chrono::milliseconds(100)) {
      L.Error(*t.get("tls_handshake_timeout"),
              "server.tls_handshake_timeout must be at least 100ms");
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
    L.Error(*t.get(ctx.status().kind() == StatusCode::kTlsKey ? "tls_key" : "tls_cert"),
            ctx.status().message());
    return;
  }
  s.tls = *ctx;
}

// [server]'s limits and timeouts.
void LoadServerLimits(Loader& L, const toml::table& t, ServerConfig& s) {
  if (auto size = L.String(t, "max_body", "server")) {
    auto n = ParseSize(*size);
    if (!n.ok()) L.Error(*t.get("max_body"), "server.max_body: " + n.status().message());
    else s.max_body_bytes = *n;
  }
  if (auto d = L.Duration(t, "kill_grace", "server")) s.kill_grace = *d;
  if (auto b = L.Bool(t, "warm_shell", "server")) s.warm_shell = *b;
  if (auto size = L.String(t, "ws_max_lag", "server")) {
    auto n = ParseSize(*size);
    if (!n.ok()) L.Error(*t.get("ws_max_lag"), "server.ws_max_lag: " + n.status().message());
    else s.ws_max_lag_bytes = *n;
  }
  if (auto d = L.Duration(t, "ws_idle_timeout", "server")) {
    if (*d < std::chrono::seconds(1))
      L.Error(*t.get("ws_idle_timeout"), "server.ws_idle_timeout must be at least 1s");
    else s.ws_idle_timeout = *d;
  }
  if (auto n = L.Size(t, "max_log_bytes", "server")) s.max_log_bytes = *n;
  if (auto n = L.Size(t, "max_url", "server")) {
    // Below 256 bytes jenky's own URLs (a run's log with offset and line) break.
    if (*n < 256) L.Error(*t.get("max_url"), "server.max_url must be at least 256B");
    else s.max_url_bytes = *n;
  }
  if (auto d = L.Duration(t, "session_lifetime", "server")) {
    if (*d < std::chrono::seconds(1)) {
      L.Error(*t.get("session_lifetime"), "server.session_lifetime must be at least 1s");
    } else {
      s.session_lifetime = *d;
    }
  }
  // A whole number in [LO, HI]; WHAT says what it counts, for the error.
  auto count = [&](const char* key, int lo, int hi, const char* what, int& out) {
    const toml::node* n = t.get(key);
    if (!n) return;
    auto v = n->value<int64_t>();
    if (!v || *v < lo || *v > hi) {
      L.Error(*n,
              fmt::format("server.{} must be a whole number of {}, {} to {}", key, what, lo, hi));
    } else {
      out = static_cast<int>(*v);
    }
  };
  count("max_auth_failures", 0, 1'000'000, "failures per minute (0 = no limit)",
        s.max_auth_failures);
  count("ws_max_viewers", 1, 1'000'000, "WebSocket viewers", s.ws_max_viewers);
  count("ws_max_viewers_per_run", 1, 1'000'000, "WebSocket viewers of one run",
        s.ws_max_viewers_per_run);
  count("max_json_depth", 2, 10'000, "levels", s.max_json_depth);
  count("max_connections", 1, 1'000'000, "connections", s.max_connections);
  count("max_connections_per_address", 0, 1'000'000, "connections (0 = no limit)",
        s.max_connections_per_address);
}

void LoadServer(Loader& L, const toml::table& t, const std::string& base_dir, Config& c) {
  L.CheckKeys(t, "[server]",
              {"listen",
               "data_dir",
               "public_url",
               "allowed_origins",
               "allowed_hosts",
               "trusted_proxies",
               "max_body",
               "kill_grace",
               "max_auth_failures",
               "ws_idle_timeout",
               "ws_max_lag",
               "ws_max_viewers",
               "ws_max_viewers_per_run",
               "max_log_bytes",
               "max_json_depth",
               "max_url",
               "max_connections",
               "max_connections_per_address",
               "session_lifetime",
               "tls_cert",
               "tls_key",
               "tls_handshake_timeout",
               "warm_shell"});
  if (auto listen = L.String(t, "listen", "server")) {
    if (!SplitHostPort(*listen, c.server.host, c.server.port)) {
      L.Error(*t.get("listen"), fmt::format("server.listen '{}' is not HOST:PORT; write it like "
                                            "\"127.0.0.1:8080\" or \"[::1]:8080\"",
                                            *listen));
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
                            "port only, like \"https://deploy.example.com\"",
                            o));
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
                            "or \"*\" (any name)",
                            h));
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
  LoadServerLimits(L, t, c.server);
  LoadTls(L, t, base_dir, c.server);
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
      L.Error(*t.get("sha256"),
              "tokens.sha256 must be 64 lower-case hex digits: the output of "
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
                                         "set it to the token",
                                         tok.name, *env));
    } else {
      tok.sha256 = Sha256Hex(*value);
    }
  } else {
    L.Error(t, fmt::format("token '{}' needs sha256 = \"<hex sha256 of the token>\" or "
                           "env = \"VARIABLE\"",
                           tok.name));
  }
  if (auto scopes = L.Strings(t, "scopes", "tokens")) {
    for (const auto& s : *scopes) {
      if (s == "read") tok.scopes |= kScopeRead;
      else if (s == "deploy") tok.scopes |= kScopeDeploy;
      else if (s == "admin") tok.scopes |= kAllScopes;
      else
        L.Error(*t.get("scopes"),
                fmt::format("unknown scope '{}'; scopes are read, deploy and admin", s));
    }
    if (scopes->empty())
      L.Error(*t.get("scopes"), "tokens.scopes is empty; give at least \"read\"");
  } else {
    L.Error(t,
            fmt::format("token '{}' needs scopes, like scopes = [\"read\", \"deploy\"]", tok.name));
  }
  c.tokens.push_back(std::move(tok));
}

// Exactly one of script, script_file and recipe: what the project runs.
// Returns the recipe's name when it has one (checked by LoadRecipeParams).
std::optional<std::string> LoadScript(Loader& L, const toml::table& t, const std::string& where,
                                      const std::string& base_dir, ProjectConfig& p) {
  auto script = L.String(t, "script", where);
  auto script_file = L.String(t, "script_file", where);
  auto recipe = L.String(t, "recipe", where);
  int sources = !!script + !!script_file + !!recipe;
  if (sources == 0) {
    L.Error(t, fmt::format("project '{}' has nothing to run: give it script = \"...\", "
                           "script_file = \"deploy.sh\" or recipe = \"NAME\"",
                           p.name));
  } else if (sources > 1) {
    const char* second = script_file && (script || recipe) ? "script_file" : "recipe";
    L.Error(*t.get(second), fmt::format("project '{}' has more than one of script, script_file and "
                                        "recipe; keep exactly one",
                                        p.name));
  }
  if (script) {
    if (script->find_first_not_of(" \t\r\n") == std::string::npos) {
      L.Error(*t.get("script"), fmt::format("project '{}' has an empty script", p.name));
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
  return recipe;
}

// The project's env table and the secrets it reads from the environment.
void LoadEnvAndSecrets(Loader& L, const toml::table& t, const std::string& where,
                       ProjectConfig& p) {
  if (const toml::node* env = t.get("env")) {
    if (const toml::table* et = env->as_table()) {
      for (auto&& [key, value] : *et) {
        std::string k(key.str());
        if (!IsEnvName(k)) {
          L.Error(key.source(), fmt::format("'{}' is not a valid environment variable name", k));
        } else if (k.rfind("JENKY_", 0) == 0) {
          L.Error(key.source(),
                  fmt::format("{}.env.{}: JENKY_* variables are set by jenky", where, k));
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
                                               s, p.name));
      } else if (v->size() < 4) {
        L.Error(*t.get("secrets"), fmt::format("secret {} is shorter than 4 bytes, too short to "
                                               "mask in logs without hiding ordinary text",
                                               s));
      } else if (IsAllWhitespace(*v)) {
        L.Error(*t.get("secrets"),
                fmt::format("secret {} is only whitespace: masking it would hide "
                            "every run of spaces in the log; set its real value",
                            s));
      } else {
        p.secrets.emplace_back(s, *v);
      }
    }
  }
}

// How many runs are kept and queued, and what one run may use.
void LoadRunLimits(Loader& L, const toml::table& t, const std::string& where, ProjectConfig& p) {
  if (const toml::node* k = t.get("keep_runs")) {
    auto v = k->value<int64_t>();
    if (!v || *v < 1 || *v > 1'000'000)
      L.Error(*k, where + ".keep_runs must be a whole number from 1 to 1000000");
    else p.keep_runs = static_cast<int>(*v);
  }
  if (const toml::node* k = t.get("max_queued")) {
    auto v = k->value<int64_t>();
    if (!v || *v < 1 || *v > 10'000)
      L.Error(*k, where + ".max_queued must be a whole number from 1 to 10000");
    else p.max_queued = static_cast<int>(*v);
  }
  if (auto n = L.Size(t, "max_log_bytes", where)) p.max_log_bytes = *n;
  if (auto n = L.Size(t, "memory_max", where)) {
    if (*n < (1 << 20)) L.Error(*t.get("memory_max"), where + ".memory_max must be at least 1MiB");
    else p.memory_max = *n;
  }
  if (const toml::node* k = t.get("tasks_max")) {
    auto v = k->value<int64_t>();
    if (!v || *v < 1 || *v > 4'194'304) {
      L.Error(*k, where +
                      ".tasks_max must be a whole number from 1 to 4194304 (processes and "
                      "threads of a run at once)");
    } else {
      p.tasks_max = *v;
    }
  }
}

void LoadProject(Loader& L, const std::string& name, const toml::table& t,
                 const std::string& base_dir, ProjectConfig& p) {
  std::string where = "projects." + name;
  p.name = name;
  L.CheckKeys(t, "[" + where + "]",
              {"description", "workdir", "script", "script_file", "recipe", "params", "shell",
               "timeout", "concurrency", "env", "secrets", "keep_runs", "max_queued",
               "max_log_bytes", "memory_max", "tasks_max", "webhook"});
  if (auto d = L.String(t, "description", where)) p.description = *d;
  if (auto w = L.String(t, "workdir", where)) p.workdir = Absolute(base_dir, *w);

  std::optional<std::string> recipe = LoadScript(L, t, where, base_dir, p);
  if (recipe) p.recipe = *recipe;
  LoadRecipeParams(L, t, where, recipe, p);

  if (auto shell = L.String(t, "shell", where)) {
    if (shell->empty() || (*shell)[0] != '/') {
      L.Error(*t.get("shell"),
              fmt::format("{}.shell must be an absolute path, like \"/bin/bash\"", where));
    } else if (access(shell->c_str(), X_OK) != 0) {
      L.Error(*t.get("shell"),
              fmt::format("{}.shell '{}' is not an executable file", where, *shell));
    }
    p.shell = *shell;
  }
  if (auto d = L.Duration(t, "timeout", where)) p.timeout = *d;
  if (auto c = L.String(t, "concurrency", where)) {
    if (*c == "coalesce") p.concurrency = Concurrency::kCoalesce;
    else if (*c == "queue") p.concurrency = Concurrency::kQueue;
    else if (*c == "cancel-previous") p.concurrency = Concurrency::kCancelPrevious;
    else
      L.Error(*t.get("concurrency"), fmt::format("{}.concurrency '{}' is not one of coalesce, "
                                                 "queue, cancel-previous",
                                                 where, *c));
  }
  LoadEnvAndSecrets(L, t, where, p);
  LoadRunLimits(L, t, where, p);
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
                                            "'_' or '.', starting with a letter or digit",
                                            name));
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
    e.message = fmt::format(
        "server.listen is {} but no [[tokens]] are configured: without tokens "
        "jenky serves only on a loopback address (127.0.0.1 or [::1]); add a "
        "[[tokens]] entry",
        c.server.listen);
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
