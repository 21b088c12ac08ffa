#include "config/hosts_config.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "config/recipe_params.h"

namespace jenky {
namespace {

// Names ssh would take for an option, or that hold a space or a control
// character: never passed to ssh as a host, user or path.
bool IsSshWord(std::string_view s) {
  if (s.empty() || s[0] == '-') return false;
  return std::none_of(s.begin(), s.end(), [](char ch) {
    unsigned char u = static_cast<unsigned char>(ch);
    return u <= ' ' || u == 0x7f || ch == '\'' || ch == '"' || ch == '\\';
  });
}

std::optional<int64_t> Int(Loader& L, const toml::table& t, std::string_view key,
                           const std::string& where, int64_t min, int64_t max,
                           std::string_view meaning) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  auto v = n->value<int64_t>();
  if (!v || n->is_boolean() || *v < min || *v > max) {
    L.Error(*n, fmt::format("{}.{} must be a whole number from {} to {} ({})", where, key, min, max,
                            meaning));
    return std::nullopt;
  }
  return v;
}

void LoadHostEnv(Loader& L, const toml::table& t, const std::string& where, HostConfig& h) {
  const toml::node* env = t.get("env");
  if (!env) return;
  const toml::table* et = env->as_table();
  if (!et) {
    L.Error(*env, where + ".env must be a table, like env = { PORT = \"8080\" }");
    return;
  }
  for (auto&& [key, value] : *et) {
    std::string k(key.str());
    if (!IsEnvName(k)) {
      L.Error(key.source(), fmt::format("'{}' is not a valid environment variable name", k));
    } else if (k.rfind("JENKY_", 0) == 0) {
      L.Error(key.source(), fmt::format("{}.env.{}: JENKY_* variables are set by jenky", where, k));
    } else if (auto s = value.value<std::string>()) {
      h.env.emplace_back(k, *s);
    } else {
      L.Error(value, fmt::format("{}.env.{} must be a string", where, k));
    }
  }
}

void LoadHost(Loader& L, const std::string& name, const toml::table& t, const std::string& base_dir,
              HostConfig& h) {
  std::string where = "hosts." + name;
  L.CheckKeys(t, "[" + where + "]", {"address", "user", "port", "identity_file", "tags", "env"});
  h.name = name;
  h.address = name;
  if (auto a = L.String(t, "address", where)) {
    if (!IsSshWord(*a)) {
      L.Error(*t.get("address"), fmt::format("{}.address '{}' is not a host name, address or ssh "
                                             "alias (no spaces, quotes, or a leading '-')",
                                             where, *a));
    }
    h.address = *a;
  }
  if (auto u = L.String(t, "user", where)) {
    if (!IsSshWord(*u)) {
      L.Error(*t.get("user"), fmt::format("{}.user '{}' is not a user name", where, *u));
    }
    h.user = *u;
  }
  if (auto p = Int(L, t, "port", where, 1, 65535, "the host's sshd port")) h.port = int(*p);
  if (auto f = L.String(t, "identity_file", where)) {
    h.identity_file = Absolute(base_dir, *f);
    if (!IsSshWord(h.identity_file)) {
      L.Error(*t.get("identity_file"),
              fmt::format("{}.identity_file '{}' must be a path without spaces or quotes", where,
                          h.identity_file));
    } else if (access(h.identity_file.c_str(), R_OK) != 0) {
      L.Error(*t.get("identity_file"),
              fmt::format("{}.identity_file '{}' cannot be read by jenky; give jenky's user a key "
                          "it can read, or leave identity_file out to use ssh's own",
                          where, h.identity_file));
    }
  }
  if (auto tags = L.Strings(t, "tags", where)) {
    for (const auto& tag : *tags) {
      if (!IsValidProjectName(tag)) {
        L.Error(*t.get("tags"), fmt::format("{}.tags: '{}' must be 1-64 letters, digits, '-', "
                                            "'_' or '.'",
                                            where, tag));
      }
    }
    h.tags = *tags;
  }
  LoadHostEnv(L, t, where, h);
}

// "25%" or 3.
void LoadBatch(Loader& L, const toml::table& t, const std::string& where, RolloutConfig& r) {
  const toml::node* n = t.get("batch");
  if (!n) return;
  const char* what =
      "{}.batch must be a number of hosts (1 or more) or a percentage of the hosts, like "
      "\"25%\" (1% to 100%)";
  if (auto s = n->value<std::string>(); s && n->is_string()) {
    int pct = 0;
    size_t used = 0;
    try {
      pct = std::stoi(*s, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used + 1 != s->size() || s->back() != '%' || pct < 1 || pct > 100 ||
        !std::isdigit(static_cast<unsigned char>((*s)[0]))) {
      L.Error(*n, fmt::format(fmt::runtime(what), where));
    } else {
      r.batch_percent = pct;
    }
  } else if (auto v = n->value<int64_t>(); v && n->is_integer() && *v >= 1 && *v <= 100000) {
    r.batch = int(*v);
  } else {
    L.Error(*n, fmt::format(fmt::runtime(what), where));
  }
}

void LoadRollout(Loader& L, const toml::table& t, const std::string& where, RolloutConfig& r) {
  L.CheckKeys(t, "[" + where + "]",
              {"batch", "pause", "max_failures", "on_failure", "parallel", "health_timeout"});
  LoadBatch(L, t, where, r);
  if (auto d = L.Duration(t, "pause", where)) r.pause = *d;
  if (auto m = Int(L, t, "max_failures", where, 0, 100000, "failed hosts tolerated")) {
    r.max_failures = int(*m);
  }
  if (auto p = Int(L, t, "parallel", where, 1, 100, "hosts worked on at once")) {
    r.parallel = int(*p);
  }
  if (auto d = L.Duration(t, "health_timeout", where)) {
    if (d->count() <= 0) L.Error(*t.get("health_timeout"), where + ".health_timeout must be > 0");
    else r.health_timeout = *d;
  }
  if (auto f = L.String(t, "on_failure", where)) {
    if (*f == "rollback") r.on_failure = OnFailure::kRollback;
    else if (*f == "stop") r.on_failure = OnFailure::kStop;
    else if (*f == "continue") r.on_failure = OnFailure::kContinue;
    else
      L.Error(*t.get("on_failure"),
              fmt::format("{}.on_failure '{}' is not one of rollback, stop, continue", where, *f));
  }
}

}  // namespace

const char* OnFailureName(OnFailure f) {
  switch (f) {
    case OnFailure::kRollback: return "rollback";
    case OnFailure::kStop: return "stop";
    case OnFailure::kContinue: return "continue";
  }
  return "rollback";
}

int BatchSize(const RolloutConfig& r, int n) {
  int size = r.batch_percent > 0 ? (n * r.batch_percent + 99) / 100 : r.batch;
  return std::max(1, std::min(size, std::max(n, 1)));
}

const HostConfig* Config::FindHost(std::string_view name) const {
  for (const auto& h : hosts) {
    if (h.name == name) return &h;
  }
  return nullptr;
}

void LoadHosts(Loader& L, const toml::table& t, const std::string& base_dir, Config& c) {
  // In file order (toml++ keeps a table's keys sorted): the order hosts are
  // listed, prepared and switched in.
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (auto&& [key, value] : t) entries.emplace_back(&key, &value);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.first->source().begin.line < b.first->source().begin.line;
  });
  for (auto [key_ptr, value_ptr] : entries) {
    const toml::key& key = *key_ptr;
    const toml::node& value = *value_ptr;
    std::string name(key.str());
    if (!IsValidProjectName(name)) {
      L.Error(key.source(), fmt::format("host name '{}' must be 1-64 letters, digits, '-', '_' "
                                        "or '.', starting with a letter or digit",
                                        name));
      continue;
    }
    const toml::table* ht = value.as_table();
    if (!ht) {
      L.Error(value, fmt::format("hosts.{} must be a table: [hosts.{}]", name, name));
      continue;
    }
    HostConfig h;
    LoadHost(L, name, *ht, base_dir, h);
    c.hosts.push_back(std::move(h));
  }
  // A tag that is also a host's name would make `targets` ambiguous.
  for (const auto& h : c.hosts) {
    for (const auto& tag : h.tags) {
      if (c.FindHost(tag)) {
        L.Error(*t.get(h.name)->as_table()->get("tags"),
                fmt::format("hosts.{}.tags: '{}' is also a host's name; targets could not tell "
                            "them apart, rename the tag",
                            h.name, tag));
      }
    }
  }
}

