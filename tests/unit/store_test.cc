#include "store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include "temp_dir.h"
#include "util/embedded.h"

namespace jenky {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  static ::jenky::Run MakeRun(int64_t id, const std::string& project) {
    ::jenky::Run r;
    r.id = id;
    r.project = project;
    r.created_at = 1'700'000'000'000 + id;
    r.trigger.kind = TriggerKind::kWebhook;
    r.trigger.provider = "github";
    r.trigger.commit = "9f1c";
    return r;
  }

  TempDir dir_{"store"};
  std::string path_ = dir_ / "jenky.db";
};

TEST_F(StoreTest, RunsSurviveReopening) {
  {
    auto s = Store::Open(path_);
    ASSERT_TRUE(s.ok()) << s.status().message();
    ::jenky::Run r = MakeRun(1, "a");
    ASSERT_TRUE((*s)->InsertRun(r).ok());
    r.status = RunStatus::kFailed;
    r.exit_code = 2;
    r.reason = "script exited with status 2";
    r.log_bytes = 10;
    r.resources = RunResources{1.25, std::nullopt, 3};
    ASSERT_TRUE((*s)->UpdateRun(r).ok());
    ::jenky::Run with = MakeRun(7, "a");
    with.trigger.inputs = {{"level", "debug"}, {"dry_run", "true"}};
    with.trigger.repo_url = "https://github.com/o/r";
    with.trigger.message = "Fix the thing\n\nLonger text";
    ASSERT_TRUE((*s)->InsertRun(with).ok());
  }
  auto s = Store::Open(path_);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->schema_version(), static_cast<int>(Migrations().size()));  // every one applied
  auto r = (*s)->GetRun(1);
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->status, RunStatus::kFailed);
  EXPECT_EQ((*r)->exit_code, 2);
  EXPECT_EQ((*r)->trigger.provider, "github");
  EXPECT_EQ((*r)->log_bytes, 10);
  EXPECT_TRUE((*r)->trigger.inputs.empty());
  auto with = (*s)->GetRun(7);
  ASSERT_TRUE(with.ok() && with->has_value());
  std::vector<std::pair<std::string, std::string>> inputs = {{"dry_run", "true"},
                                                             {"level", "debug"}};
  EXPECT_EQ((*with)->trigger.inputs, inputs);  // (kept as a JSON object: sorted)
  EXPECT_EQ((*with)->trigger.repo_url, "https://github.com/o/r");
  EXPECT_EQ((*with)->trigger.message, "Fix the thing\n\nLonger text");
  // Measured what there was to measure (no memory controller): kept as is.
  EXPECT_EQ((*r)->resources, (RunResources{1.25, std::nullopt, 3}));
  EXPECT_FALSE((*(*s)->GetRun(2)).has_value());
}

TEST_F(StoreTest, ListsNewestFirstWithLimitAndBefore) {
  auto s = Store::Open(path_);
  std::vector<::jenky::Run> runs;
  for (int i = 1; i <= 10; ++i) runs.push_back(MakeRun(i, i % 2 ? "odd" : "even"));
  ASSERT_TRUE((*s)->InsertRuns(runs).ok());
  auto odd = (*s)->ListRuns("odd", 3, 0);
  ASSERT_EQ(odd->size(), 3u);
  EXPECT_EQ((*odd)[0].id, 9);
  EXPECT_EQ((*odd)[2].id, 5);
  auto page2 = (*s)->ListRuns("odd", 3, 5);
  ASSERT_EQ(page2->size(), 2u);
  EXPECT_EQ((*page2)[0].id, 3);
  auto all = (*s)->ListRuns("", 100, 0);
  EXPECT_EQ(all->size(), 10u);
  EXPECT_EQ(*(*s)->MaxRunId(), 10);
  EXPECT_EQ((*(*s)->LastRun("even"))->id, 10);
}

TEST_F(StoreTest, UnfinishedAndPrune) {
  auto s = Store::Open(path_);
  for (int i = 1; i <= 6; ++i) {
    ::jenky::Run r = MakeRun(i, "p");
    r.status = i == 6 ? RunStatus::kRunning : RunStatus::kSucceeded;
    ASSERT_TRUE((*s)->InsertRun(r).ok());
  }
  auto unfinished = (*s)->UnfinishedRuns();
  ASSERT_EQ(unfinished->size(), 1u);
  EXPECT_EQ((*unfinished)[0].id, 6);
  auto prune = (*s)->RunsToPrune("p", 2);
  EXPECT_EQ(*prune, (std::vector<int64_t>{1, 2, 3, 4}));
  for (int64_t id : *prune) ASSERT_TRUE((*s)->MarkPruned(id).ok());
  EXPECT_TRUE((*s)->RunsToPrune("p", 2)->empty());
  EXPECT_TRUE((*(*s)->GetRun(1))->log_pruned);
}

TEST_F(StoreTest, RefusesADatabaseFromTheFuture) {
  { auto s = Store::Open(path_); }
  {
    auto s = Store::Open(path_);
    ASSERT_TRUE(s.ok());
  }
  // Pretend a newer jenky migrated it further.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = Store::Open(path_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("newer jenky"), std::string::npos);
}

}  // namespace
}  // namespace jenky
