#include "server/outbox.h"

#include <charconv>
#include <iterator>
#include <random>

#include <fmt/format.h>

#include "notify/render.h"
#include "util/duration.h"
#include "util/logger.h"

namespace jenky {

Outbox::Outbox(net::io_context& io, Store& store, const Config& config,
               std::unique_ptr<Sender> sender, std::function<int64_t()> clock)
    : io_(io),
      store_(store),
      config_(config),
      sender_(sender ? std::move(sender) : MakeCurlSender()),
      clock_(std::move(clock)) {}

Outbox::~Outbox() { Shutdown(); }

Status Outbox::Start() {
  auto max_id = store_.MaxMessageId();
  if (!max_id.ok()) return max_id.status();
  next_id_ = std::max(next_id_, *max_id + 1);
  auto pending = store_.PendingMessages();
  if (!pending.ok()) return pending.status();
  for (const OutboxMessage& m : *pending) Add(m);
  if (!pending->empty()) {
    LogInfo("outbox: {} message(s) still to send from before the restart", pending->size());
  }
  started_ = true;
  Kick();
  Prune();
  SchedulePrune();
  return Status::Ok();
}

void Outbox::Prune() {
  int64_t retention = config_.server.outbox_retention.count();
  if (retention <= 0) return;
  auto deleted = store_.PruneMessages(clock_() - retention);
  if (!deleted.ok()) {
    LogWarning("outbox: cannot delete old messages: {}", deleted.status().message());
  } else if (*deleted > 0) {
    LogInfo("outbox: deleted {} message(s) finished more than {} ago (outbox_retention)", *deleted,
            FormatDuration(config_.server.outbox_retention));
  }
}

void Outbox::SchedulePrune() {
  if (shutting_down_) return;
  prune_timer_ = std::make_unique<net::steady_timer>(io_);
  prune_timer_->expires_after(std::chrono::hours(1));
  std::weak_ptr<bool> alive = alive_;
  prune_timer_->async_wait([this, alive](boost::system::error_code ec) {
    auto a = alive.lock();
    if (ec || !a || !*a) return;
    Prune();
    SchedulePrune();
  });
}

void Outbox::Shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  *alive_ = false;
  if (sender_) sender_->Stop();
  if (prune_timer_) prune_timer_->cancel();
  for (auto& [receiver, q] : queues_) {
    if (q.timer) q.timer->cancel();
  }
}

std::vector<OutboxMessage> Outbox::MessagesFor(const Run& run, const std::string& base_url,
                                               std::function<std::optional<RunStatus>()> previous) {
  RenderContext ctx{base_url, clock_(), std::move(previous),
                    [this, &run] { return DeploymentMade(run); }};
  std::vector<OutboxMessage> out = jenky::MessagesFor(config_, run, ctx);
  for (OutboxMessage& m : out) {
    m.id = next_id_++;
    if (m.event == "deployment.create") deployment_made_.insert(m.run_id);
  }
  if (IsFinished(run.status)) deployment_made_.erase(run.id);
  return out;
}

void Outbox::Saved(const std::vector<OutboxMessage>& messages) {
  for (const OutboxMessage& m : messages) {
    if (m.state == MessageState::kPending) {
      Add(m);
    } else {
      // Made failed (a status with no repository to go to): recorded, not sent.
      ++counts_[m.receiver].failed;
      LogWarning("outbox: {} of run {} to {} failed: {}", m.event, m.run_id,
                 ReceiverDisplayName(m.receiver), m.last_error);
    }
  }
  if (!started_ || shutting_down_) return;
  for (const OutboxMessage& m : messages) {
    if (m.state == MessageState::kPending) Pump(m.receiver);
  }
}

void Outbox::Add(const OutboxMessage& m) {
  // In id order. (The journal may save a later run's messages before an
  // earlier one's, when SQLite refused writes for a while.) The front may be
  // in flight: it stays the front.
  Queue& q = queues_[m.receiver];
  auto at = q.messages.end();
  while (at != q.messages.begin() && std::prev(at)->id > m.id) --at;
  if (at != q.messages.begin() && std::prev(at)->id == m.id) return;  // had it already
  if (at == q.messages.begin() && !q.messages.empty() && (q.in_flight || q.timer)) ++at;
  q.messages.insert(at, m);
}

