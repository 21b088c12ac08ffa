#include "config/recipe_params.h"

#include <algorithm>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "util/embedded.h"

namespace jenky {

void LoadRecipeParams(Loader& L, const toml::table& t, const std::string& where,
                      const std::optional<std::string>& recipe, ProjectConfig& p) {
  if (recipe) {
    if (!FindRecipe(*recipe)) {
      std::string names;
      for (const auto& r : Recipes()) {
        std::string_view n = r.name.substr(0, r.name.size() - 3);
        names += fmt::format("{}{}", names.empty() ? "" : ", ", n);
      }
      L.Error(*t.get("recipe"), fmt::format("no recipe named '{}'; jenky has: {} (see `jenky "
                                            "scripts list`)",
                                            *recipe, names));
    }
  }
  if (const toml::node* params = t.get("params")) {
    if (const toml::table* pt = params->as_table()) {
      for (auto&& [key, value] : *pt) {
        std::string k(key.str());
        // (Booleans first: toml++ converts a boolean to the integer 0 or 1.)
        if (auto s = value.value<std::string>()) p.params[k] = *s;
        else if (auto b = value.as_boolean()) p.params[k] = b->get() ? "true" : "false";
        else if (auto i = value.value<int64_t>()) p.params[k] = std::to_string(*i);
        else
          L.Error(value, fmt::format("{}.params.{} must be a string, number or boolean", where, k));
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
            L.Error(key.source(),
                    fmt::format("recipe '{}' has no parameter '{}'; its parameters are: {}",
                                *recipe, key.str(), names.empty() ? "(none)" : names));
          }
        }
      }
      for (const auto& d : declared) {
        if (p.params.count(d.name)) continue;
        if (d.required) {
          const toml::node& where_node =
              pt ? static_cast<const toml::node&>(*pt) : static_cast<const toml::node&>(t);
          L.Error(where_node, fmt::format("recipe '{}' needs parameter '{}' ({}): add it under "
                                          "[projects.{}.params]",
                                          *recipe, d.name, d.description, p.name));
        } else {
          p.params[d.name] = d.default_value;
        }
      }
    }
  }
}

namespace {

// The node to blame for recipe parameter NAME: its value, or the params
// table, or the project's.
const toml::node& ParamNode(const toml::table& t, const std::string& name) {
  if (const toml::node* n = t.at_path("params." + name).node()) return *n;
  if (const toml::node* n = t.get("params")) return *n;
  return t;
}

// An absolute path that ssh, rsync and a remote shell take as one word.
bool IsRemotePath(const std::string& s) {
  if (s.size() < 2 || s[0] != '/' || s.find("..") != std::string::npos) return false;
  return std::none_of(s.begin(), s.end(), [](char ch) {
    unsigned char u = static_cast<unsigned char>(ch);
    return u <= ' ' || u == 0x7f || ch == '\'' || ch == '"' || ch == '\\' || ch == ':';
  });
}

// "30" or "30s" as seconds; nullopt otherwise.
std::optional<int> Seconds(std::string s) {
  if (!s.empty() && s.back() == 's') s.pop_back();
  if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoi(s);
}

}  // namespace

void LoadRecipeFleet(Loader& L, const toml::table& t, const std::string& where,
                     const ProjectConfig& p, FleetConfig& f) {
  for (const char* key : {"build", "upload", "prepare", "health", "rollback", "deploy_dir"}) {
    if (const toml::node* n = t.get(key)) {
      L.Error(*n, fmt::format("{}.{}: recipe '{}' sets it on targets (from its params); remove "
                              "it, or write the steps yourself with script instead of recipe",
                              where, key, p.recipe));
    }
  }
  auto param = [&p](const std::string& name) {
    auto it = p.params.find(name);
    return it == p.params.end() ? std::string() : it->second;
  };
  std::string text(FindRecipe(p.recipe).value_or(""));
  f.build = param("build");
  f.upload_flat = true;
  std::string dir;
  const char* dir_param = "releases";
  if (p.recipe == "systemd-release") {
    std::istringstream words(param("artifacts"));
    for (std::string w; words >> w;) f.upload.push_back(w);
    dir = param("releases").empty() ? "/var/lib/jenky-apps/" + p.name : param("releases");
    f.prepare = f.health = f.rollback = text;
    std::optional<int> timeout = Seconds(param("health_timeout"));
    if (!timeout) {
      L.Error(ParamNode(t, "health_timeout"),
              fmt::format("{}.params.health_timeout must be a number of seconds, not '{}'", where,
                          param("health_timeout")));
    } else if (!t.at_path("rollout.health_timeout").node()) {
      f.rollout.health_timeout = std::chrono::seconds(*timeout);
    }
  } else if (p.recipe == "static-site") {
    std::string out = param("output");
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    f.upload = {out + "/"};  // its contents are the release
    dir_param = "target";
    dir = param("target");
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    dir += ".releases";
    f.prepare = f.rollback = text;
  } else {
    L.Error(*t.get("targets"),
            fmt::format("{}: recipe '{}' has no remote mode (systemd-release and static-site "
                        "have one); write the host steps as script, prepare, health and "
                        "rollback (docs/fleet.md)",
                        where, p.recipe));
    return;
  }
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (!IsRemotePath(dir)) {
    L.Error(ParamNode(t, dir_param),
            fmt::format("{}.params.{} must be an absolute path without spaces, quotes, ':' or "
                        "'..' on targets, not '{}'",
                        where, dir_param, param(dir_param)));
  }
  f.deploy_dir = dir;
  std::optional<int> keep = Seconds(param("keep"));  // (a plain number)
  if (keep && *keep >= 1 && param("keep").back() != 's') {
    f.keep_releases = *keep;
  } else {
    L.Error(ParamNode(t, "keep"), fmt::format("{}.params.keep must be a whole number of "
                                              "releases, 1 or more, not '{}'",
                                              where, param("keep")));
  }
}

}  // namespace jenky
