#include "util/json.h"

#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

namespace jenky {
namespace {

TEST(JsonTest, CountsNestingOfArraysAndObjects) {
  EXPECT_FALSE(JsonNestedDeeperThan("{}", 1));
  EXPECT_TRUE(JsonNestedDeeperThan("{}", 0));
  EXPECT_FALSE(JsonNestedDeeperThan(R"({"a": [1, {"b": 2}], "c": [[]]})", 3));
  EXPECT_TRUE(JsonNestedDeeperThan(R"({"a": [1, {"b": [2]}]})", 3));
  // Depth is the deepest point, not the number of brackets.
  EXPECT_FALSE(JsonNestedDeeperThan("[[],[],[],[],[],[],[]]", 2));
}

TEST(JsonTest, BracketsInsideStringsDoNotCount) {
  EXPECT_FALSE(JsonNestedDeeperThan(R"({"a": "[[[[{{{{"})", 1));
  // An escaped quote does not end the string.
  EXPECT_FALSE(JsonNestedDeeperThan(R"({"a": "\"[[[[", "b": "\\"})", 1));
  EXPECT_TRUE(JsonNestedDeeperThan(R"({"a": "\\", "b": [[]]})", 2));
}

TEST(JsonTest, AMegabyteOfOpeningBracketsIsRefusedAtTheLimit) {
  std::string deep(1 << 20, '[');
  EXPECT_TRUE(JsonNestedDeeperThan(deep, 64));
  EXPECT_FALSE(JsonNestedDeeperThan(std::string(64, '[') + std::string(64, ']'), 64));
  EXPECT_TRUE(JsonNestedDeeperThan(std::string(65, '{'), 64));
}

}  // namespace
}  // namespace jenky
