// Files compiled into the binary by cmake/Embed.cmake: deploy recipes and the
// database migrations (and, later, the web UI). The tables end with an empty name.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jenky {

struct EmbeddedFile {
  std::string_view name;  // path relative to its source folder, e.g. "demo.sh"
  std::string_view data;
};

std::vector<EmbeddedFile> Recipes();     // recipes/*.sh
std::vector<EmbeddedFile> Migrations();  // src/store/migrations/*.sql, sorted by name
std::vector<EmbeddedFile> WebAssets();   // the built web UI (web/ -> dist), e.g. "index.html"

// The web asset at PATH ("index.html", "assets/app-1a2b.js"), if there is one.
std::optional<std::string_view> FindWebAsset(std::string_view path);

// The recipe called NAME (file NAME.sh), if there is one.
std::optional<std::string_view> FindRecipe(std::string_view name);

// A recipe's one-line description: its first "# " comment after the shebang.
std::string_view RecipeSummary(std::string_view text);

// A recipe's parameters, declared in its header as
//   # param: NAME required DESCRIPTION
//   # param: NAME optional=DEFAULT DESCRIPTION
struct RecipeParam {
  std::string name;
  bool required = false;
  std::string default_value;
  std::string description;
};
std::vector<RecipeParam> RecipeParams(std::string_view text);

// True if the recipe declares "# rollback: supported" (jenky rollback).
bool RecipeSupportsRollback(std::string_view text);

}  // namespace jenky
