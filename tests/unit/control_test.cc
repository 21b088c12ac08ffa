// Paused projects and the audit log over the real SQLite store.
#include "server/control.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "temp_dir.h"

namespace jenky {
namespace {

class ControlTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open() {
    auto s = Store::Open(dir_ / "jenky.db");
    EXPECT_TRUE(s.ok()) << s.status().message();
    return std::move(s).value();
  }
  TempDir dir_{"control"};
  int64_t now_ = 1'700'000'000'000;
  std::function<int64_t()> clock_ = [this] { return now_; };
};

TEST_F(ControlTest, APauseSurvivesARestartAndIsAudited) {
  {
    auto store = Open();
    Control c(*store, clock_);
    EXPECT_EQ(c.PauseOf("app"), nullptr);
    auto p = c.Pause("app", "token:laptop", "db migration", "10.0.0.7");
    ASSERT_TRUE(p.ok()) << p.status().message();
  }
  auto store = Open();
  Control c(*store, clock_);
  const ProjectPause* p = c.PauseOf("app");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->paused_by, "token:laptop");
  EXPECT_EQ(p->reason, "db migration");
  EXPECT_EQ(p->paused_at, now_);
  auto audit = c.ListAudit(10, 0, "");
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].action, "pause");
  EXPECT_EQ((*audit)[0].actor, "token:laptop");
  EXPECT_EQ((*audit)[0].address, "10.0.0.7");
  EXPECT_EQ((*audit)[0].detail, "db migration");
}

TEST_F(ControlTest, ResumingAProjectThatIsNotPausedIsAConflict) {
  auto store = Open();
  Control c(*store, clock_);
  Status s = c.Resume("app", "local", "");
  EXPECT_EQ(s.kind(), StatusCode::kConflict);
  ASSERT_TRUE(c.Pause("app", "local", "", "").ok());
  EXPECT_TRUE(c.Resume("app", "local", "").ok());
  EXPECT_EQ(c.PauseOf("app"), nullptr);
}

TEST_F(ControlTest, TheAuditLogIsNewestFirstPagedAndFilteredByProject) {
  auto store = Open();
  Control c(*store, clock_);
  for (int i = 0; i < 5; ++i) {
    now_ += 1000;
    c.Audit({0, 0, "local", "trigger", i % 2 ? "b" : "a", i + 1, "127.0.0.1", ""});
  }
  auto all = c.ListAudit(3, 0, "");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].run, 5);
  EXPECT_EQ((*all)[2].run, 3);
  auto older = c.ListAudit(10, (*all)[2].id, "");
  ASSERT_EQ(older->size(), 2u);
  EXPECT_EQ((*older)[0].run, 2);
  auto b = c.ListAudit(10, 0, "b");
  ASSERT_EQ(b->size(), 2u);
  EXPECT_EQ((*b)[0].project, "b");
}

TEST_F(ControlTest, AuditEntriesCannotBeChangedAndOldOnesAreDeletedByRetention) {
  auto store = Open();
  Control c(*store, clock_);
  c.Audit({0, now_ - 100'000, "local", "trigger", "a", 1, "", ""});
  c.Audit({0, now_, "local", "cancel", "a", 1, "", ""});
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "jenky.db").c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_NE(sqlite3_exec(db, "UPDATE audit SET actor = 'someone else'", nullptr, nullptr, &err),
              SQLITE_OK);
    EXPECT_NE(std::string(err ? err : "").find("append-only"), std::string::npos);
    sqlite3_free(err);
    sqlite3_close(db);
  }
  now_ += 3600 * 1000;
  c.set_retention_ms(3600 * 1000);  // keeps the last hour
  c.PruneAudit();
  auto left = c.ListAudit(10, 0, "");
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].action, "cancel");
}

}  // namespace
}  // namespace jenky