void Outbox::Kick() {
  for (auto& [receiver, q] : queues_) {
    if (q.timer) q.timer->cancel();
    q.timer.reset();
  }
  std::vector<std::string> receivers;
  for (const auto& [receiver, q] : queues_) receivers.push_back(receiver);
  for (const std::string& r : receivers) Pump(r);
}

void Outbox::Pump(const std::string& receiver) {
  if (shutting_down_ || !started_) return;
  Queue& q = queues_[receiver];
  if (q.in_flight || q.timer || q.messages.empty()) return;
  const OutboxMessage& m = q.messages.front();
  int64_t now = clock_();
  // Queued behind earlier messages until it was too old to matter: given
  // up without an attempt, so a receiver that comes back after a long
  // outage is not sent a day of stale news one message at a time.
  const DeliveryLimits* limits = LimitsFor(config_, receiver);
  if (limits && m.attempts == 0 && now > m.created_at + limits->give_up_after.count()) {
    return Finish(receiver, MessageState::kFailed,
                  fmt::format("gave up without an attempt: not sent within give_up_after = \"{}\" "
                              "(the receiver was still busy with earlier messages)",
                              FormatDuration(limits->give_up_after)));
  }
  if (m.next_attempt_at > now) {
    q.timer = std::make_unique<net::steady_timer>(io_);
    q.timer->expires_after(std::chrono::milliseconds(m.next_attempt_at - now));
    std::weak_ptr<bool> alive = alive_;
    q.timer->async_wait([this, alive, receiver](boost::system::error_code ec) {
      auto a = alive.lock();
      if (ec || !a || !*a) return;
      queues_[receiver].timer.reset();
      Pump(receiver);
    });
    return;
  }
  Attempt(receiver);
}

void Outbox::Attempt(const std::string& receiver) {
  Queue& q = queues_[receiver];
  OutboxMessage& m = q.messages.front();
  if (std::string why; !ResolveDeployment(m, why)) {
    return Finish(receiver, MessageState::kFailed, why);
  }
  auto req = BuildRequest(config_, m, clock_());
  if (!req.ok()) return Finish(receiver, MessageState::kFailed, req.status().message());
  q.in_flight = true;
  ++m.attempts;
  std::weak_ptr<bool> alive = alive_;
  int64_t id = m.id;
  sender_->Send(std::move(*req), [this, alive, receiver, id](OutboundResult r) {
    // On the sender's thread: back to the loop.
    net::post(io_, [this, alive, receiver, id, r = std::move(r)] {
      auto a = alive.lock();
      if (a && *a) OnResult(receiver, id, r);
    });
  });
}

void Outbox::OnResult(const std::string& receiver, int64_t id, const OutboundResult& result) {
  Queue& q = queues_[receiver];
  if (q.messages.empty() || q.messages.front().id != id) return;
  q.in_flight = false;
  OutboxMessage& m = q.messages.front();
  m.last_http_status = result.http_status;
  Judgement j = Judge(m, result);
  if (j.outcome == Outcome::kSent && m.event == "deployment.create") {
    if (std::string why; !TakeDeployment(m, result, why)) {
      return Finish(receiver, MessageState::kFailed, why);
    }
  }
  if (j.outcome == Outcome::kSent) return Finish(receiver, MessageState::kSent, "");
  if (j.outcome == Outcome::kFail) return Finish(receiver, MessageState::kFailed, j.why);

  static std::minstd_rand jitter(static_cast<unsigned>(std::random_device()()));
  int64_t now = clock_();
  int64_t delay = RetryDelayMs(m.attempts, result.retry_after_ms,
                               std::uniform_real_distribution<double>(0, 1)(jitter));
  const DeliveryLimits* limits = LimitsFor(config_, receiver);
  int64_t give_up = limits ? limits->give_up_after.count() : 0;
  if (now + delay > m.created_at + give_up) {
    return Finish(receiver, MessageState::kFailed,
                  fmt::format("gave up after {} attempt(s) over {} (give_up_after = \"{}\"): {}",
                              m.attempts, FormatDuration(Millis(now - m.created_at)),
                              FormatDuration(Millis(give_up)), j.why));
  }
  m.last_error = j.why;
  m.next_attempt_at = now + delay;
  LogWarning("outbox: {} of run {} to {} (attempt {}): {}; trying again in {}", m.event, m.run_id,
             ReceiverDisplayName(receiver), m.attempts, j.why, FormatDuration(Millis(delay)));
  Save(m);
  Pump(receiver);
}

