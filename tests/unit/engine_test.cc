// The engine through its seams (engine_fakes.h, fake_store.h): the recovery
// matrix of docs/architecture.md ("Adoption and recovery") and the three
// concurrency policies, with no process, lock or SQLite, in milliseconds.
#include "server/engine.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "engine_fakes.h"
#include "fake_sender.h"
#include "fake_store.h"
#include "temp_dir.h"
#include "util/fs.h"
#include "util/json.h"
#include "webhook/webhook.h"

namespace jenky {
namespace {

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    config_.server.data_dir = dir_;
    config_.server.warm_shell = false;
    AddProject("app", Concurrency::kQueue);
    auto store = std::make_unique<FakeStore>();
    store_ = store.get();
    store_owned_ = std::move(store);
  }
  void TearDown() override {
    Drain();  // the watches a finished run let go of
    engine_.reset();
  }

  void AddProject(const std::string& name, Concurrency c) {
    ProjectConfig p;
    p.name = name;
    p.script = "echo hi";
    p.workdir = dir_;
    p.concurrency = c;
    config_.projects.push_back(p);
  }
  Engine& Start() {
    EngineSeams seams{std::make_unique<FakeLauncher>(world_), std::make_unique<FakeWatcher>(world_),
                      [this] { return world_.now; }, std::make_unique<FakeSender>(net_)};
    engine_ = std::make_unique<Engine>(io_, config_, std::move(store_owned_), std::move(seams),
                                       "/usr/lib/jenky/jenky");
    Status s = engine_->Start();
    EXPECT_TRUE(s.ok()) << s.message();
    Drain();
    return *engine_;
  }
  // Runs what the loop has ready (posted finalizations), without waiting.
  void Drain() {
    io_.restart();
    io_.poll();
  }
  // Runs the loop until PRED holds (timers included), at most two seconds.
  void RunFor(std::chrono::milliseconds d) {
    io_.restart();
    io_.run_for(d);
  }
  template <typename Pred>
  bool RunUntil(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.restart();
      io_.run_one_for(std::chrono::milliseconds(10));
    }
    return true;
  }

  std::string RunPath(int64_t id) const { return RunDir::For(dir_, id).path; }
  jenky::Run StoredRun(int64_t id, RunStatus status, const std::string& project = "app") {
    jenky::Run r;
    r.id = id;
    r.project = project;
    r.status = status;
    r.created_at = world_.now - 1000;
    if (status == RunStatus::kRunning) r.started_at = world_.now - 900;
    store_->runs[id] = r;
    return r;
  }
  void WriteMeta(const jenky::Run& r) {
    ASSERT_TRUE(MakeDirs(RunPath(r.id), 0750).ok());
    ASSERT_TRUE(WriteFile(RunDir::For(dir_, r.id).meta(), DumpJson(RunToJson(r)), 0640).ok());
  }
  RunStatus StatusOf(int64_t id) {
    auto r = engine_->GetRun(id);
    EXPECT_TRUE(r.ok() && r->has_value()) << "run " << id;
    return r.ok() && r->has_value() ? (*r)->status : RunStatus::kQueued;
  }
  static ExitRecord Record(RunStatus status, int code = 0) {
    ExitRecord rec;
    rec.status = status;
    rec.exit_code = code;
    rec.finished_at = 1'700'000'000'500;
    return rec;
  }
  int64_t TriggerRun(const std::string& project = "app") {
    auto run = engine_->Trigger(project, Trigger{});
    EXPECT_TRUE(run.ok()) << run.status().message();
    Drain();
    return run.ok() ? run->id : 0;
  }

  TempDir tmp_{"engine"};
  std::string dir_;
  Config config_;
  FakeWorld world_;
  FakeNet net_;
  FakeStore* store_ = nullptr;
  std::unique_ptr<FakeStore> store_owned_;
  net::io_context io_;
  std::unique_ptr<Engine> engine_;
};

// --- The recovery matrix (docs/architecture.md, "Adoption and recovery") ---

