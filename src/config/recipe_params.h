// A project's recipe and its parameters ([projects.NAME] recipe = "...",
// [projects.NAME.params]): the recipe is one jenky embeds, each parameter
// is one the recipe declares (RecipeParams, util/embedded.h), each required
// one is given, and the others get their defaults. Numbers and booleans are
// kept as the text a script sees ("8080", "true").
//
// Part of loading a config (config.cc); one thread, like the Loader.
#pragma once

#include <optional>
#include <string>

#include "config/config.h"
#include "config/loader.h"
#include "config/toml.h"

namespace jenky {

// Checks T's recipe and params (T is the project's table, WHERE
// "projects.NAME") and fills P.params; RECIPE is the project's recipe name,
// nullopt when it runs a script (then params is an error). Every problem is
// an error in L, at the key or value to blame.
void LoadRecipeParams(Loader& L, const toml::table& t, const std::string& where,
                      const std::optional<std::string>& recipe, ProjectConfig& p);

// A recipe on targets: its remote mode (docs/fleet.md, "Recipes on a
// fleet"). P's recipe params (loaded) give F the build, the upload (flat:
// artifacts under their base names) and the deploy directory; the recipe's
// own text is every host step, told which by JENKY_FLEET_STEP. The
// project's own step keys are errors here, and so is a recipe without a
// remote mode.
void LoadRecipeFleet(Loader& L, const toml::table& t, const std::string& where,
                     const ProjectConfig& p, FleetConfig& f);

}  // namespace jenky
