// The engine: projects, runs and their supervisors, owned by the event loop.
//
// Every method must be called on the io_context's thread; the engine's state
// (scheduler, active runs, log tails) is touched by nothing else, so it has no
// locks. Runs execute in supervisor processes (exec/supervisor.h); the engine
// starts them, watches them through their run directories and pidfds, and
// records what they did. It never waits for a process: exits and log growth
// arrive as kernel notifications (watcher.h).
//
// Durability: a trigger is committed to SQLite before Trigger returns; the
// supervisor makes the log and exit record durable; Start() reconciles the
// database with the run directories after any crash (docs/architecture.md).
// When SQLite refuses a write (another process holds its lock, the disk is
// full) the run's state is kept in memory, served from there, and written
// later in order; runs go on meanwhile.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/run.h"
#include "core/scheduler.h"
#include "exec/run_dir.h"
#include "net/asio.h"
#include "server/control.h"
#include "server/intake.h"
#include "server/journal.h"
#include "server/launcher.h"
#include "server/outbox.h"
#include "server/run_env.h"
#include "server/run_metrics.h"
#include "server/watcher.h"
#include "store/store.h"

namespace jenky {

struct RunSpec;  // exec/supervisor.h
struct Verdict;  // webhook/webhook.h

// What a log follower needs of a run's log: its size now, whether it can
// still grow, and a signal to wait on. Shared with followers so it outlives
// the run's bookkeeping while someone still reads.
struct LogTail {
  explicit LogTail(net::io_context& io, std::string path)
      : path(std::move(path)), changed(std::make_shared<net::steady_timer>(io)) {
    changed->expires_at(net::steady_timer::time_point::max());
  }
  std::string path;
  int64_t size = 0;
  bool finished = false;
  // Cancelled (and replaced) on every change: waiters hold the one they wait on.
  std::shared_ptr<net::steady_timer> changed;

  void Notify(net::io_context& io);
};

// What the engine reaches the world through, each an interface with a fake
// for tests (tests/unit/engine_test.cc): supervisors, kernel notifications
// and the time. The store is the fourth (store/store.h).
struct EngineSeams {
  std::unique_ptr<Launcher> launcher;
  std::unique_ptr<Watcher> watcher;
  std::function<int64_t()> clock;  // unix ms
  std::unique_ptr<Sender> sender;  // the outbox's network; null: libcurl (notify/sender.h)
};

class Engine {
 public:
  // How long an adopted run whose supervisor has not taken its lock yet
  // waits for it (Adopt).
  static constexpr int64_t kLockWaitMs = 5000;

  // The real seams: supervisors run as SUPERVISOR_BINARY __supervise.
  Engine(net::io_context& io, Config config, std::unique_ptr<Store> store,
         std::string supervisor_binary);
  Engine(net::io_context& io, Config config, std::unique_ptr<Store> store, EngineSeams seams,
         std::string supervisor_binary = "");
  ~Engine();

  // Reconciles history with run directories: adopts runs whose supervisors
  // live, records those that finished or were lost, re-queues queued runs.
  Status Start();
  // Stops watching and releases the spare supervisor. Running runs go on.
  void Shutdown();

  const Config& config() const { return config_; }
  // Counts the configurations in force (1 at start, +1 per Reload): what is
  // derived from config() is rebuilt when this changes, not compared field
  // by field on every request.
  uint64_t config_version() const { return config_version_; }
  // Replaces the configuration (SIGHUP). Runs keep going; listen, data_dir and
  // tokens' rate limits keep their old values until a restart, which the
  // returned note says when it matters. Callers must not hold references into
  // the old configuration across a suspension.
  std::string Reload(Config fresh);
  // Where the UI is reached, for JENKY_LOG_URL: public_url, else the bound address.
  void SetBaseUrl(std::string url) { base_url_ = std::move(url); }

  // Creates a run for PROJECT and schedules it. Errors: not_found (no such
  // project), queue_full.
  Result<Run> Trigger(const std::string& project, const struct Trigger& trigger);
  // Asks a queued or running run to stop. Errors: not_found, conflict (finished).
  Result<Run> Cancel(int64_t run_id, const std::string& reason);

  Result<std::optional<Run>> GetRun(int64_t id);
  Result<std::vector<Run>> ListRuns(const std::string& project, int limit, int64_t before);
  Result<std::optional<Run>> LastRun(const std::string& project);

  // A webhook delivery the HTTP layer verified (webhook/webhook.h, VERDICT),
  // for RECORD's project, received_at, provider and remote: a push is
  // triggered unless it retries a delivery that already started a run
  // (IsRetry); a paused project refuses it. Every delivery is recorded, with
  // its outcome and the status it is answered (intake.h), and a deploy audited.
  Intake Receive(Delivery record, const Verdict& verdict);
  // A delivery refused before it was read or verified (too large, its
  // address rate-limited): recorded as noise with OUTCOME and REASON.
  Intake Refuse(Delivery record, IntakeOutcome outcome, std::string reason);