void LoadFleet(Loader& L, const toml::table& t, const std::string& where, ProjectConfig& p) {
  FleetConfig f;
  auto targets = L.Strings(t, "targets", where);
  if (auto b = L.String(t, "build", where)) f.build = *b;
  if (auto u = L.Strings(t, "upload", where)) {
    for (const auto& path : *u) {
      if (path.empty() || path.find('\n') != std::string::npos) {
        L.Error(*t.get("upload"), where + ".upload: each entry must be a file or directory path");
      }
    }
    f.upload = *u;
  }
  for (auto [key, field] : {std::pair{"prepare", &f.prepare}, std::pair{"health", &f.health},
                            std::pair{"rollback", &f.rollback}}) {
    if (auto s = L.String(t, key, where)) *field = *s;
  }
  f.deploy_dir = "jenky/" + p.name;
  if (auto d = L.String(t, "deploy_dir", where)) {
    if (!IsSshWord(*d) || d->find("..") != std::string::npos) {
      L.Error(*t.get("deploy_dir"), fmt::format("{}.deploy_dir '{}' must be a path without "
                                                "spaces, quotes or '..'",
                                                where, *d));
    }
    f.deploy_dir = *d;
    while (f.deploy_dir.size() > 1 && f.deploy_dir.back() == '/') f.deploy_dir.pop_back();
  }
  if (const toml::node* r = t.get("rollout")) {
    if (const toml::table* rt = r->as_table()) LoadRollout(L, *rt, where + ".rollout", f.rollout);
    else L.Error(*r, where + ".rollout must be a table: [" + where + ".rollout]");
  }
  if (!targets) {
    for (const char* key :
         {"build", "upload", "prepare", "health", "rollback", "deploy_dir", "rollout"}) {
      if (const toml::node* n = t.get(key)) {
        L.Error(*n, fmt::format("{}.{} is only used with targets = [\"HOST or TAG\", ...] (a "
                                "project without targets deploys on this machine)",
                                where, key));
      }
    }
    return;
  }
  if (targets->empty()) {
    L.Error(*t.get("targets"), where +
                                   ".targets is empty: name hosts or tags, or remove it to "
                                   "deploy on this machine");
  }
  if (!p.recipe.empty()) LoadRecipeFleet(L, t, where, p, f);
  f.targets = *targets;
  p.fleet = std::move(f);
}

void ResolveTargets(Loader& L, const toml::table& root, Config& c) {
  for (ProjectConfig& p : c.projects) {
    if (!p.fleet) continue;
    const toml::node* at = root.at_path("projects." + p.name + ".targets").node();
    std::set<std::string> chosen;
    for (const auto& target : p.fleet->targets) {
      bool found = false;
      for (const auto& h : c.hosts) {
        if (h.name == target || std::count(h.tags.begin(), h.tags.end(), target)) {
          chosen.insert(h.name);
          found = true;
        }
      }
      if (!found && at) {
        std::string known;
        for (const auto& h : c.hosts) known += (known.empty() ? "" : ", ") + h.name;
        L.Error(*at, fmt::format("projects.{}.targets: '{}' is neither a host nor a tag of one "
                                 "(hosts: {}); add [hosts.{}] or fix the name",
                                 p.name, target, known.empty() ? "none" : known, target));
      }
    }
    for (const auto& h : c.hosts) {
      if (chosen.count(h.name)) p.fleet->hosts.push_back(h.name);
    }
  }
}

}  // namespace jenky
