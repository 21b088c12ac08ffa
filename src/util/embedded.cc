#include "util/embedded.h"

namespace jenky {

extern const EmbeddedFile kRecipes[];
extern const int kRecipesCount;
extern const EmbeddedFile kMigrations[];
extern const int kMigrationsCount;
extern const EmbeddedFile kWebAssets[];
extern const int kWebAssetsCount;

std::vector<EmbeddedFile> Recipes() { return {kRecipes, kRecipes + kRecipesCount}; }
std::vector<EmbeddedFile> Migrations() { return {kMigrations, kMigrations + kMigrationsCount}; }

std::vector<EmbeddedFile> WebAssets() { return {kWebAssets, kWebAssets + kWebAssetsCount}; }

std::optional<std::string_view> FindWebAsset(std::string_view path) {
  for (int i = 0; i < kWebAssetsCount; ++i) {
    if (kWebAssets[i].name == path) return kWebAssets[i].data;
  }
  return std::nullopt;
}

std::optional<std::string_view> FindRecipe(std::string_view name) {
  for (int i = 0; i < kRecipesCount; ++i) {
    std::string_view file = kRecipes[i].name;
    if (file.size() == name.size() + 3 && file.substr(0, name.size()) == name &&
        file.substr(name.size()) == ".sh") {
      return kRecipes[i].data;
    }
  }
  return std::nullopt;
}

std::string_view RecipeSummary(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.rfind("# ", 0) == 0) return line.substr(2);
    if (!line.empty() && line.rfind("#!", 0) != 0) break;
    pos = end + 1;
  }
  return {};
}

namespace {

// Calls F with each line of the recipe's leading comment block.
template <typename F>
void ForEachHeaderLine(std::string_view text, F f) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.empty() || line[0] != '#') break;
    f(line);
    pos = end + 1;
  }
}

}  // namespace

std::vector<RecipeParam> RecipeParams(std::string_view text) {
  std::vector<RecipeParam> out;
  ForEachHeaderLine(text, [&](std::string_view line) {
    constexpr std::string_view kPrefix = "# param: ";
    if (line.substr(0, kPrefix.size()) != kPrefix) return;
    line.remove_prefix(kPrefix.size());
    auto word = [&line]() {
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      size_t sp = line.find(' ');
      std::string_view w = line.substr(0, sp);
      line.remove_prefix(sp == std::string_view::npos ? line.size() : sp);
      return w;
    };
    RecipeParam p;
    p.name = std::string(word());
    std::string_view kind = word();
    if (kind == "required") {
      p.required = true;
    } else if (kind.substr(0, 9) == "optional=") {
      p.default_value = std::string(kind.substr(9));
    } else if (kind != "optional") {
      return;
    }
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    p.description = std::string(line);
    if (!p.name.empty()) out.push_back(std::move(p));
  });
  return out;
}

bool RecipeSupportsRollback(std::string_view text) {
  bool yes = false;
  ForEachHeaderLine(text, [&](std::string_view line) {
    if (line == "# rollback: supported") yes = true;
  });
  return yes;
}

}  // namespace jenky