// A run directory whose id the database lacks is put back from meta.json.
TEST_F(EngineTest, RunDirectoryMissingFromTheStoreIsPutBack) {
  jenky::Run r;
  r.id = 7;
  r.project = "app";
  r.trigger.commit = "abc123";
  r.created_at = world_.now - 5000;
  WriteMeta(r);
  world_.dirs[RunPath(7)].alive = true;
  Engine& e = Start();
  ASSERT_TRUE(store_->runs.count(7));
  EXPECT_EQ(store_->runs[7].trigger.commit, "abc123");
  EXPECT_EQ(store_->runs[7].started_at, r.created_at);  // started by its trigger
  EXPECT_EQ(StatusOf(7), RunStatus::kRunning);          // and adopted: its supervisor lives
  EXPECT_EQ(TriggerRun(), 8);                           // ids go on after it
  (void)e;
}

// A `running` run with exit.json finished while jenky was down: recorded.
TEST_F(EngineTest, RunningRunWithExitRecordIsRecorded) {
  StoredRun(3, RunStatus::kRunning);
  world_.dirs[RunPath(3)].exit = Record(RunStatus::kFailed, 2);
  Start();
  EXPECT_EQ(store_->runs[3].status, RunStatus::kFailed);
  EXPECT_EQ(store_->runs[3].exit_code, 2);
  EXPECT_EQ(engine_->RunningCount(), 0);
  EXPECT_TRUE(world_.launched.empty());
}

// A `running` run whose lock is held is adopted, watched through a pidfd for
// its verified supervisor, and recorded when that exits.
TEST_F(EngineTest, RunningRunWithHeldLockIsAdopted) {
  StoredRun(4, RunStatus::kRunning);
  world_.dirs[RunPath(4)].alive = true;
  Start();
  EXPECT_EQ(StatusOf(4), RunStatus::kRunning);
  EXPECT_EQ(engine_->RunningCount(), 1);
  EXPECT_EQ(world_.exit_watches.size(), 1u);
  EXPECT_NE(engine_->Tail(4), nullptr);  // followers stream it as before
  world_.Exit(RunPath(4), Record(RunStatus::kSucceeded));
  Drain();
  EXPECT_EQ(store_->runs[4].status, RunStatus::kSucceeded);
  EXPECT_EQ(engine_->RunningCount(), 0);
  EXPECT_TRUE(world_.launched.empty());  // never started a second time
}

// Alive by its lock but not identifiable by pid (a reused pid is never
// trusted): the lock is watched instead, and its release ends the run.
TEST_F(EngineTest, AdoptedRunWithoutVerifiedPidIsWatchedByItsLock) {
  StoredRun(4, RunStatus::kRunning);
  world_.dirs[RunPath(4)].alive = true;
  world_.dirs[RunPath(4)].identifiable = false;
  Start();
  EXPECT_TRUE(world_.exit_watches.empty());
  EXPECT_EQ(StatusOf(4), RunStatus::kRunning);
  world_.dirs[RunPath(4)].alive = false;
  world_.dirs[RunPath(4)].exit = Record(RunStatus::kSucceeded);
  ASSERT_TRUE(RunUntil([&] { return store_->runs[4].status == RunStatus::kSucceeded; }));
}

// Lock free, no exit.json, no exit.reserve: the supervisor the last server
// started may be on its way; when it takes the lock in time, the run lives,
// watched by its lock from then on.
TEST_F(EngineTest, SupervisorThatTakesTheLockLateIsWaitedFor) {
  StoredRun(5, RunStatus::kRunning);
  Start();
  EXPECT_EQ(StatusOf(5), RunStatus::kRunning);
  world_.now += 1000;
  world_.dirs[RunPath(5)].alive = true;
  RunFor(std::chrono::milliseconds(60));  // a few of its 20 ms looks
  world_.now += Engine::kLockWaitMs + 1;  // past the wait: it came, so no matter
  RunFor(std::chrono::milliseconds(60));
  EXPECT_EQ(StatusOf(5), RunStatus::kRunning);
  EXPECT_TRUE(world_.interrupted.empty());
  world_.dirs[RunPath(5)].alive = false;
  world_.dirs[RunPath(5)].exit = Record(RunStatus::kSucceeded);
  ASSERT_TRUE(RunUntil([&] { return store_->runs[5].status == RunStatus::kSucceeded; }));
}

