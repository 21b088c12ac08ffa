// The outbox (server/outbox.h) with a fake sender, the fake store and the
// test's clock: order per receiver, retries and Retry-After, giving up,
// receivers independent of each other, restarts; and the journal keeping a
// run's messages with its row while the store refuses writes.
#include "server/outbox.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>

#include "fake_sender.h"
#include "fake_store.h"
#include "notify/outbound.h"
#include "notify/render.h"
#include "server/journal.h"
#include "webhook/webhook.h"

namespace jenky {
namespace {

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProjectConfig p;
    p.name = "app";
    StatusConfig s;
    s.provider = StatusProvider::kGitHub;
    s.api_url = "http://127.0.0.1:9/api";
    s.repo = "owner/app";
    s.token = "ghp_secret_token";
    s.token_env = "GH_TOKEN";
    s.limits.give_up_after = std::chrono::hours(1);
    p.status = s;
    config_.projects.push_back(p);
    NotifyConfig hook;
    hook.name = "webhook";
    hook.kind = NotifyKind::kWebhook;
    hook.url = "http://127.0.0.1:9/hook";
    hook.secret = "0123456789abcdef-key";
    hook.on = kOnStarted | kOnSucceeded | kOnFailed | kOnRecovered | kOnCancelled;
    hook.limits.give_up_after = std::chrono::hours(1);
    config_.notify.push_back(hook);
  }

  Outbox& Open() {
    outbox_ = std::make_unique<Outbox>(io_, store_, config_, std::make_unique<FakeSender>(net_),
                                       [this] { return now_; });
    EXPECT_TRUE(outbox_->Start().ok());
    Drain();
    return *outbox_;
  }
  void Drain() {
    io_.restart();
    io_.poll();
  }
  // RUN reaches its state: its messages are saved with it and handed over.
  void Emit(const jenky::Run& run, std::optional<RunStatus> previous = std::nullopt) {
    auto messages =
        outbox_->MessagesFor(run, "https://deploy.example.com", [=] { return previous; });
    ASSERT_TRUE(store_.SaveRunAndMessages(run, messages).ok());
    outbox_->Saved(messages);
    Drain();
  }
  void Answer(size_t call, int status, std::string body = "", int64_t retry_after_ms = -1) {
    OutboundResult r;
    r.http_status = status;
    r.body = std::move(body);
    r.retry_after_ms = retry_after_ms;
    net_.calls.at(call).answered = true;
    net_.calls.at(call).done(r);
    Drain();
  }
  void Fail(size_t call, std::string error) {
    OutboundResult r;
    r.error = std::move(error);
    net_.calls.at(call).answered = true;
    net_.calls.at(call).done(r);
    Drain();
  }
  static jenky::Run MakeRun(int64_t id, RunStatus status) {
    jenky::Run r;
    r.id = id;
    r.project = "app";
    r.status = status;
    r.trigger.kind = TriggerKind::kWebhook;
    r.trigger.commit = "9f1c2ab3c4d5e6f708192a3b4c5d6e7f80919293";
    r.trigger.branch = "main";
    r.trigger.actor = "lewin";
    r.created_at = r.started_at = 1'700'000'000'000;
    if (IsFinished(status)) r.finished_at = r.started_at + 63'000;
    return r;
  }
  std::vector<OutboxMessage> Stored(MessageState state) {
    std::vector<OutboxMessage> out;
    for (const auto& [id, m] : store_.messages) {
      if (m.state == state) out.push_back(m);
    }
    return out;
  }

  net::io_context io_;
  FakeStore store_;
  Config config_;
  FakeNet net_;
  int64_t now_ = 1'700'000'100'000;
  std::unique_ptr<Outbox> outbox_;
};

