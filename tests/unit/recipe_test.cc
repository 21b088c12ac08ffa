#include <gtest/gtest.h>

#include "util/embedded.h"

namespace jenky {
namespace {

constexpr const char* kRecipe = R"(#!/usr/bin/env bash
# Build, switch a release, restart a unit.
# param: build required command that builds the artifacts
# param: keep optional=5 releases to keep
# param: health_url optional= URL that must answer 2xx
# param: bogus sometimes this line is not a parameter
# rollback: supported
set -euo pipefail
# param: late required not in the header: ignored
)";

TEST(RecipeTest, ParamsComeFromTheHeader) {
  auto params = RecipeParams(kRecipe);
  ASSERT_EQ(params.size(), 3u);
  EXPECT_EQ(params[0].name, "build");
  EXPECT_TRUE(params[0].required);
  EXPECT_EQ(params[0].description, "command that builds the artifacts");
  EXPECT_EQ(params[1].name, "keep");
  EXPECT_FALSE(params[1].required);
  EXPECT_EQ(params[1].default_value, "5");
  EXPECT_EQ(params[2].name, "health_url");
  EXPECT_EQ(params[2].default_value, "");
  EXPECT_EQ(RecipeSummary(kRecipe), "Build, switch a release, restart a unit.");
  EXPECT_TRUE(RecipeSupportsRollback(kRecipe));
  EXPECT_FALSE(RecipeSupportsRollback("#!/bin/sh\n# x\necho '# rollback: supported'\n"));
}

TEST(RecipeTest, EveryEmbeddedRecipeHasADescription) {
  ASSERT_FALSE(Recipes().empty());
  for (const auto& r : Recipes()) {
    EXPECT_FALSE(RecipeSummary(r.data).empty()) << r.name;
    EXPECT_EQ(r.data.substr(0, 2), "#!") << r.name;
  }
}

}  // namespace
}  // namespace jenky