  // Webhook bookkeeping (store passthroughs, on the loop like everything else).
  Result<std::optional<Run>> RunForDelivery(const std::string& project,
                                            const std::string& delivery);
  void RecordDelivery(const Delivery& d) {
    metrics_.CountDelivery(d);
    journal_.RecordDelivery(d);
  }
  Result<std::vector<Delivery>> ListDeliveries(const std::string& project, int limit) {
    return journal_.ListDeliveries(project, limit);
  }

  // The live tail of an active run, or nullptr when the run is not active (its
  // log is complete on disk).
  std::shared_ptr<LogTail> Tail(int64_t run_id);
  std::string LogPath(int64_t run_id) const;
  std::string IndexPath(int64_t run_id) const;
  std::string ScriptPath(int64_t run_id) const;

  // Commit statuses and notifications (outbox.h): GET .../messages.
  Outbox& outbox() { return outbox_; }
  // GET /metrics in the text exposition format (run_metrics.h); VIEWERS is
  // the WebSocket hub's count.
  std::string RenderMetrics(int64_t viewers);
  // Paused projects and the audit log (control.h), made at first use.
  Control& control() {
    if (!control_) control_ = std::make_unique<Control>(*store_, clock_);
    control_->set_retention_ms(config_.server.audit_retention.count());  // (reloads)
    return *control_;
  }

  int RunningCount() const { return scheduler_.RunningCount(); }
  int QueuedCount() const { return static_cast<int>(active_.size()) - RunningCount(); }
  // Called (on the loop) whenever a run is queued, starts or ends.
  void SetChangeListener(std::function<void()> listener) { on_change_ = std::move(listener); }
  // Called (on the loop) when a run's log grows or its status changes (it
  // starts or ends), with the run's id; the WebSocket hub pushes from it.
  void SetLogListener(std::function<void(int64_t)> listener) { on_log_ = std::move(listener); }
  // Called (on the loop) when PROJECT gets a new run.
  void SetNewRunListener(std::function<void(const std::string&)> listener) {
    on_new_run_ = std::move(listener);
  }

 private:
  struct Active;

  Run NewRun(const std::string& project, const struct Trigger& trigger);
  // Receive's push: de-duplicated, triggered, audited (engine_intake.cc).
  Intake Deploy(const Delivery& record, const Verdict& verdict);
  // Fills RECORD's result, status, reason and run from IN, and records it.
  void Settle(Delivery& record, const Intake& in);
  // Registers RUN as active (queued or running) and returns its entry.
  Active& Track(Run run);
  void Apply(const Decision& d);
  void StartRun(int64_t id);
  void FailToStart(Active& a, const std::string& reason);
  void Finalize(int64_t id, const ExitRecord& record);
  void OnSupervisorExit(int64_t id);
  void PollLock(int64_t id);
  // Its supervisor is gone without a record: interrupted.
  void DeclareGone(int64_t id);
  void PollLogs();  // when inotify is unavailable: log sizes every 100 ms
  void Watch(Active& a);
  void Adopt(Run run);
  void Prune(const std::string& project);
  // Writes RUN's row through the journal (journal.h), with the outbox's
  // messages its new state causes, and counts it (engine_outbox.cc).
  void Persist(const Run& run);
  // The same for a run's start, written (and its messages made) behind its
  // script (journal.h).
  void PersistBehind(const Run& run);
  // How PROJECT's newest finished run before RUN ended, cancelled ones
  // skipped ("recovered" is a success after a failure). From last_outcome_
  // once this process has seen one, else from the history.
  std::optional<RunStatus> PreviousOutcome(const Run& run);
  // Runs found in run directories but not in the store (Start).
  Result<std::vector<Run>> RunsMissingFromStore();
  int64_t Now() const { return clock_(); }

  net::io_context& io_;
  Config config_;
  uint64_t config_version_ = 1;
  std::unique_ptr<Store> store_;
  std::string supervisor_binary_;
  std::unique_ptr<Launcher> launcher_;
  std::unique_ptr<Watcher> files_;
  std::function<int64_t()> clock_;
  Scheduler scheduler_;
  std::map<int64_t, std::unique_ptr<Active>> active_;  // queued and running
  int64_t next_id_ = 1;
  std::string base_url_;

  bool shutting_down_ = false;
  std::function<void()> on_change_;
  std::function<void(int64_t)> on_log_;
  std::function<void(const std::string&)> on_new_run_;
  std::unique_ptr<net::steady_timer> log_poll_;
  // Run rows and webhook deliveries on their way to the store; reads look
  // there before the store.
  Journal journal_;
  RunMetrics metrics_;
  // Per project, its newest run that ended (cancelled ones aside): (id,
  // status), none = no such run. Read from the history once (PreviousOutcome),
  // then kept by Persist: spares a look through the history for every
  // finished run.
  std::map<std::string, std::pair<int64_t, std::optional<RunStatus>>> last_outcome_;
  // Statuses and notifications on their way out; after the journal, which
  // hands it what it saved.
  Outbox outbox_;
  std::unique_ptr<Control> control_;
};

}  // namespace jenky