TEST_F(OutboxTest, AFailedRunSendsAFailureStatusAndASignedWebhook) {
  Open();
  Emit(MakeRun(7, RunStatus::kFailed));
  ASSERT_EQ(net_.calls.size(), 2u);
  const OutboundRequest& status = net_.calls[0].req;
  EXPECT_EQ(status.url,
            "http://127.0.0.1:9/api/repos/owner/app/statuses/"
            "9f1c2ab3c4d5e6f708192a3b4c5d6e7f80919293");
  EXPECT_EQ(Header(status, "Authorization"), "Bearer ghp_secret_token");
  auto sj = nlohmann::json::parse(status.body);
  EXPECT_EQ(sj["state"], "failure");
  EXPECT_EQ(sj["context"], "jenky/deploy");
  EXPECT_EQ(sj["target_url"], "https://deploy.example.com/runs/7");

  const OutboundRequest& hook = net_.calls[1].req;
  auto hj = nlohmann::json::parse(hook.body);
  EXPECT_EQ(hj["type"], "run.failed");
  EXPECT_EQ(hj["run"]["id"], 7);
  EXPECT_EQ(hj["run"]["status"], "failed");
  EXPECT_EQ(hj["url"], "https://deploy.example.com/runs/7");
  std::string id = Header(hook, "webhook-id"), ts = Header(hook, "webhook-timestamp");
  EXPECT_EQ(ts, std::to_string(now_ / 1000));
  EXPECT_EQ(Header(hook, "webhook-signature"),
            StandardWebhookSignature("0123456789abcdef-key", id, ts, hook.body));

  // Neither body nor the stored rows hold a secret.
  for (const auto& [mid, m] : store_.messages) {
    EXPECT_EQ(m.body.find("ghp_secret_token"), std::string::npos);
    EXPECT_EQ(m.body.find("abcdef-key"), std::string::npos);
  }
  Answer(0, 201);
  Answer(1, 204);
  EXPECT_EQ(Stored(MessageState::kSent).size(), 2u);
  EXPECT_EQ(outbox_->counts()["notify:webhook"].sent, 1);
}

TEST_F(OutboxTest, OneReceiversMessagesGoOneAtATimeInOrder) {
  Open();
  Emit(MakeRun(1, RunStatus::kQueued));
  Emit(MakeRun(1, RunStatus::kRunning));
  Emit(MakeRun(1, RunStatus::kSucceeded));
  // The status receiver has three messages; only the first is out. The
  // webhook's "started" goes meanwhile: receivers do not wait for each other.
  std::vector<std::string> urls;
  for (auto& c : net_.calls) urls.push_back(c.req.url);
  ASSERT_EQ(net_.calls.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(net_.calls[0].req.body)["description"], "Deploy queued (run 1)");
  EXPECT_EQ(nlohmann::json::parse(net_.calls[1].req.body)["type"], "run.started");
  Answer(0, 201);
  ASSERT_EQ(net_.calls.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(net_.calls[2].req.body)["description"], "Deploying (run 1)");
  Answer(2, 201);
  ASSERT_EQ(net_.calls.size(), 4u);
  EXPECT_EQ(nlohmann::json::parse(net_.calls[3].req.body)["state"], "success");
  Answer(1, 200);
  ASSERT_EQ(net_.calls.size(), 5u);
  EXPECT_EQ(nlohmann::json::parse(net_.calls[4].req.body)["type"], "run.succeeded");
}

TEST_F(OutboxTest, AReceiverThatNeverAnswersDelaysOnlyItsOwnMessages) {
  Open();
  Emit(MakeRun(1, RunStatus::kFailed));
  Emit(MakeRun(2, RunStatus::kFailed));
  Emit(MakeRun(3, RunStatus::kFailed));
  // The status receiver hangs on call 0; the webhook gets all three.
  Answer(1, 200);
  Answer(2, 200);
  Answer(3, 200);
  EXPECT_EQ(outbox_->counts()["notify:webhook"].sent, 3);
  EXPECT_EQ(outbox_->counts()["status:app"].pending, 3);
  EXPECT_EQ(net_.Open(), std::vector<size_t>{0});
}