// ... and when none takes it within kLockWaitMs, the run is lost.
TEST_F(EngineTest, SupervisorThatNeverTakesTheLockIsDeclaredLost) {
  StoredRun(5, RunStatus::kRunning);
  Start();
  Drain();
  EXPECT_EQ(StatusOf(5), RunStatus::kRunning);  // waiting, not lost yet
  EXPECT_TRUE(world_.interrupted.empty());
  world_.now += Engine::kLockWaitMs + 1;
  ASSERT_TRUE(RunUntil([&] { return store_->runs[5].status == RunStatus::kInterrupted; }));
  ASSERT_EQ(world_.interrupted.size(), 1u);
  EXPECT_NE(store_->runs[5].reason.find("supervisor is gone"), std::string::npos);
}

// Lock free, no exit.json, but exit.reserve: its supervisor was there and
// is gone (reboot, kill -9): interrupted at once.
TEST_F(EngineTest, RunningRunWhoseSupervisorIsGoneIsInterrupted) {
  StoredRun(6, RunStatus::kRunning);
  world_.dirs[RunPath(6)].reserved = true;
  Start();
  EXPECT_EQ(store_->runs[6].status, RunStatus::kInterrupted);
  EXPECT_EQ(world_.interrupted, std::vector<std::string>{RunPath(6)});
  EXPECT_EQ(engine_->RunningCount(), 0);
}

// A `queued` run with meta.json and a held lock was started by the last
// server: adopted, never started again.
TEST_F(EngineTest, QueuedRunWithHeldLockIsAdoptedNotRestarted) {
  jenky::Run r = StoredRun(2, RunStatus::kQueued);
  WriteMeta(r);
  world_.dirs[RunPath(2)].alive = true;
  Start();
  EXPECT_EQ(StatusOf(2), RunStatus::kRunning);
  EXPECT_EQ(store_->runs[2].status, RunStatus::kRunning);
  EXPECT_EQ(store_->runs[2].started_at, world_.now);
  EXPECT_TRUE(world_.launched.empty());
}

// ... and with exit.json: recorded.
TEST_F(EngineTest, QueuedRunWithExitRecordIsRecorded) {
  jenky::Run r = StoredRun(2, RunStatus::kQueued);
  WriteMeta(r);
  world_.dirs[RunPath(2)].exit = Record(RunStatus::kSucceeded);
  Start();
  EXPECT_EQ(store_->runs[2].status, RunStatus::kSucceeded);
  EXPECT_TRUE(world_.launched.empty());
}

// Other queued runs are queued again, in order, behind what was adopted; a
// queued run of a project no longer configured is cancelled.
TEST_F(EngineTest, OtherQueuedRunsAreQueuedAgainInOrder) {
  StoredRun(1, RunStatus::kRunning);
  world_.dirs[RunPath(1)].alive = true;
  StoredRun(2, RunStatus::kQueued);
  StoredRun(3, RunStatus::kQueued);
  StoredRun(4, RunStatus::kQueued, "gone");
  Start();
  EXPECT_EQ(store_->runs[4].status, RunStatus::kCancelled);
  EXPECT_EQ(StatusOf(2), RunStatus::kQueued);
  EXPECT_TRUE(world_.launched.empty());  // behind the adopted run 1
  world_.Exit(RunPath(1), Record(RunStatus::kSucceeded));
  Drain();
  EXPECT_EQ(world_.launched, std::vector<std::string>{RunPath(2)});
  world_.Exit(RunPath(2), Record(RunStatus::kSucceeded));
  Drain();
  EXPECT_EQ(world_.launched, (std::vector<std::string>{RunPath(2), RunPath(3)}));
}

// Queued runs that recovery starts at once (nothing holds their lane) get a
// supervisor made with the configuration's options, as later runs do.
TEST_F(EngineTest, QueuedRunsRecoveryStartsGetASupervisor) {
  StoredRun(2, RunStatus::kQueued);
  Start();
  EXPECT_EQ(world_.launched, std::vector<std::string>{RunPath(2)});
  EXPECT_EQ(StatusOf(2), RunStatus::kRunning);
}

// A run whose supervisor exits without a record is interrupted.
TEST_F(EngineTest, SupervisorExitWithoutRecordIsInterrupted) {
  Start();
  int64_t id = TriggerRun();
  EXPECT_EQ(StatusOf(id), RunStatus::kRunning);
  world_.Exit(RunPath(id), std::nullopt);
  Drain();
  EXPECT_EQ(store_->runs[id].status, RunStatus::kInterrupted);
  EXPECT_NE(store_->runs[id].reason.find("exited without a result"), std::string::npos);
}

