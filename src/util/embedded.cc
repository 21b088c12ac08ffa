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

}  // namespace jenky