TEST_F(OutboxTest, TooManyRequestsWaitsForRetryAfterAndSendsOnce) {
  config_.projects[0].status.reset();
  Open();
  Emit(MakeRun(1, RunStatus::kFailed));
  ASSERT_EQ(net_.calls.size(), 1u);
  Answer(0, 429, "slow down", 120'000);
  auto pending = Stored(MessageState::kPending);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].attempts, 1);
  EXPECT_EQ(pending[0].last_http_status, 429);
  EXPECT_EQ(pending[0].last_error, "HTTP 429: slow down");
  EXPECT_GE(pending[0].next_attempt_at, now_ + 120'000);
  now_ += 60'000;  // not yet
  outbox_->Kick();
  Drain();
  EXPECT_EQ(net_.calls.size(), 1u);
  now_ = pending[0].next_attempt_at;
  outbox_->Kick();
  Drain();
  ASSERT_EQ(net_.calls.size(), 2u);
  // The same message: the same webhook-id, a fresh timestamp and signature.
  EXPECT_EQ(Header(net_.calls[1].req, "webhook-id"), Header(net_.calls[0].req, "webhook-id"));
  Answer(1, 200);
  EXPECT_EQ(Stored(MessageState::kSent).size(), 1u);
  EXPECT_EQ(net_.calls.size(), 2u);
}

TEST_F(OutboxTest, ServerErrorsAndSilenceAreRetriedWithGrowingWaits) {
  config_.projects[0].status.reset();
  Open();
  Emit(MakeRun(1, RunStatus::kFailed));
  int64_t last_wait = 0;
  for (int i = 0; i < 4; ++i) {
    if (i % 2) Answer(i, 503, "down");
    else Fail(i, "Failed to connect to 127.0.0.1 port 9: Connection refused");
    auto m = Stored(MessageState::kPending).at(0);
    EXPECT_GE(m.next_attempt_at - now_, last_wait);
    last_wait = m.next_attempt_at - now_;
    now_ = m.next_attempt_at;
    outbox_->Kick();
    Drain();
  }
  EXPECT_GE(last_wait, 16'000);
  Answer(4, 200);
  EXPECT_EQ(Stored(MessageState::kSent).at(0).attempts, 5);
}

TEST_F(OutboxTest, AClientErrorFailsAtOnceWithTheAnswer) {
  config_.projects[0].status.reset();
  Open();
  Emit(MakeRun(1, RunStatus::kFailed));
  Answer(0, 404, "no such hook");
  auto failed = Stored(MessageState::kFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].last_error, "HTTP 404: no such hook");
  EXPECT_EQ(outbox_->counts()["notify:webhook"].failed, 1);
}

TEST_F(OutboxTest, ItGivesUpAfterGiveUpAfterWithTheLastReason) {
  config_.projects[0].status.reset();
  config_.notify[0].limits.give_up_after = std::chrono::minutes(1);
  Open();
  Emit(MakeRun(1, RunStatus::kFailed));
  now_ += 59'000;
  Answer(0, 500, "boom");
  auto failed = Stored(MessageState::kFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].last_error.find("gave up after 1 attempt(s)"), std::string::npos)
      << failed[0].last_error;
  EXPECT_NE(failed[0].last_error.find("HTTP 500: boom"), std::string::npos);
}

TEST_F(OutboxTest, MessagesThatWaitedPastGiveUpAfterBehindADeadReceiverAreDroppedUntried) {
  config_.projects[0].status.reset();
  config_.notify[0].limits.give_up_after = std::chrono::minutes(1);
  Open();
  Emit(MakeRun(1, RunStatus::kFailed));
  Emit(MakeRun(2, RunStatus::kFailed));
  Emit(MakeRun(3, RunStatus::kFailed));
  now_ += 2 * 60'000;
  Fail(0, "no answer within 10s (timeout)");
  EXPECT_EQ(net_.calls.size(), 1u);  // the two behind it are not tried
  auto failed = Stored(MessageState::kFailed);
  ASSERT_EQ(failed.size(), 3u);
  EXPECT_NE(failed[0].last_error.find("gave up after 1 attempt(s)"), std::string::npos);
  EXPECT_EQ(failed[1].attempts, 0);
  EXPECT_NE(failed[1].last_error.find("gave up without an attempt"), std::string::npos)
      << failed[1].last_error;
}