TEST_F(EngineTest, AWarmStartWhoseSupervisorDiedIsInterruptedNotFailedToStart) {
  // The script runs (the warm shell had it) and no supervisor watches it:
  // the run is lost, not "failed to start" (a StatusCode, not a string
  // that no longer matched, tells the two apart).
  world_.launch_error = Status::Error("its supervisor died before it was handed the run",
                                      StatusCode::kSupervisorLost);
  Start();
  int64_t id = TriggerRun();
  Drain();
  EXPECT_EQ(store_->runs[id].status, RunStatus::kInterrupted);
  EXPECT_EQ(world_.interrupted, std::vector<std::string>{RunPath(id)});
}

TEST_F(EngineTest, ALaunchThatFailsIsFailedToStart) {
  world_.launch_error = Status::Error("cannot start a supervisor process");
  Start();
  int64_t id = TriggerRun();
  Drain();
  EXPECT_EQ(store_->runs[id].status, RunStatus::kFailed);
  EXPECT_TRUE(world_.interrupted.empty());
}

// --- The concurrency policies, through the Engine ---

TEST_F(EngineTest, QueuePolicyRunsEveryTriggerInTurn) {
  Start();
  int64_t a = TriggerRun(), b = TriggerRun(), c = TriggerRun();
  EXPECT_EQ(world_.launched, std::vector<std::string>{RunPath(a)});
  EXPECT_EQ(StatusOf(b), RunStatus::kQueued);
  EXPECT_EQ(engine_->QueuedCount(), 2);
  world_.Exit(RunPath(a), Record(RunStatus::kSucceeded));
  Drain();
  EXPECT_EQ(world_.launched, (std::vector<std::string>{RunPath(a), RunPath(b)}));
  world_.Exit(RunPath(b), Record(RunStatus::kFailed, 1));
  Drain();
  EXPECT_EQ(world_.launched, (std::vector<std::string>{RunPath(a), RunPath(b), RunPath(c)}));
  EXPECT_EQ(store_->runs[b].status, RunStatus::kFailed);
}

TEST_F(EngineTest, CoalescePolicyKeepsOnlyTheNewestPendingTrigger) {
  config_.projects[0].concurrency = Concurrency::kCoalesce;
  Start();
  int64_t a = TriggerRun(), b = TriggerRun(), c = TriggerRun();
  EXPECT_EQ(StatusOf(b), RunStatus::kCancelled);  // superseded by c
  EXPECT_EQ(StatusOf(c), RunStatus::kQueued);
  EXPECT_EQ(engine_->QueuedCount(), 1);
  world_.Exit(RunPath(a), Record(RunStatus::kSucceeded));
  Drain();
  EXPECT_EQ(world_.launched, (std::vector<std::string>{RunPath(a), RunPath(c)}));
  EXPECT_EQ(store_->runs[b].status, RunStatus::kCancelled);
}

TEST_F(EngineTest, CancelPreviousPolicyStartsTheNewestOnlyOnceTheOldHasEnded) {
  config_.projects[0].concurrency = Concurrency::kCancelPrevious;
  Start();
  int64_t a = TriggerRun(), b = TriggerRun();
  EXPECT_EQ(world_.cancelled, std::vector<std::string>{RunPath(a)});
  EXPECT_EQ(world_.launched, std::vector<std::string>{RunPath(a)});  // never two at once
  EXPECT_EQ(StatusOf(b), RunStatus::kQueued);
  world_.Exit(RunPath(a), Record(RunStatus::kCancelled));
  Drain();
  EXPECT_EQ(store_->runs[a].status, RunStatus::kCancelled);
  EXPECT_EQ(world_.launched, (std::vector<std::string>{RunPath(a), RunPath(b)}));
}

void AddWebhook(Config& c, unsigned on) {
  NotifyConfig n;
  n.name = "hook";
  n.kind = NotifyKind::kWebhook;
  n.url = "http://127.0.0.1:9/hook";
  n.on = on;
  c.notify.push_back(n);
}

// --- The write-behind journal ---