void Outbox::Finish(const std::string& receiver, MessageState state, const std::string& why) {
  Queue& q = queues_[receiver];
  OutboxMessage m = std::move(q.messages.front());
  q.messages.pop_front();
  q.in_flight = false;
  m.state = state;
  m.finished_at = clock_();
  m.next_attempt_at = 0;
  if (state == MessageState::kFailed) {
    m.last_error = why;
    ++counts_[receiver].failed;
    LogWarning("outbox: {} of run {} to {} failed: {}", m.event, m.run_id,
               ReceiverDisplayName(receiver), why);
  } else {
    ++counts_[receiver].sent;
  }
  Save(m);
  Pump(receiver);
}

void Outbox::Save(const OutboxMessage& m) {
  if (Status s = store_.UpdateMessage(m); !s.ok()) {
    // The row keeps its older state; at worst the message is sent again
    // after a restart.
    LogWarning("outbox: recording message {}: {}", m.id, s.message());
  }
}

bool Outbox::DeploymentMade(const Run& run) {
  if (deployment_made_.count(run.id)) return true;
  // Made by an earlier process (a run queued before a restart): its row.
  auto rows = store_.ListMessages(run.project, run.id, 500);
  if (!rows.ok()) return false;
  for (const OutboxMessage& m : *rows) {
    if (m.event == "deployment.create") {
      deployment_made_.insert(run.id);
      return true;
    }
  }
  return false;
}

constexpr std::string_view kDeploymentSlot = "{deployment}";

bool Outbox::ResolveDeployment(OutboxMessage& m, std::string& why) {
  size_t slot = m.url.find(kDeploymentSlot);
  if (m.receiver.rfind("deploy:", 0) != 0 || slot == std::string::npos) return true;
  auto known = deployments_.find(m.run_id);
  if (known == deployments_.end()) {
    // After a restart: the create's row holds the deployment's URL.
    auto rows = store_.ListMessages(m.project, m.run_id, 500);
    if (!rows.ok()) {
      why = "cannot read the run's deployment: " + rows.status().message();
      return false;
    }
    for (const OutboxMessage& row : *rows) {
      if (row.receiver != m.receiver || row.event != "deployment.create") continue;
      if (row.state == MessageState::kSent) {
        int64_t id = 0;
        const char* end = row.url.data() + row.url.size();
        const char* digits = row.url.data() + row.url.rfind('/') + 1;
        auto [ptr, ec] = std::from_chars(digits, end, id);
        if (ec == std::errc() && ptr == end && id > 0) {
          known = deployments_.emplace(m.run_id, id).first;
        }
      } else if (row.state == MessageState::kFailed) {
        why = "no deployment to update: creating it failed: " + row.last_error;
        return false;
      }
    }
    if (known == deployments_.end()) {
      why = fmt::format(
          "no deployment to update: run {} has none (deployments was turned on after it was "
          "queued?)",
          m.run_id);
      return false;
    }
  }
  m.url.replace(slot, kDeploymentSlot.size(), std::to_string(known->second));
  return true;
}

bool Outbox::TakeDeployment(OutboxMessage& m, const OutboundResult& result, std::string& why) {
  int64_t id = DeploymentIdOf(result.body);
  if (id <= 0) {
    why = fmt::format("GitHub answered HTTP {} without a deployment id: {}", result.http_status,
                      result.body.substr(0, 200));
    return false;
  }
  deployments_[m.run_id] = id;
  m.url += "/" + std::to_string(id);
  return true;
}

Result<std::vector<OutboxMessage>> Outbox::List(const std::string& project, int64_t run_id,
                                                int limit) {
  auto rows = store_.ListMessages(project, run_id, limit);
  if (!rows.ok()) return rows;
  for (OutboxMessage& row : *rows) {
    auto q = queues_.find(row.receiver);
    if (q == queues_.end()) continue;
    for (const OutboxMessage& m : q->second.messages) {
      if (m.id == row.id) row = m;
    }
  }
  return rows;
}

std::map<std::string, Outbox::Counts> Outbox::counts() const {
  std::map<std::string, Counts> out = counts_;
  for (const auto& [receiver, q] : queues_) out[receiver].pending = q.messages.size();
  return out;
}

}  // namespace jenky