TEST_F(OutboxTest, GitLabsCannotTransitionStatusIsNotAFailure) {
  config_.projects[0].status->provider = StatusProvider::kGitLab;
  config_.projects[0].status->repo = "group/app";
  config_.notify.clear();
  Open();
  Emit(MakeRun(1, RunStatus::kRunning));
  ASSERT_EQ(net_.calls.size(), 1u);
  EXPECT_EQ(net_.calls[0].req.url,
            "http://127.0.0.1:9/api/projects/group%2Fapp/statuses/"
            "9f1c2ab3c4d5e6f708192a3b4c5d6e7f80919293");
  EXPECT_EQ(Header(net_.calls[0].req, "PRIVATE-TOKEN"), "ghp_secret_token");
  auto j = nlohmann::json::parse(net_.calls[0].req.body);
  EXPECT_EQ(j["state"], "running");
  EXPECT_EQ(j["name"], "jenky/deploy");
  EXPECT_EQ(j["ref"], "main");
  Answer(0, 400, R"({"message":"Cannot transition status via :run from :running"})");
  EXPECT_EQ(Stored(MessageState::kSent).size(), 1u);
}

TEST_F(OutboxTest, PendingMessagesAreSentAfterARestart) {
  Open();
  Emit(MakeRun(1, RunStatus::kFailed));
  ASSERT_EQ(net_.calls.size(), 2u);
  outbox_.reset();  // the process ends with both in flight
  net_.calls.clear();
  Open();
  ASSERT_EQ(net_.calls.size(), 2u);
  Answer(0, 201);
  Answer(1, 200);
  EXPECT_EQ(Stored(MessageState::kSent).size(), 2u);
  // New messages are numbered after the old ones.
  Emit(MakeRun(2, RunStatus::kCancelled));
  EXPECT_EQ(store_.messages.size(), 4u);
}

TEST_F(OutboxTest, AReceiverRemovedFromTheConfigFailsItsMessagesSayingSo) {
  config_.projects[0].status.reset();
  Open();
  Emit(MakeRun(1, RunStatus::kFailed));
  Fail(0, "timeout");
  config_.notify.clear();
  now_ += 10'000;
  outbox_->Kick();
  Drain();
  auto failed = Stored(MessageState::kFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].last_error,
            "[[notify]] 'webhook' (webhook) is no longer in the configuration");
}

TEST_F(OutboxTest, RecoveredIsTheFirstSuccessAfterAFailure) {
  config_.projects[0].status.reset();
  NotifyConfig only_recovered = config_.notify[0];
  only_recovered.name = "pager";
  only_recovered.on = kOnFailed | kOnRecovered;
  config_.notify.push_back(only_recovered);
  Open();
  Emit(MakeRun(1, RunStatus::kSucceeded), RunStatus::kFailed);
  ASSERT_EQ(net_.calls.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(net_.calls[0].req.body)["type"], "run.recovered");
  EXPECT_EQ(nlohmann::json::parse(net_.calls[1].req.body)["type"], "run.recovered");
  Answer(0, 200);
  Answer(1, 200);
  Emit(MakeRun(2, RunStatus::kSucceeded), RunStatus::kSucceeded);
  ASSERT_EQ(net_.calls.size(), 3u);  // the pager hears nothing of a plain success
  EXPECT_EQ(nlohmann::json::parse(net_.calls[2].req.body)["type"], "run.succeeded");
}

TEST_F(OutboxTest, TheJournalKeepsARunsMessagesWithItsRowWhileTheStoreRefuses) {
  Open();
  Journal journal(io_, store_);
  std::vector<int64_t> handed;
  journal.SetSavedListener([&](const std::vector<OutboxMessage>& ms) {
    for (const auto& m : ms) handed.push_back(m.id);
  });
  store_.refuse_writes = true;
  jenky::Run r = MakeRun(1, RunStatus::kRunning);
  journal.Persist(r, [&] { return outbox_->MessagesFor(r, "http://x", {}); });
  r = MakeRun(1, RunStatus::kFailed);
  journal.Persist(r, [&] { return outbox_->MessagesFor(r, "http://x", {}); });
  EXPECT_TRUE(store_.messages.empty());
  EXPECT_TRUE(handed.empty());
  store_.refuse_writes = false;
  io_.restart();
  io_.run_for(std::chrono::milliseconds(1300));  // the journal retries every second
  EXPECT_EQ(store_.runs.at(1).status, RunStatus::kFailed);
  EXPECT_EQ(store_.messages.size(), 4u);
  EXPECT_EQ(handed, (std::vector<int64_t>{1, 2, 3, 4}));
  journal.Shutdown();
}

