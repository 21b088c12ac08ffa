// The Run JSON (core/run.h): RunJsonText writes the same bytes as
// DumpJson(RunToJson(...)), checked on runs made at random from awkward
// text (quotes, control characters, every UTF-8 length, invalid bytes).
#include "core/run.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "util/json.h"

namespace jenky {
namespace {

std::string RandomText(std::mt19937& rng) {
  static const std::vector<std::string> kPieces = {"",
                                                   "a",
                                                   "main",
                                                   "\"",
                                                   "\\",
                                                   "\n",
                                                   "\t",
                                                   "\r",
                                                   "\b",
                                                   "\f",
                                                   "\x01",
                                                   "\x1f",
                                                   "\x7f",
                                                   " ",
                                                   "/",
                                                   "é",
                                                   "€",
                                                   "\xF0\x9F\x9A\x80",
                                                   "\xC3",
                                                   "\xFF",
                                                   "\xE2\x82",
                                                   "{}",
                                                   "\u2028",
                                                   "null",
                                                   "refs/heads/x",
                                                   "0"};
  std::string s;
  int n = std::uniform_int_distribution<int>(0, 6)(rng);
  for (int i = 0; i < n; ++i) {
    s += kPieces[std::uniform_int_distribution<size_t>(0, kPieces.size() - 1)(rng)];
  }
  return s;
}

Run RandomRun(std::mt19937& rng) {
  auto coin = [&] { return std::uniform_int_distribution<int>(0, 1)(rng) == 1; };
  auto text = [&] { return coin() ? std::string() : RandomText(rng); };
  jenky::Run r;
  r.id = std::uniform_int_distribution<int64_t>(1, 1LL << 40)(rng);
  r.project = RandomText(rng) + "p";
  r.status = static_cast<RunStatus>(std::uniform_int_distribution<int>(0, 6)(rng));
  r.trigger.kind = static_cast<TriggerKind>(std::uniform_int_distribution<int>(0, 5)(rng));
  r.trigger.provider = text();
  r.trigger.ref = text();
  r.trigger.branch = text();
  r.trigger.commit = text();
  r.trigger.actor = text();
  r.trigger.delivery = text();
  r.trigger.action = coin() ? "deploy" : text();
  r.trigger.rollback_to = coin() ? 0 : std::uniform_int_distribution<int64_t>(1, 99999)(rng);
  int inputs = std::uniform_int_distribution<int>(0, 3)(rng);
  for (int i = 0; i < inputs; ++i) r.trigger.inputs.emplace_back(RandomText(rng), RandomText(rng));
  if (inputs > 1 && coin()) r.trigger.inputs.push_back(r.trigger.inputs[0]);  // a name twice
  r.trigger.repo_url = text();
  r.trigger.message = text();
  r.created_at = coin() ? 0 : std::uniform_int_distribution<int64_t>(1, 4102444800000)(rng);
  r.started_at = coin() ? 0 : r.created_at + 7;
  r.finished_at = coin() ? 0 : r.created_at + 1234;
  if (coin()) r.exit_code = std::uniform_int_distribution<int>(-1, 255)(rng);
  r.reason = text();
  r.log_bytes = std::uniform_int_distribution<int64_t>(0, 1LL << 36)(rng);
  r.recipe = text();
  r.script_sha256 = text();
  r.log_pruned = coin();
  if (coin()) {
    RunResources res;
    if (coin()) res.cpu_seconds = std::uniform_real_distribution<double>(0, 5000)(rng);
    if (coin()) res.memory_peak_bytes = std::uniform_int_distribution<int64_t>(0, 1LL << 34)(rng);
    if (coin()) res.processes_peak = std::uniform_int_distribution<int64_t>(0, 5000)(rng);
    r.resources = res;
  }
  return r;
}

TEST(RunJsonTest, TheTextIsExactlyTheTreesDump) {
  std::mt19937 rng(20261205);
  for (int i = 0; i < 20000; ++i) {
    jenky::Run r = RandomRun(rng);
    ASSERT_EQ(RunJsonText(r), DumpJson(RunToJson(r))) << "run " << i;
  }
}

TEST(RunJsonTest, ADefaultRunAndAFullOneReadBack) {
  EXPECT_EQ(RunJsonText(jenky::Run{}), DumpJson(RunToJson(jenky::Run{})));
  jenky::Run r;
  r.id = 42;
  r.project = "app";
  r.status = RunStatus::kSucceeded;
  r.trigger.commit = "9f1c2ab";
  r.trigger.inputs = {{"level", "debug"}, {"dry", "true"}};
  r.created_at = 1796458795469;
  r.exit_code = 0;
  jenky::Run back = RunFromJson(nlohmann::json::parse(RunJsonText(r)));
  EXPECT_EQ(back.id, 42);
  EXPECT_EQ(back.project, "app");
  EXPECT_EQ(back.trigger.commit, "9f1c2ab");
  EXPECT_EQ(back.trigger.inputs.size(), 2u);
  EXPECT_EQ(back.created_at, r.created_at);
}

}  // namespace
}  // namespace jenky
