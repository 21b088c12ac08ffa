// Polling (server/poller.h) through its git seam: a fake `git ls-remote`
// answers when the test says, the engine runs on its fakes (engine_fakes.h),
// and the deliveries record shows what each look did. No git, no waiting on
// intervals: the interval is a millisecond and every look is answered by hand.
#include "server/poller.h"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>

#include "engine_fakes.h"
#include "fake_sender.h"
#include "fake_store.h"
#include "temp_dir.h"

namespace jenky {
namespace {

// Holds each List until the test answers it.
class FakeGit final : public GitRemote {
 public:
  void List(const std::string& repo, std::function<void(Result<RemoteHeads>)> done) override {
    repos.push_back(repo);
    pending.push_back(std::move(done));
  }
  // Answers the oldest look with REFS (HEAD -> refs/heads/main).
  void Answer(std::map<std::string, std::string> refs) {
    RemoteHeads h;
    h.refs = std::move(refs);
    h.head = "refs/heads/main";
    Reply(Result<RemoteHeads>(h));
  }
  void Fail(const std::string& why) { Reply(Status::Error(why)); }

  std::vector<std::string> repos;
  std::deque<std::function<void(Result<RemoteHeads>)>> pending;

 private:
  void Reply(Result<RemoteHeads> r) {
    ASSERT_FALSE(pending.empty());
    auto done = std::move(pending.front());
    pending.pop_front();
    done(std::move(r));
  }
};

const std::string kA(40, 'a');
const std::string kB(40, 'b');
const std::string kC(40, 'c');

class PollerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.server.data_dir = tmp_.path();
    config_.server.warm_shell = false;
    ProjectConfig p;
    p.name = "app";
    p.script = "true";
    p.workdir = tmp_.path();
    p.poll = PollConfig{"https://user:pw@git.example/app.git", {}, Millis(1)};
    config_.projects.push_back(p);
  }
  void TearDown() override {
    if (poller_) poller_->Stop();
    poller_.reset();
    io_.restart();
    io_.poll();
    engine_.reset();
  }
  void Start() {
    EngineSeams seams{std::make_unique<FakeLauncher>(world_), std::make_unique<FakeWatcher>(world_),
                      [this] { return world_.now; }, std::make_unique<FakeSender>(net_)};
    engine_ = std::make_unique<Engine>(io_, config_, std::move(store_), std::move(seams),
                                       "/usr/lib/jenky/jenky");
    ASSERT_TRUE(engine_->Start().ok());
    auto git = std::make_unique<FakeGit>();
    git_ = git.get();
    poller_ = std::make_unique<Poller>(io_, *engine_, std::move(git));
    poller_->Sync();
  }
  // Runs the loop until the poller asks git again (its timer fired).
  void NextLook() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (git_->pending.empty() && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_one_for(std::chrono::milliseconds(10));
    }
    ASSERT_FALSE(git_->pending.empty()) << "the poller did not look again";
  }
  std::vector<Delivery> Deliveries() {
    auto d = engine_->ListDeliveries("app", 100);
    EXPECT_TRUE(d.ok());
    return d.ok() ? *d : std::vector<Delivery>{};
  }
  std::vector<jenky::Run> Runs() {
    auto r = engine_->ListRuns("app", 100, 0);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<jenky::Run>{};
  }

  TempDir tmp_{"poller"};
  Config config_;
  FakeWorld world_;
  FakeNet net_;
  std::unique_ptr<FakeStore> store_ = std::make_unique<FakeStore>();
  net::io_context io_;
  std::unique_ptr<Engine> engine_;
  FakeGit* git_ = nullptr;
  std::unique_ptr<Poller> poller_;
};

// The first look notes the heads; a branch never deployed is not deployed.
// A moved head deploys with a push's variables; looks that see nothing new
// fold into one record.
TEST_F(PollerTest, AMovedHeadDeploysOnceAndUnchangedLooksFold) {
  Start();
  NextLook();
  EXPECT_EQ(git_->repos.front(), "https://user:pw@git.example/app.git");
  git_->Answer({{"refs/heads/main", kA}, {"refs/heads/dev", kC}});
  EXPECT_TRUE(Runs().empty());
  ASSERT_FALSE(Deliveries().empty());
  EXPECT_EQ(Deliveries().front().reason, "first look: main at aaaaaaaaaaaa");
  EXPECT_EQ(Deliveries().front().remote, "https://git.example/app.git") << "no password shown";

  NextLook();
  git_->Answer({{"refs/heads/main", kB}, {"refs/heads/dev", kC}});
  ASSERT_EQ(Runs().size(), 1u);
  const jenky::Run run = Runs().front();
  EXPECT_EQ(run.trigger.kind, TriggerKind::kPoll);
  EXPECT_EQ(run.trigger.ref, "refs/heads/main");
  EXPECT_EQ(run.trigger.branch, "main");
  EXPECT_EQ(run.trigger.commit, kB);
  bool deployed = false;
  for (const Delivery& d : Deliveries()) {
    if (d.result != "deployed") continue;
    deployed = true;
    EXPECT_EQ(d.status, 202);
    EXPECT_EQ(d.run_id, run.id);
    EXPECT_EQ(d.reason, "poll: branch main, bbbbbbbbbbbb (was aaaaaaaaaaaa)");
  }
  EXPECT_TRUE(deployed);

  for (int i = 0; i < 3; ++i) {
    NextLook();
    git_->Answer({{"refs/heads/main", kB}});
  }
  EXPECT_EQ(Runs().size(), 1u) << "an unchanged head deploys nothing";
  EXPECT_EQ(Deliveries().front().result, "polled");
  EXPECT_GE(Deliveries().front().count, 3);
}