TEST_F(OutboxTest, TheStatusGoesToTheRepositoryTheWebhookPayloadNamed) {
  config_.projects[0].status->repo.clear();
  config_.notify.clear();
  Open();
  jenky::Run r = MakeRun(3, RunStatus::kSucceeded);
  r.trigger.repo_url = "https://github.com/lewin/shop";
  Emit(r);
  ASSERT_EQ(net_.calls.size(), 1u);
  EXPECT_EQ(net_.calls[0].req.url,
            "http://127.0.0.1:9/api/repos/lewin/shop/statuses/"
            "9f1c2ab3c4d5e6f708192a3b4c5d6e7f80919293");
  // The configured repo wins over the payload's.
  config_.projects[0].status->repo = "owner/app";
  Emit(MakeRun(4, RunStatus::kSucceeded));
  Answer(0, 201);
  ASSERT_EQ(net_.calls.size(), 2u);
  EXPECT_NE(net_.calls[1].req.url.find("/repos/owner/app/statuses/"), std::string::npos);
}

TEST_F(OutboxTest, AStatusWithNoRepositoryIsRecordedFailedWithTheReason) {
  config_.projects[0].status->repo.clear();
  config_.notify.clear();
  Open();
  jenky::Run r = MakeRun(5, RunStatus::kRunning);
  r.trigger.kind = TriggerKind::kCli;
  Emit(r);
  EXPECT_TRUE(Stored(MessageState::kFailed).empty()) << "one record per run, when it ends";
  r.status = RunStatus::kFailed;
  Emit(r);
  EXPECT_TRUE(net_.calls.empty());
  auto failed = Stored(MessageState::kFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].receiver, "status:app");
  EXPECT_EQ(failed[0].event, "status.failure");
  EXPECT_EQ(failed[0].last_error,
            "no repository to post the commit status to: run 5 (cli) did not come from a "
            "webhook whose payload names one; set repo = \"owner/name\" in "
            "[projects.app.status]");
  EXPECT_EQ(outbox_->counts().at("status:app").failed, 1);
  EXPECT_EQ(outbox_->counts().at("status:app").pending, 0);

  r.trigger.repo_url = "ssh://git@example.com/lewin/shop";
  Emit(r);
  failed = Stored(MessageState::kFailed);
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_NE(failed[1].last_error.find("'ssh://git@example.com/lewin/shop' is not a github "
                                      "repository address"),
            std::string::npos)
      << failed[1].last_error;
}

TEST(RepoFromWebUrlTest, TakesTheRepositoryFromTheForgesWebAddress) {
  StatusConfig github;
  github.api_url = "https://api.github.com";
  EXPECT_EQ(RepoFromWebUrl(github, "https://github.com/owner/name"), "owner/name");
  EXPECT_EQ(RepoFromWebUrl(github, "https://github.com/owner/name.git/"), "owner/name");
  EXPECT_EQ(RepoFromWebUrl(github, "https://github.com/owner"), "");
  EXPECT_EQ(RepoFromWebUrl(github, "git@github.com:owner/name.git"), "");
  EXPECT_EQ(RepoFromWebUrl(github, ""), "");
  StatusConfig gitea;
  gitea.provider = StatusProvider::kGitea;
  gitea.api_url = "https://example.com/git/api/v1";
  EXPECT_EQ(RepoFromWebUrl(gitea, "https://example.com/git/lewin/shop"), "lewin/shop");
  StatusConfig gitlab;
  gitlab.provider = StatusProvider::kGitLab;
  gitlab.api_url = "https://gitlab.com/api/v4";
  EXPECT_EQ(RepoFromWebUrl(gitlab, "https://gitlab.com/group/sub/app"), "group/sub/app");
  gitlab.api_url = "https://example.com/gitlab/api/v4";
  EXPECT_EQ(RepoFromWebUrl(gitlab, "https://example.com/gitlab/group/app"), "group/app");
  EXPECT_EQ(RepoFromWebUrl(gitlab, "https://example.com/gitlab"), "");
}