// A refused write keeps the run's newest state readable, and it reaches the
// store, in order, once the store takes writes again.
TEST_F(EngineTest, RefusedWritesAreServedFromMemoryAndSavedLater) {
  Start();
  store_->refuse_writes = true;
  int64_t id = TriggerRun();
  EXPECT_FALSE(store_->runs.count(id));
  EXPECT_EQ(StatusOf(id), RunStatus::kRunning);
  world_.Exit(RunPath(id), Record(RunStatus::kSucceeded));
  Drain();
  EXPECT_EQ(StatusOf(id), RunStatus::kSucceeded);  // from memory
  auto listed = engine_->ListRuns("app", 10, 0);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().status, RunStatus::kSucceeded);
  store_->refuse_writes = false;
  engine_->Shutdown();  // the last try
  ASSERT_TRUE(store_->runs.count(id));
  EXPECT_EQ(store_->runs[id].status, RunStatus::kSucceeded);
}

// A started run's row, with its start's messages, is written once its
// script printed, not on the trigger's way (the CPUs are the script's);
// reads see it all along.
TEST_F(EngineTest, AStartIsWrittenBehindTheScriptsFirstOutput) {
  AddWebhook(config_, kOnStarted);
  Start();
  int64_t id = TriggerRun();
  EXPECT_FALSE(store_->runs.count(id));
  EXPECT_TRUE(store_->messages.empty());
  EXPECT_EQ(StatusOf(id), RunStatus::kRunning);
  auto listed = engine_->ListRuns("app", 10, 0);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  world_.Print(RunPath(id), "hi\n");
  Drain();
  ASSERT_TRUE(store_->runs.count(id));
  EXPECT_EQ(store_->runs[id].status, RunStatus::kRunning);
  ASSERT_EQ(store_->messages.size(), 1u);
  EXPECT_EQ(store_->messages.begin()->second.event, "run.started");
  EXPECT_EQ(net_.calls.size(), 1u);  // and sent once written
}

// A run that ends before its start was written: both rows' messages are
// made and saved in order (a receiver gets them by id).
TEST_F(EngineTest, AnEndBeforeTheStartWasWrittenComesAfterIt) {
  AddWebhook(config_, kOnStarted | kOnFailed);
  Start();
  int64_t id = TriggerRun();
  world_.Exit(RunPath(id), Record(RunStatus::kFailed, 1));
  Drain();
  ASSERT_EQ(store_->messages.size(), 2u);
  EXPECT_EQ(store_->messages.begin()->second.event, "run.started");
  EXPECT_EQ(store_->messages.rbegin()->second.event, "run.failed");
  EXPECT_EQ(store_->runs[id].status, RunStatus::kFailed);
}

// A script that prints nothing still has its start written, after Journal::kBehindAt.
TEST_F(EngineTest, ASilentScriptsStartIsWrittenAfterAWhile) {
  AddWebhook(config_, kOnStarted);
  Start();
  int64_t id = TriggerRun();
  EXPECT_FALSE(store_->runs.count(id));
  ASSERT_TRUE(RunUntil([&] { return store_->runs.count(id) > 0; }));
  EXPECT_EQ(store_->runs[id].status, RunStatus::kRunning);
  EXPECT_EQ(store_->messages.size(), 1u);
}

// A queued run's row is written before the trigger is answered (nothing
// else has it), and with it whatever waited behind, in order.
TEST_F(EngineTest, AQueuedRunIsWrittenAtOnceWithTheStartBehindIt) {
  Start();
  int64_t a = TriggerRun();
  int64_t b = TriggerRun();
  ASSERT_TRUE(store_->runs.count(a));
  EXPECT_EQ(store_->runs[a].status, RunStatus::kRunning);
  ASSERT_TRUE(store_->runs.count(b));
  EXPECT_EQ(store_->runs[b].status, RunStatus::kQueued);
  // The queued run starts when the first ends: behind its script too.
  world_.Exit(RunPath(a), Record(RunStatus::kSucceeded));
  Drain();
  EXPECT_EQ(StatusOf(b), RunStatus::kRunning);
  EXPECT_EQ(store_->runs[b].status, RunStatus::kQueued);
  world_.Print(RunPath(b), "x");
  Drain();
  EXPECT_EQ(store_->runs[b].status, RunStatus::kRunning);
}

