// A project's recipe and its parameters, as loaded from jenky.toml.
#include "config/recipe_params.h"

#include <gtest/gtest.h>

#include <string>

#include "config_parse.h"

namespace jenky {
namespace {

ConfigLoad Parse(const std::string& text) { return ParseWithoutEnv(text); }
std::string Errors(const ConfigLoad& c) { return AllErrors(c); }

TEST(RecipeParamsTest, UnknownRecipeListsTheKnownOnes) {
  auto c = Parse("[projects.a]\nrecipe = \"nope\"\n");
  EXPECT_NE(Errors(c).find("no recipe named 'nope'; jenky has: demo"), std::string::npos)
      << Errors(c);
}

TEST(RecipeParamsTest, RecipeParamsAreChecked) {
  auto c = Parse("[projects.a]\nrecipe = \"demo\"\n[projects.a.params]\nspeed = \"fast\"\n");
  ASSERT_EQ(c.errors.size(), 1u) << Errors(c);
  EXPECT_EQ(c.errors[0].line, 4);
  EXPECT_NE(c.errors[0].message.find("recipe 'demo' has no parameter 'speed'"), std::string::npos);
  auto script = Parse("[projects.a]\nscript = \"x\"\n[projects.a.params]\nspeed = \"fast\"\n");
  EXPECT_NE(Errors(script).find("only used with recipe"), std::string::npos);
}

TEST(RecipeParamsTest, OptionalParametersGetTheirDefaultsAndValuesBecomeText) {
  auto c = Parse(
      "[projects.a]\nrecipe = \"git-pull\"\n[projects.a.params]\n"
      "allow_dirty = true\nbranch = \"main\"\n");
  ASSERT_TRUE(c.ok()) << Errors(c);
  const auto& params = c.config.projects[0].params;
  EXPECT_EQ(params.at("allow_dirty"), "true");
  EXPECT_EQ(params.at("branch"), "main");
  EXPECT_EQ(params.at("remote"), "origin");  // its default
  EXPECT_EQ(params.at("url"), "");
}

TEST(RecipeParamsTest, AMissingRequiredParameterSaysWhereToAddIt) {
  auto c = Parse(
      "[projects.site]\nrecipe = \"static-site\"\n[projects.site.params]\n"
      "build = \"make\"\noutput = \"dist\"\n");
  ASSERT_EQ(c.errors.size(), 1u) << Errors(c);
  EXPECT_EQ(c.errors[0].line, 3);  // the params table
  EXPECT_NE(c.errors[0].message.find("recipe 'static-site' needs parameter 'target'"),
            std::string::npos);
  EXPECT_NE(c.errors[0].message.find("[projects.site.params]"), std::string::npos);
}

TEST(RecipeParamsTest, AParameterThatIsNotTextNumberOrBooleanIsAnError) {
  auto c = Parse("[projects.a]\nrecipe = \"git-pull\"\n[projects.a.params]\nremote = [1]\n");
  EXPECT_NE(Errors(c).find("projects.a.params.remote must be a string, number or boolean"),
            std::string::npos)
      << Errors(c);
  auto table = Parse("[projects.a]\nrecipe = \"git-pull\"\nparams = 3\n");
  EXPECT_NE(Errors(table).find("projects.a.params must be a table"), std::string::npos);
}

}  // namespace
}  // namespace jenky