TEST_F(OutboxTest, MessagesFinishedLongerAgoThanTheRetentionAreDeleted) {
  config_.server.outbox_retention = std::chrono::hours(24);
  Open();
  Emit(MakeRun(1, RunStatus::kFailed));
  Answer(0, 201);
  Answer(1, 404);                        // failed at once
  Emit(MakeRun(2, RunStatus::kFailed));  // both stay pending: never answered
  ASSERT_EQ(store_.messages.size(), 4u);
  now_ += 24 * 3600 * 1000;  // exactly the retention: kept
  outbox_->Prune();
  EXPECT_EQ(store_.messages.size(), 4u);
  now_ += 1;
  outbox_->Prune();
  ASSERT_EQ(store_.messages.size(), 2u);
  for (const auto& [id, m] : store_.messages) EXPECT_EQ(m.state, MessageState::kPending);
  // Each start prunes too; 0 keeps everything.
  Answer(2, 201);
  Answer(3, 201);
  now_ += 48 * 3600 * 1000;
  config_.server.outbox_retention = Millis(0);
  outbox_->Prune();
  EXPECT_EQ(store_.messages.size(), 2u);
  config_.server.outbox_retention = std::chrono::hours(24);
  outbox_.reset();
  Open();
  EXPECT_TRUE(store_.messages.empty());
}

// The index of the one call to a URL ending in SUFFIX, or -1.
int CallTo(const FakeNet& net, const std::string& suffix) {
  int found = -1;
  for (size_t i = 0; i < net.calls.size(); ++i) {
    const std::string& u = net.calls[i].req.url;
    if (u.size() >= suffix.size() &&
        u.compare(u.size() - suffix.size(), suffix.size(), suffix) == 0) {
      if (found >= 0) return -2;  // twice
      found = static_cast<int>(i);
    }
  }
  return found;
}

