// Deploy inputs: the config's declarations and what a trigger may ask for.
#include "config/inputs_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "config_parse.h"

namespace jenky {
namespace {

const char* kConfig = R"(
[projects.app]
script = "x"
[projects.app.inputs.level]
type = "choice"
choices = ["info", "debug"]
default = "info"
description = "log level"
[projects.app.inputs.dry_run]
type = "bool"
[projects.app.inputs.note]
description = "free text"
)";

TEST(InputsConfigTest, DeclaredInputsLoadWithTheirDefaults) {
  auto c = ParseWithoutEnv(kConfig);
  ASSERT_TRUE(c.ok()) << AllErrors(c);
  const auto& in = c.config.projects[0].inputs;
  ASSERT_EQ(in.size(), 3u);  // sorted by name
  EXPECT_EQ(in[0].name, "dry_run");
  EXPECT_EQ(in[0].type, InputConfig::Type::kBool);
  EXPECT_EQ(in[0].default_value, "false");
  EXPECT_EQ(in[1].name, "level");
  EXPECT_EQ(in[1].default_value, "info");
  EXPECT_EQ(in[1].description, "log level");
  EXPECT_EQ(in[2].type, InputConfig::Type::kString);
}

TEST(InputsConfigTest, BadDeclarationsAreErrorsAtTheirKeys) {
  auto c = ParseWithoutEnv(R"(
[projects.app]
script = "x"
[projects.app.inputs.level]
type = "choice"
[projects.app.inputs.mode]
type = "number"
[projects.app.inputs.pick]
type = "choice"
choices = ["a", "b"]
default = "c"
[projects.app.inputs."bad name"]
type = "string"
)");
  std::string e = AllErrors(c);
  EXPECT_NE(e.find("projects.app.inputs.level is a choice: give its choices"), std::string::npos)
      << e;
  EXPECT_NE(
      e.find(":7:8: projects.app.inputs.mode.type 'number' is not one of string, choice, bool"),
      std::string::npos)
      << e;
  EXPECT_NE(e.find("projects.app.inputs.pick.default must be one of a, b, not 'c'"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("input name 'bad name' must be letters"), std::string::npos) << e;
}

TEST(InputsConfigTest, ATriggerGetsEveryInputAndAnErrorPerBadField) {
  auto c = ParseWithoutEnv(kConfig);
  ASSERT_TRUE(c.ok()) << AllErrors(c);
  const ProjectConfig& p = c.config.projects[0];
  auto ok = ResolveInputs(p, nlohmann::json{{"level", "debug"}, {"dry_run", true}});
  ASSERT_TRUE(ok.ok()) << ok.Message();
  std::vector<std::pair<std::string, std::string>> want = {
      {"dry_run", "true"}, {"level", "debug"}, {"note", ""}};
  EXPECT_EQ(ok.values, want);
  EXPECT_TRUE(ResolveInputs(p, nullptr).ok());
  auto bad = ResolveInputs(
      p, nlohmann::json{{"level", "trace"}, {"dry_run", "yes"}, {"note", 3}, {"colour", "red"}});
  ASSERT_EQ(bad.errors.size(), 4u);
  EXPECT_EQ(bad.errors["level"], "must be one of info, debug, not 'trace'");
  EXPECT_EQ(bad.errors["dry_run"], "must be true or false");
  EXPECT_EQ(bad.errors["note"], "must be a string");
  EXPECT_EQ(bad.errors["colour"], "is not declared; project 'app' has dry_run, level, note");
  EXPECT_NE(bad.Message().find("input 'level' must be one of info, debug"), std::string::npos);
  auto control = ResolveInputs(p, nlohmann::json{{"note", std::string("a\x1b[31m")}});
  EXPECT_EQ(control.errors["note"], "has a control character");
  EXPECT_FALSE(ResolveInputs(p, nlohmann::json::array()).ok());
  EXPECT_EQ(InputEnvName("dry-run"), "JENKY_INPUT_DRY_RUN");
}

}  // namespace
}  // namespace jenky

namespace jenky {
namespace {

TEST(AuditRetentionConfigTest, TheAuditLogKeepsHalfAYearUnlessTold) {
  auto plain = ParseWithoutEnv("[server]\nlisten = \"127.0.0.1:8080\"\n");
  ASSERT_TRUE(plain.ok()) << AllErrors(plain);
  EXPECT_EQ(plain.config.server.audit_retention, std::chrono::hours(24 * 180));
  auto month = ParseWithoutEnv("[server]\naudit_retention = \"30d\"\n");
  ASSERT_TRUE(month.ok()) << AllErrors(month);
  EXPECT_EQ(month.config.server.audit_retention, std::chrono::hours(24 * 30));
  auto bad = ParseWithoutEnv("[server]\naudit_retention = \"a while\"\n");
  EXPECT_NE(AllErrors(bad).find("audit_retention"), std::string::npos) << AllErrors(bad);
}

}  // namespace
}  // namespace jenky
