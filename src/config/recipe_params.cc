#include "config/recipe_params.h"

#include <algorithm>
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

}  // namespace jenky