// jenky died after a start and before its row: the row and the messages
// the start causes come back from meta.json, once.
TEST_F(EngineTest, AStartLostWithItsRowIsWrittenAgainWithItsMessages) {
  AddWebhook(config_, kOnStarted);
  jenky::Run r;
  r.id = 4;
  r.project = "app";
  WriteMeta(r);
  world_.dirs[RunPath(4)].alive = true;
  Start();
  ASSERT_TRUE(store_->runs.count(4));
  ASSERT_EQ(store_->messages.size(), 1u);
  EXPECT_EQ(store_->messages.begin()->second.event, "run.started");
  EXPECT_EQ(store_->messages.begin()->second.run_id, 4);
  EXPECT_EQ(net_.calls.size(), 1u);
}

// --- The outbox (server/outbox.h) through the engine ---

TEST_F(EngineTest, AStateChangesMessagesAreSavedWithItsRowThenSent) {
  AddWebhook(config_, kOnStarted | kOnFailed);
  Start();
  int64_t id = TriggerRun();
  world_.Print(RunPath(id), "hi\n");  // a start is written behind the script's first output
  Drain();
  ASSERT_EQ(store_->messages.size(), 1u);
  EXPECT_EQ(store_->messages.begin()->second.event, "run.started");
  EXPECT_EQ(store_->runs[id].status, RunStatus::kRunning);
  world_.Exit(RunPath(id), Record(RunStatus::kFailed, 2));
  Drain();
  ASSERT_EQ(store_->messages.size(), 2u);
  EXPECT_EQ(store_->messages.rbegin()->second.event, "run.failed");
  // The receiver is one at a time: the failure waits for the start's answer.
  ASSERT_EQ(net_.calls.size(), 1u);
  OutboundResult ok;
  ok.http_status = 200;
  net_.calls[0].done(ok);
  Drain();
  ASSERT_EQ(net_.calls.size(), 2u);
  auto body = nlohmann::json::parse(net_.calls[1].req.body);
  EXPECT_EQ(body["type"], "run.failed");
  EXPECT_EQ(body["run"]["exit_code"], 2);
}

TEST_F(EngineTest, MessagesWaitWithTheirRowWhileTheStoreRefusesAndNothingIsSentBefore) {
  AddWebhook(config_, kOnSucceeded);
  Start();
  store_->refuse_writes = true;
  int64_t id = TriggerRun();
  world_.Exit(RunPath(id), Record(RunStatus::kSucceeded));
  Drain();
  EXPECT_TRUE(store_->messages.empty());
  EXPECT_TRUE(net_.calls.empty());  // not durable yet: not sent
  store_->refuse_writes = false;
  RunFor(std::chrono::milliseconds(1300));  // the journal's retry
  ASSERT_EQ(store_->messages.size(), 1u);
  EXPECT_EQ(store_->runs[id].status, RunStatus::kSucceeded);
  ASSERT_EQ(net_.calls.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(net_.calls[0].req.body)["type"], "run.succeeded");
}

TEST_F(EngineTest, ASuccessAfterAFailureIsRecovered) {
  AddWebhook(config_, kOnRecovered);
  Start();
  int64_t first = TriggerRun();
  world_.Exit(RunPath(first), Record(RunStatus::kFailed, 1));
  Drain();
  int64_t second = TriggerRun();
  world_.Exit(RunPath(second), Record(RunStatus::kSucceeded));
  Drain();
  int64_t third = TriggerRun();
  world_.Exit(RunPath(third), Record(RunStatus::kSucceeded));
  Drain();
  ASSERT_EQ(store_->messages.size(), 1u);  // only the first success after the failure
  EXPECT_EQ(store_->messages.begin()->second.event, "run.recovered");
  EXPECT_EQ(store_->messages.begin()->second.run_id, second);
}

TEST_F(EngineTest, RecoveredIsKnownFromEveryRunSeenAfterTheHistoryWasRead) {
  // The history is read once (the first success); after that the engine
  // keeps the project's last outcome itself, and it must see each run end:
  // a failure, a timeout, a cancel (which says nothing about health).
  AddWebhook(config_, kOnRecovered);
  Start();
  auto run = [&](RunStatus s) {
    int64_t id = TriggerRun();
    world_.Exit(RunPath(id), Record(s, s == RunStatus::kSucceeded ? 0 : 1));
    Drain();
    return id;
  };
  run(RunStatus::kSucceeded);  // nothing before it: not recovered
  run(RunStatus::kFailed);
  int64_t after_failure = run(RunStatus::kSucceeded);
  run(RunStatus::kTimedOut);
  run(RunStatus::kCancelled);
  int64_t after_timeout = run(RunStatus::kSucceeded);
  run(RunStatus::kSucceeded);
  std::vector<int64_t> recovered;
  for (const auto& [id, m] : store_->messages) {
    if (m.event == "run.recovered") recovered.push_back(m.run_id);
  }
  EXPECT_EQ(recovered, (std::vector<int64_t>{after_failure, after_timeout}));
}

