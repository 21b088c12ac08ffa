// The outbox: sends the commit statuses and notifications that runs' state
// changes caused (docs/notifications.md), never losing one and never
// slowing a run.
//
// Lifecycle of a message: the engine asks MessagesFor when it persists a
// run's new state; the journal writes the row and the messages in one
// transaction (Store::SaveRunAndMessages) and hands them to Saved; from then
// on they are durable, and the outbox sends them: per receiver one at a
// time, in id order (so a run's statuses and notifications arrive in the
// order they happened), receivers independently of each other (a dead or
// slow receiver delays only its own messages). An attempt that fails in a
// way worth repeating (no answer, 408, 429, 5xx) is retried after a backoff
// (2 s doubling to 10 min, or Retry-After if longer), until the receiver's
// give_up_after has passed since the message was made: then it is failed,
// with the last reason. An answer that will not change (another 4xx) fails
// it at once. Every attempt's result is written to the store, so after a
// crash or restart Start() sends what was still pending (a message whose
// attempt was in flight is sent again: receivers get it at least once;
// webhooks carry a stable webhook-id to drop repeats by).
//
// Threads: everything here runs on the loop thread; the Sender (sender.h)
// does the network on its own thread and its results are posted back.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/outbox_message.h"
#include "core/run.h"
#include "net/asio.h"
#include "notify/sender.h"
#include "store/store.h"

namespace jenky {

class Outbox {
 public:
  // CONFIG is the engine's (it is replaced in place on reload); SENDER is
  // null for the real one (libcurl).
  Outbox(net::io_context& io, Store& store, const Config& config, std::unique_ptr<Sender> sender,
         std::function<int64_t()> clock);
  ~Outbox();

  // Loads the messages still pending in the store and starts sending them.
  Status Start();
  // Abandons attempts in flight (they stay pending for the next start).
  void Shutdown();

  // The messages RUN's new state causes, numbered, for the journal to save
  // with its row. PREVIOUS_OUTCOME is asked only for a success.
  std::vector<OutboxMessage> MessagesFor(const Run& run, const std::string& base_url,
                                         std::function<std::optional<RunStatus>()> previous);
  // The journal has saved MESSAGES: send them.
  void Saved(const std::vector<OutboxMessage>& messages);
  // Deletes the messages sent or failed more than [server] outbox_retention
  // ago (none when it is 0), so the table does not grow forever. Start()
  // does it, then once an hour.
  void Prune();

  // Looks at every waiting message again now (after a reload, or a test's
  // clock moved): a wait that is over is not waited out.
  void Kick();

  // Newest first, RUN_ID's (> 0) or PROJECT's; the store's rows with the
  // state of messages being sent laid over them.
  Result<std::vector<OutboxMessage>> List(const std::string& project, int64_t run_id, int limit);

  struct Counts {
    int64_t pending = 0;  // now
    int64_t sent = 0;     // since the start of this process
    int64_t failed = 0;   // since the start of this process
  };
  // By receiver ("notify:NAME", "status:PROJECT").
  std::map<std::string, Counts> counts() const;

 private:
  struct Queue {
    std::deque<OutboxMessage> messages;  // pending, in id order; the front is the one tried
    bool in_flight = false;
    std::unique_ptr<net::steady_timer> timer;  // waiting for the front's next attempt
  };

  void Add(const OutboxMessage& m);
  void Pump(const std::string& receiver);
  void Attempt(const std::string& receiver);
  void OnResult(const std::string& receiver, int64_t id, const OutboundResult& result);
  // Ends the front message of Q as STATE (sent or failed) and goes on.
  void Finish(const std::string& receiver, MessageState state, const std::string& why);
  void Save(const OutboxMessage& m);
  // GitHub deployments (receiver "deploy:PROJECT"): the statuses' URL names
  // the deployment the run's "deployment.create" made. False (and WHY) when
  // there is none to name.
  bool ResolveDeployment(OutboxMessage& m, std::string& why);
  // Whether RUN's "deployment.create" was made (in this process, or saved).
  bool DeploymentMade(const Run& run);
  // A "deployment.create" was answered 2xx: the deployment's id, or why not.
  bool TakeDeployment(OutboxMessage& m, const OutboundResult& result, std::string& why);
  void SchedulePrune();

  net::io_context& io_;
  Store& store_;
  const Config& config_;
  std::unique_ptr<Sender> sender_;
  std::function<int64_t()> clock_;
  int64_t next_id_ = 1;
  bool started_ = false;
  bool shutting_down_ = false;
  std::map<std::string, Queue> queues_;
  std::unique_ptr<net::steady_timer> prune_timer_;
  std::map<int64_t, int64_t> deployments_;  // run id -> GitHub deployment id
  std::set<int64_t> deployment_made_;       // unfinished runs whose deployment.create exists
  std::map<std::string, Counts> counts_;
  // Results posted by the sender's thread find the outbox gone by this.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace jenky