// branches = [...] globs pick the branches; none matching is a 404 record.
TEST_F(PollerTest, BranchGlobsPickTheBranchesAndNoMatchIsRecorded) {
  config_.projects[0].poll->branches = {"release/*"};
  Start();
  NextLook();
  git_->Answer({{"refs/heads/main", kA}});
  EXPECT_EQ(Deliveries().front().status, 404);
  EXPECT_EQ(Deliveries().front().reason,
            "no branch of https://git.example/app.git matches branches = [release/*]");
  // A matching branch that appears after the first look is pushed to: it deploys.
  NextLook();
  git_->Answer({{"refs/heads/main", kA}, {"refs/heads/release/1", kA}});
  ASSERT_EQ(Runs().size(), 1u);
  EXPECT_EQ(Runs().front().trigger.branch, "release/1");
  NextLook();
  git_->Answer({{"refs/heads/main", kB}, {"refs/heads/release/1", kC}});
  ASSERT_EQ(Runs().size(), 2u) << "main moved too, but only release/* deploys";
  EXPECT_EQ(Runs().front().trigger.branch, "release/1");
  EXPECT_EQ(Runs().front().trigger.commit, kC);
}

// A failing repository is recorded (502, git's message) and the next look
// waits twice as long each time; the first success goes back to the interval.
TEST_F(PollerTest, FailuresAreRecordedAndBackOff) {
  Start();
  NextLook();
  git_->Fail("git ls-remote failed: fatal: could not read from remote repository");
  Delivery d = Deliveries().front();
  EXPECT_EQ(d.status, 502);
  EXPECT_EQ(d.result, "polled");
  EXPECT_NE(d.reason.find("fatal: could not read"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("next try in 2ms"), std::string::npos) << d.reason;
  NextLook();
  git_->Fail("git ls-remote failed: timeout");
  EXPECT_NE(Deliveries().front().reason.find("next try in 4ms"), std::string::npos)
      << Deliveries().front().reason;
  EXPECT_EQ(NextPollDelay(Millis(60'000), 30), Millis(600'000)) << "at most ten intervals";
  EXPECT_EQ(NextPollDelay(Millis(3'600'000), 30), Millis(3'600'000)) << "at most an hour";
}

// After a restart, the first look deploys a head that moved while jenky was
// away: the newest run of the branch deployed another commit.
TEST_F(PollerTest, TheFirstLookDeploysWhatMovedWhileJenkyWasAway) {
  jenky::Run before;
  before.id = 1;
  before.project = "app";
  before.status = RunStatus::kSucceeded;
  before.created_at = world_.now - 60'000;
  before.trigger.kind = TriggerKind::kPoll;
  before.trigger.branch = "main";
  before.trigger.ref = "refs/heads/main";
  before.trigger.commit = kA;
  store_->runs[1] = before;
  Start();
  NextLook();
  git_->Answer({{"refs/heads/main", kB}});
  ASSERT_EQ(Runs().size(), 2u);
  EXPECT_EQ(Runs().front().trigger.commit, kB);
}

// A paused project: the moved head is recorded "paused" (not a git
// failure), nothing runs, and the first look after the resume deploys it.
TEST_F(PollerTest, AHeadThatMovesWhilePausedDeploysAfterTheResume) {
  Start();
  NextLook();
  git_->Answer({{"refs/heads/main", kA}});
  ASSERT_TRUE(engine_->control().Pause("app", "token:ops", "freeze", "").ok());
  NextLook();
  git_->Answer({{"refs/heads/main", kB}});
  EXPECT_TRUE(Runs().empty());
  bool paused = false;
  for (const Delivery& d : Deliveries()) {
    EXPECT_NE(d.status, 502) << d.reason;
    if (d.result == "paused") paused = d.status == 409;
  }
  EXPECT_TRUE(paused);
  ASSERT_TRUE(engine_->control().Resume("app", "token:ops", "").ok());
  NextLook();
  git_->Answer({{"refs/heads/main", kB}});
  ASSERT_EQ(Runs().size(), 1u);
  EXPECT_EQ(Runs().front().trigger.commit, kB);
}

TEST(GitFailureTest, SaysWhatSshAndGitSaidWithoutTheAdvice) {
  EXPECT_EQ(GitFailure("root@10.0.0.1: Permission denied (publickey).\r\n"
                       "fatal: Could not read from remote repository.\n\n"
                       "Please make sure you have the correct access rights\n"
                       "and the repository exists.\n"),
            "root@10.0.0.1: Permission denied (publickey).; fatal: Could not read from remote "
            "repository.");
  EXPECT_EQ(GitFailure("fatal: repository 'x' not found\n"), "fatal: repository 'x' not found");
  EXPECT_EQ(GitFailure(""), "");
  EXPECT_EQ(GitFailure(std::string(1000, 'x')).size(), 400u);
}

}  // namespace
}  // namespace jenky