TEST_F(EngineTest, WhatTheJournalSavesAtShutdownIsLeftForTheNextStart) {
  AddWebhook(config_, kOnSucceeded);
  Start();
  store_->refuse_writes = true;
  int64_t id = TriggerRun();
  world_.Exit(RunPath(id), Record(RunStatus::kSucceeded));
  Drain();
  store_->refuse_writes = false;
  engine_->Shutdown();  // the journal's last try writes the row and its message
  Drain();
  ASSERT_EQ(store_->messages.size(), 1u);
  EXPECT_EQ(store_->messages.begin()->second.state, MessageState::kPending);
  EXPECT_TRUE(net_.calls.empty());  // not begun by a process that is stopping
}

// --- Webhook intake (Engine::Receive, engine_intake.cc) ---

Verdict Push(const std::string& delivery) {
  Verdict v;
  v.kind = VerdictKind::kDeploy;
  v.event = "push";
  v.reason = "push to main";
  v.trigger.kind = TriggerKind::kWebhook;
  v.trigger.provider = "github";
  v.trigger.delivery = delivery;
  return v;
}

Delivery Received(const std::string& project = "app") {
  Delivery d;
  d.project = project;
  d.provider = "github";
  d.remote = "192.0.2.7";
  return d;
}

TEST_F(EngineTest, APushIsTriggeredRecordedAndAudited) {
  Engine& e = Start();
  Intake in = e.Receive(Received(), Push("d-1"));
  EXPECT_EQ(in.outcome, IntakeOutcome::kDeployed);
  ASSERT_TRUE(in.run);
  auto deliveries = e.ListDeliveries("app", 10);
  ASSERT_TRUE(deliveries.ok());
  ASSERT_EQ(deliveries->size(), 1u);
  const Delivery& d = deliveries->front();
  EXPECT_EQ(d.result, "deployed");
  EXPECT_EQ(d.status, 202);
  EXPECT_EQ(d.run_id, in.run->id);
  EXPECT_EQ(d.delivery, "d-1");
  EXPECT_EQ(d.event, "push");
  auto audit = e.control().ListAudit(10, 0, "");
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ(audit->front().actor, "webhook:d-1");
  EXPECT_EQ(audit->front().address, "192.0.2.7");
}

// A forge retrying an answer it lost (within kRetryWindowMs, or while the run
// is still going) gets the first run back; nothing deploys twice.
TEST_F(EngineTest, ARetriedDeliveryIsADuplicateOfItsRun) {
  Engine& e = Start();
  Intake first = e.Receive(Received(), Push("d-1"));
  Drain();
  world_.now += kRetryWindowMs - 1;
  Intake again = e.Receive(Received(), Push("d-1"));
  EXPECT_EQ(again.outcome, IntakeOutcome::kDuplicate);
  ASSERT_TRUE(again.run);
  EXPECT_EQ(again.run->id, first.run->id);
  EXPECT_EQ(e.QueuedCount() + e.RunningCount(), 1);
  auto deliveries = e.ListDeliveries("app", 10);
  ASSERT_TRUE(deliveries.ok());
  EXPECT_EQ(deliveries->front().result, "duplicate");
  EXPECT_EQ(deliveries->front().status, 200);
}

// Later, and once that run has ended, it is someone pressing "Redeliver".
TEST_F(EngineTest, ADeliveryAgainAfterItsRunEndedIsRedeployed) {
  Engine& e = Start();
  Intake first = e.Receive(Received(), Push("d-1"));
  Drain();
  world_.Exit(RunPath(first.run->id), Record(RunStatus::kSucceeded));
  Drain();
  world_.now += kRetryWindowMs;
  Intake again = e.Receive(Received(), Push("d-1"));
  EXPECT_EQ(again.outcome, IntakeOutcome::kRedelivered);
  ASSERT_TRUE(again.run);
  EXPECT_NE(again.run->id, first.run->id);
  EXPECT_NE(again.reason.find("redelivery of d-1"), std::string::npos) << again.reason;
  EXPECT_EQ(AnswerStatus(again.outcome), 202);
}

