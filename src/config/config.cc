#include "config/config.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "config/hosts_config.h"
#include "config/inputs_config.h"
#include "config/loader.h"
#include "config/notify_load.h"
#include "config/poll_config.h"
#include "config/recipe_params.h"
#include "config/schedule_config.h"
#include "config/server_config.h"
#include "config/toml.h"
#include "config/webhook_config.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/secret_env.h"

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
  for (auto& n : NotifySecretEnvNames(*this)) names.push_back(std::move(n));
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
              {"description", "workdir",       "script",      "script_file", "recipe",  "params",
               "shell",       "timeout",       "concurrency", "env",         "secrets", "keep_runs",
               "max_queued",  "max_log_bytes", "memory_max",  "tasks_max",   "webhook", "poll",
               "schedule",    "timezone",      "catch_up",    "status",      "notify",  "inputs",
               "targets",     "build",         "upload",      "prepare",     "health",  "rollback",
               "deploy_dir",  "rollout"});
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
  LoadPoll(L, t, where, p);
  LoadSchedule(L, t, where, p);
  if (const toml::node* s = t.get("status")) {  // after the webhook: its provider is the default
    if (const toml::table* st = s->as_table()) LoadStatus(L, *st, where + ".status", p);
    else L.Error(*s, where + ".status must be a table");
  }
  if (const toml::node* in = t.get("inputs")) {
    if (const toml::table* it = in->as_table()) LoadInputs(L, *it, where + ".inputs", p);
    else L.Error(*in, where + ".inputs must be a table of [" + where + ".inputs.NAME] tables");
  }
  LoadFleet(L, t, where, p);
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

  L.CheckKeys(root, "the top level", {"server", "tokens", "projects", "notify", "hosts"});
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
        if (const toml::node* n = proj->get("notify")) {
          LoadNotify(L, *n, "projects." + name + ".notify", name, c);
        }
      }
    } else {
      L.Error(*p, "projects must be a table of [projects.NAME] tables");
    }
  }
  if (const toml::node* n = root.get("notify")) LoadNotify(L, *n, "notify", "", c);
  CheckNotify(L, root, c);
  if (const toml::node* h = root.get("hosts")) {
    if (const toml::table* ht = h->as_table()) LoadHosts(L, *ht, base_dir, c);
    else L.Error(*h, "hosts must be a table of [hosts.NAME] tables");
  }
  ResolveTargets(L, root, c);
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