TEST_F(OutboxTest, GitHubDeploymentsAreCreatedThenGetStatusesEvenAfterARestart) {
  config_.projects[0].status->deployments = true;
  config_.projects[0].status->environment = "staging";
  config_.notify.clear();
  Open();
  Emit(MakeRun(1, RunStatus::kQueued));
  ASSERT_EQ(net_.calls.size(), 2u);  // the commit status, the deployment
  int create = CallTo(net_, "/api/repos/owner/app/deployments");
  ASSERT_GE(create, 0);
  const OutboundRequest& c = net_.calls[create].req;
  EXPECT_EQ(Header(c, "Authorization"), "Bearer ghp_secret_token");
  auto cj = nlohmann::json::parse(c.body);
  EXPECT_EQ(cj["ref"], "9f1c2ab3c4d5e6f708192a3b4c5d6e7f80919293");
  EXPECT_EQ(cj["environment"], "staging");
  EXPECT_EQ(cj["auto_merge"], false);
  EXPECT_EQ(cj["required_contexts"], nlohmann::json::array());
  Emit(MakeRun(1, RunStatus::kRunning));
  EXPECT_EQ(net_.calls.size(), 2u);  // each waits for the one before
  // GitHub's answer, cut at a KiB: the first top-level "id" is the deployment's.
  Answer(create, 201,
         R"({"url":"https://api.github.com/x/deployments/4242","id":4242,"creator":{"id":7,"lo)");
  int progress = CallTo(net_, "/api/repos/owner/app/deployments/4242/statuses");
  ASSERT_GE(progress, 0);
  auto pj = nlohmann::json::parse(net_.calls[progress].req.body);
  EXPECT_EQ(pj["state"], "in_progress");
  EXPECT_EQ(pj["log_url"], "https://deploy.example.com/runs/1");
  EXPECT_EQ(pj["environment"], "staging");

  // The process ends with the in_progress in flight; the new one still
  // knows the deployment (from the create's row) and sends the rest to it.
  outbox_.reset();
  net_.calls.clear();
  Open();
  progress = CallTo(net_, "/deployments/4242/statuses");
  ASSERT_GE(progress, 0);
  Answer(progress, 201);
  Emit(MakeRun(1, RunStatus::kFailed));
  ASSERT_EQ(net_.calls.size(), 3u) << net_.calls.back().req.url;
  EXPECT_EQ(nlohmann::json::parse(net_.calls[2].req.body)["state"], "failure");
  EXPECT_NE(net_.calls[2].req.url.find("/deployments/4242/statuses"), std::string::npos);
  Answer(2, 201);
  int sent = 0;
  for (const auto& m : Stored(MessageState::kSent)) sent += m.receiver == "deploy:app";
  EXPECT_EQ(sent, 3);
}

TEST_F(OutboxTest, ADeploymentGitHubRefusedFailsItsStatusesSayingWhy) {
  config_.projects[0].status->deployments = true;
  config_.projects[0].status.value().repo = "owner/app";
  config_.notify.clear();
  Open();
  Emit(MakeRun(1, RunStatus::kQueued));
  Emit(MakeRun(1, RunStatus::kRunning));
  int create = CallTo(net_, "/deployments");
  ASSERT_GE(create, 0);
  Answer(create, 409, R"({"message":"Conflict merging main into 9f1c2ab"})");
  EXPECT_EQ(CallTo(net_, "/statuses"), -1);  // no deployment status tried
  std::vector<std::string> why;
  for (const auto& m : Stored(MessageState::kFailed)) why.push_back(m.event + ": " + m.last_error);
  ASSERT_EQ(why.size(), 2u);
  EXPECT_EQ(why[0],
            R"(deployment.create: HTTP 409: {"message":"Conflict merging main into 9f1c2ab"})");
  EXPECT_EQ(why[1],
            "deployment.in_progress: no deployment to update: creating it failed: "
            R"(HTTP 409: {"message":"Conflict merging main into 9f1c2ab"})");
  // A 201 without an id is no deployment either.
  Emit(MakeRun(2, RunStatus::kQueued));
  create = static_cast<int>(net_.calls.size()) - 1;
  Answer(create, 201, "{}");
  auto failed = Stored(MessageState::kFailed);
  EXPECT_EQ(failed.back().last_error, "GitHub answered HTTP 201 without a deployment id: {}");
}

TEST_F(OutboxTest, ARunThatStartedAtOnceMakesItsDeploymentWithItsFirstMessage) {
  config_.projects[0].status->deployments = true;
  config_.notify.clear();
  Open();
  Emit(MakeRun(1, RunStatus::kRunning));  // never recorded queued
  int create = CallTo(net_, "/deployments");
  ASSERT_GE(create, 0);
  Answer(create, 201, R"({"id":77})");
  ASSERT_GE(CallTo(net_, "/deployments/77/statuses"), 0);
  Answer(CallTo(net_, "/deployments/77/statuses"), 201);
  Emit(MakeRun(1, RunStatus::kSucceeded));
  EXPECT_EQ(CallTo(net_, "/deployments"), create);  // made once
  std::vector<std::string> events;
  for (const auto& [id, m] : store_.messages) {
    if (m.receiver == "deploy:app") events.push_back(m.event);
  }
  EXPECT_EQ(events, (std::vector<std::string>{"deployment.create", "deployment.in_progress",
                                              "deployment.success"}));
  // A new outbox (a restart) finds the run's deployment in the store.
  outbox_.reset();
  net_.calls.clear();
  Open();
  Emit(MakeRun(1, RunStatus::kFailed));
  events.clear();
  for (const auto& [id, m] : store_.messages) {
    if (m.receiver == "deploy:app") events.push_back(m.event);
  }
  EXPECT_EQ(events.size(), 4u);
  EXPECT_EQ(events.back(), "deployment.failure");
}

TEST(DeploymentIdOfTest, ReadsTheTopLevelIdOfWholeOrCutAnswers) {
  EXPECT_EQ(DeploymentIdOf(R"({"url":"u","id":17,"creator":{"id":3}})"), 17);
  EXPECT_EQ(DeploymentIdOf(R"({"url":"u \"id\":9","creator":{"id":3},"id": 18, "sha":"ab)"), 18);
  EXPECT_EQ(DeploymentIdOf(R"({"creator":{"id":3},"sha":"a)"), 0);
  EXPECT_EQ(DeploymentIdOf(""), 0);
  EXPECT_EQ(DeploymentIdOf(R"({"id":"x"})"), 0);
}

}  // namespace
}  // namespace jenky
