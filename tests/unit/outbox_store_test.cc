// SqliteStore's outbox (store/outbox_store.cc, migration 006): a run's row
// and its messages are written together or not at all, pending messages
// survive reopening, and updates keep what the API shows.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "store/store.h"
#include "temp_dir.h"

namespace jenky {
namespace {

class OutboxStoreTest : public ::testing::Test {
 protected:
  static jenky::Run MakeRun(int64_t id, RunStatus status) {
    jenky::Run r;
    r.id = id;
    r.project = "app";
    r.status = status;
    r.created_at = 1'700'000'000'000;
    return r;
  }
  static OutboxMessage Message(int64_t id, int64_t run, const std::string& event) {
    OutboxMessage m;
    m.id = id;
    m.run_id = run;
    m.project = "app";
    m.receiver = "notify:hook";
    m.kind = "webhook";
    m.event = event;
    m.body = "{\"type\":\"" + event + "\"}";
    m.created_at = 1'700'000'000'100 + id;
    return m;
  }
  TempDir dir_{"outbox-store"};
  std::string path_ = dir_ / "jenky.db";
};

TEST_F(OutboxStoreTest, ARunAndItsMessagesAreSavedTogetherAndSurviveReopening) {
  {
    auto s = Store::Open(path_);
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_GE((*s)->schema_version(), 6);
    ASSERT_TRUE(
        (*s)->SaveRunAndMessages(MakeRun(1, RunStatus::kRunning), {Message(1, 1, "run.started")})
            .ok());
    ASSERT_TRUE(
        (*s)->SaveRunAndMessages(MakeRun(1, RunStatus::kFailed), {Message(2, 1, "run.failed")})
            .ok());
    OutboxMessage sent = Message(1, 1, "run.started");
    sent.state = MessageState::kSent;
    sent.attempts = 2;
    sent.finished_at = 1'700'000'001'000;
    sent.last_http_status = 200;
    ASSERT_TRUE((*s)->UpdateMessage(sent).ok());
  }
  auto s = Store::Open(path_);
  ASSERT_TRUE(s.ok());
  auto pending = (*s)->PendingMessages();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->at(0).event, "run.failed");
  EXPECT_EQ(pending->at(0).body, "{\"type\":\"run.failed\"}");
  auto listed = (*s)->ListMessages("", 1, 10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(listed->at(0).id, 2);  // newest first
  EXPECT_EQ(listed->at(1).state, MessageState::kSent);
  EXPECT_EQ(listed->at(1).attempts, 2);
  EXPECT_EQ(listed->at(1).last_http_status, 200);
  EXPECT_EQ((*s)->ListMessages("app", 0, 10)->size(), 2u);
  EXPECT_EQ(*(*s)->MaxMessageId(), 2);
  EXPECT_EQ((*(*s)->GetRun(1))->status, RunStatus::kFailed);
}

TEST_F(OutboxStoreTest, WhenAMessageCannotBeWrittenTheRunsStateIsNotWrittenEither) {
  auto s = Store::Open(path_);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(
      (*s)->SaveRunAndMessages(MakeRun(1, RunStatus::kRunning), {Message(1, 1, "run.started")})
          .ok());
  // Message id 1 exists: the insert fails, and the whole transaction with it.
  Status st =
      (*s)->SaveRunAndMessages(MakeRun(1, RunStatus::kFailed), {Message(1, 1, "run.failed")});
  EXPECT_FALSE(st.ok());
  EXPECT_EQ((*(*s)->GetRun(1))->status, RunStatus::kRunning);
  EXPECT_EQ((*s)->PendingMessages()->size(), 1u);
  // And the connection is usable after the rollback.
  EXPECT_TRUE(
      (*s)->SaveRunAndMessages(MakeRun(1, RunStatus::kFailed), {Message(2, 1, "run.failed")}).ok());
}

TEST_F(OutboxStoreTest, ALockedDatabaseRefusesBothAndTakesThemLater) {
  auto s = Store::Open(path_);
  ASSERT_TRUE(s.ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_FALSE(
      (*s)->SaveRunAndMessages(MakeRun(1, RunStatus::kRunning), {Message(1, 1, "run.started")})
          .ok());
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  EXPECT_FALSE((*(*s)->GetRun(1)).has_value());
  EXPECT_TRUE((*s)->PendingMessages()->empty());
  EXPECT_TRUE(
      (*s)->SaveRunAndMessages(MakeRun(1, RunStatus::kRunning), {Message(1, 1, "run.started")})
          .ok());
  EXPECT_EQ((*s)->PendingMessages()->size(), 1u);
}

TEST_F(OutboxStoreTest, PruningDeletesOnlyFinishedMessagesOlderThanTheCut) {
  auto s = Store::Open(path_);
  ASSERT_TRUE(s.ok()) << s.status().message();
  std::vector<OutboxMessage> ms;
  for (int64_t id = 1; id <= 4; ++id) ms.push_back(Message(id, 1, "run.failed"));
  ms[0].state = MessageState::kSent;  // old: goes
  ms[0].finished_at = 1000;
  ms[1].state = MessageState::kFailed;  // old: goes
  ms[1].finished_at = 1999;
  ms[2].state = MessageState::kSent;  // recent: stays
  ms[2].finished_at = 2000;
  // ms[3] pending, however old it is: stays
  ASSERT_TRUE((*s)->SaveRunAndMessages(MakeRun(1, RunStatus::kFailed), ms).ok());
  auto deleted = (*s)->PruneMessages(2000);
  ASSERT_TRUE(deleted.ok()) << deleted.status().message();
  EXPECT_EQ(*deleted, 2);
  auto left = (*s)->ListMessages("app", 0, 10);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 2u);
  EXPECT_EQ((*left)[0].id, 4);
  EXPECT_EQ((*left)[1].id, 3);
  EXPECT_EQ(*(*s)->MaxMessageId(), 4);
}

}  // namespace
}  // namespace jenky