// Still running, however long after: a retry.
TEST_F(EngineTest, ADeliveryAgainWhileItsRunGoesOnIsADuplicate) {
  Engine& e = Start();
  Intake first = e.Receive(Received(), Push("d-1"));
  Drain();
  world_.now += 10 * kRetryWindowMs;
  EXPECT_EQ(e.Receive(Received(), Push("d-1")).outcome, IntakeOutcome::kDuplicate);
  EXPECT_EQ(StatusOf(first.run->id), RunStatus::kRunning);
}

TEST_F(EngineTest, APausedProjectRefusesAPushAndRecordsIt) {
  Engine& e = Start();
  ASSERT_TRUE(e.control().Pause("app", "token:ops", "freeze", "").ok());
  Intake in = e.Receive(Received(), Push("d-1"));
  EXPECT_EQ(in.outcome, IntakeOutcome::kPaused);
  EXPECT_FALSE(in.run);
  EXPECT_EQ(world_.launched.size(), 0u);
  auto deliveries = e.ListDeliveries("app", 10);
  ASSERT_TRUE(deliveries.ok());
  EXPECT_EQ(deliveries->front().result, "paused");
  EXPECT_EQ(deliveries->front().status, 409);
}

TEST_F(EngineTest, AFullQueueRejectsAPush) {
  config_.projects[0].max_queued = 1;
  Engine& e = Start();
  EXPECT_EQ(e.Receive(Received(), Push("d-1")).outcome, IntakeOutcome::kDeployed);
  EXPECT_EQ(e.Receive(Received(), Push("d-2")).outcome, IntakeOutcome::kDeployed);
  Intake in = e.Receive(Received(), Push("d-3"));
  EXPECT_EQ(in.outcome, IntakeOutcome::kQueueFull);
  auto deliveries = e.ListDeliveries("app", 10);
  ASSERT_TRUE(deliveries.ok());
  EXPECT_EQ(deliveries->front().result, "rejected");
  EXPECT_EQ(deliveries->front().status, 429);
}

// Forged or filtered deliveries are recorded as noise (evicted first); a
// delivery refused unread is too.
TEST_F(EngineTest, ForgedAndFilteredDeliveriesAreRecordedAsNoise) {
  Engine& e = Start();
  Verdict forged;
  forged.kind = VerdictKind::kUnauthorized;
  forged.reason = "bad signature";
  EXPECT_EQ(e.Receive(Received(), forged).outcome, IntakeOutcome::kBadSignature);
  Verdict other;
  other.kind = VerdictKind::kIgnored;
  other.event = "issues";
  other.event_filtered = true;
  EXPECT_EQ(e.Receive(Received(), other).outcome, IntakeOutcome::kIgnored);
  Verdict branch = Push("d-9");
  branch.kind = VerdictKind::kIgnored;
  EXPECT_EQ(e.Receive(Received(), branch).outcome, IntakeOutcome::kIgnored);
  EXPECT_EQ(e.Refuse(Received(), IntakeOutcome::kTooLarge, "too large").outcome,
            IntakeOutcome::kTooLarge);
  auto deliveries = e.ListDeliveries("app", 10);
  ASSERT_TRUE(deliveries.ok());
  ASSERT_EQ(deliveries->size(), 4u);
  // Newest first.
  EXPECT_EQ((*deliveries)[0].status, 413);
  EXPECT_FALSE((*deliveries)[0].relevant);
  EXPECT_TRUE((*deliveries)[1].relevant) << "an ignored branch says what the forge sent";
  EXPECT_EQ((*deliveries)[1].status, 204);
  EXPECT_FALSE((*deliveries)[2].relevant);
  EXPECT_EQ((*deliveries)[3].result, "rejected");
  EXPECT_EQ((*deliveries)[3].status, 401);
  EXPECT_FALSE((*deliveries)[3].relevant);
  EXPECT_EQ(world_.launched.size(), 0u);
}

}  // namespace
}  // namespace jenky
