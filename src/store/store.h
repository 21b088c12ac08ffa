// History: runs in SQLite (WAL) at data_dir/jenky.db.
//
// Threading: a Store is used by one thread, the event loop. Statements there
// never fsync (WAL with synchronous=NORMAL and automatic checkpoints off), so
// they cost tens of microseconds; a background thread with its own connection
// runs the checkpoints, which do. A write that finds the database locked by
// another process waits kBusyTimeoutMs at most and then fails (the loop must
// not stall; the engine retries); reads never wait for writers (WAL). A process crash loses nothing
// committed; a power cut may lose the last commits, which recovery rebuilds from the run
// directories (docs/architecture.md).
//
// Schema changes are numbered SQL files in src/store/migrations/, embedded in
// the binary and applied in order; PRAGMA user_version holds the last applied.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/outbox_message.h"
#include "core/run.h"
#include "util/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace jenky {

// One webhook delivery as recorded for GET /api/v1/projects/{name}/deliveries.
struct Delivery {
  int64_t id = 0;
  std::string project;
  int64_t received_at = 0;  // unix ms
  std::string provider;
  std::string event;
  std::string delivery;  // the forge's delivery id
  std::string result;    // a DeliveryResultName (core/delivery_result.h)
  int status = 0;        // HTTP status answered
  std::string reason;
  int64_t run_id = 0;   // 0 = none
  std::string remote;   // sender address
  int64_t count = 1;    // identical rejections folded into this record
  int64_t last_at = 0;  // unix ms of the latest of them (0 = received_at)
  // False for noise (an event the project does not deploy from, a forged
  // signature, a refused body): evicted first (store/delivery_log.h).
  bool relevant = true;
};

// A paused project (POST /api/v1/projects/{name}/pause): nothing deploys.
struct ProjectPause {
  std::string project;
  std::string paused_by;  // the actor (audit.h)
  std::string reason;
  int64_t paused_at = 0;  // unix ms
  std::string address;    // where the request came from
};

// One entry of the audit log (GET /api/v1/audit): a state change.
struct AuditEntry {
  int64_t id = 0;
  int64_t time = 0;     // unix ms
  std::string actor;    // "token:laptop", "session:laptop", "webhook:ID", "local", ...
  std::string action;   // "trigger", "cancel", "rollback", "pause", ...
  std::string project;  // "" when none
  int64_t run = 0;      // 0 when none
  std::string address;  // "" when none (a signal, a schedule)
  std::string detail;
};

constexpr int kDeliveriesKept = 100;
constexpr int kBusyTimeoutMs = 100;

// What the engine keeps of runs and deliveries. The interface is the seam
// the engine is tested through (tests/unit/fake_store.h keeps it in memory);
// SqliteStore below is the real one. Errors are the backend's (a locked or
// full database): callers keep what was refused and retry (server/journal.h).
class Store {
 public:
  // The SQLite history at PATH (SqliteStore), migrated to the newest schema.
  static Result<std::unique_ptr<Store>> Open(const std::string& path);
  virtual ~Store() = default;

  virtual Status InsertRun(const Run& run) { return InsertRuns({run}); }
  // Many runs in one transaction (recovery, benchmarks).
  virtual Status InsertRuns(const std::vector<Run>& runs) = 0;
  // Writes every mutable field of RUN (status, times, exit code, ...).
  virtual Status UpdateRun(const Run& run) = 0;
  // Inserts RUN, or updates its row if it has one.
  virtual Status SaveRun(const Run& run) = 0;

  virtual Result<std::optional<Run>> GetRun(int64_t id) = 0;
  // Newest first. PROJECT "" lists all projects; BEFORE 0 means from the newest.
  virtual Result<std::vector<Run>> ListRuns(const std::string& project, int limit,
                                            int64_t before) = 0;
  virtual Result<std::optional<Run>> LastRun(const std::string& project) = 0;
  // Queued and running runs, oldest first.
  virtual Result<std::vector<Run>> UnfinishedRuns() = 0;
  virtual Result<int64_t> MaxRunId() = 0;
  // Finished runs of PROJECT older than its newest KEEP runs whose logs remain.
  virtual Result<std::vector<int64_t>> RunsToPrune(const std::string& project, int keep) = 0;
  virtual Status MarkPruned(int64_t id) = 0;

  // The newest run PROJECT's delivery DELIVERY started (a redelivery starts another), if any.
  virtual Result<std::optional<Run>> FindRunByDelivery(const std::string& project,
                                                       const std::string& delivery) = 0;
  // Writes DELIVERIES (new, or updated by id) in one transaction and drops
  // each of their projects' deliveries beyond kDeliveriesKept.
  virtual Status SaveDeliveries(const std::vector<Delivery>& deliveries) = 0;
  virtual Result<int64_t> MaxDeliveryId() = 0;
  virtual Result<std::vector<Delivery>> ListDeliveries(const std::string& project, int limit) = 0;

  // The outbox (core/outbox_message.h, migration 006). RUN's row (as SaveRun)
  // and MESSAGES in one transaction: a state change and the messages it
  // causes are saved together or not at all.
  virtual Status SaveRunAndMessages(const Run& run, const std::vector<OutboxMessage>& messages) = 0;
  // Writes M's delivery fields (state, attempts, times, status, error) and
  // its url (a created deployment's, once GitHub named it).
  virtual Status UpdateMessage(const OutboxMessage& m) = 0;
  // Messages not yet sent or given up, oldest first.
  virtual Result<std::vector<OutboxMessage>> PendingMessages() = 0;
  // Newest first: RUN_ID's messages (RUN_ID > 0), else PROJECT's.
  virtual Result<std::vector<OutboxMessage>> ListMessages(const std::string& project,
                                                          int64_t run_id, int limit) = 0;
  virtual Result<int64_t> MaxMessageId() = 0;
  // Deletes the messages sent or failed before FINISHED_BEFORE (unix ms):
  // [server] outbox_retention. Pending ones stay. Returns how many went.
  virtual Result<int64_t> PruneMessages(int64_t finished_before) = 0;
  // Paused projects and the audit log (store_control.cc). A store that does
  // not keep them (the tests' fake) refuses with an error.
  virtual Status SavePause(const ProjectPause& pause);
  virtual Status DeletePause(const std::string& project);
  virtual Result<std::vector<ProjectPause>> ListPauses();
  // Appends E (its id is the store's); entries are never changed.
  virtual Status AppendAudit(const AuditEntry& e);
  // Newest first; BEFORE_ID 0 = from the newest; PROJECT "" = all.
  virtual Result<std::vector<AuditEntry>> ListAudit(int limit, int64_t before_id,
                                                    const std::string& project);
  // Deletes entries older than OLDER_THAN (unix ms): the retention.
  virtual Status PruneAudit(int64_t older_than);

  // The migration last applied (0 for a store without migrations).
  virtual int schema_version() const { return 0; }
};

class SqliteStore final : public Store {
 public:
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Status InsertRun(const Run& run) override;
  Status InsertRuns(const std::vector<Run>& runs) override;
  Status UpdateRun(const Run& run) override;
  Status SaveRun(const Run& run) override;
  Result<std::optional<Run>> GetRun(int64_t id) override;
  Result<std::vector<Run>> ListRuns(const std::string& project, int limit, int64_t before) override;
  Result<std::optional<Run>> LastRun(const std::string& project) override;
  Result<std::vector<Run>> UnfinishedRuns() override;
  Result<int64_t> MaxRunId() override;
  Result<std::vector<int64_t>> RunsToPrune(const std::string& project, int keep) override;
  Status MarkPruned(int64_t id) override;
  Result<std::optional<Run>> FindRunByDelivery(const std::string& project,
                                               const std::string& delivery) override;
  Status SaveDeliveries(const std::vector<Delivery>& deliveries) override;
  Result<int64_t> MaxDeliveryId() override;
  Result<std::vector<Delivery>> ListDeliveries(const std::string& project, int limit) override;
  Status SaveRunAndMessages(const Run& run, const std::vector<OutboxMessage>& messages) override;
  Status UpdateMessage(const OutboxMessage& m) override;
  Result<std::vector<OutboxMessage>> PendingMessages() override;
  Result<std::vector<OutboxMessage>> ListMessages(const std::string& project, int64_t run_id,
                                                  int limit) override;
  Result<int64_t> MaxMessageId() override;
  Result<int64_t> PruneMessages(int64_t finished_before) override;
  Status SavePause(const ProjectPause& pause) override;
  Status DeletePause(const std::string& project) override;
  Result<std::vector<ProjectPause>> ListPauses() override;
  Status AppendAudit(const AuditEntry& e) override;
  Result<std::vector<AuditEntry>> ListAudit(int limit, int64_t before_id,
                                            const std::string& project) override;
  Status PruneAudit(int64_t older_than) override;
  int schema_version() const override { return schema_version_; }

 private:
  // The outbox's statements (store/outbox_store.cc).
  Result<std::vector<OutboxMessage>> QueryMessages(sqlite3_stmt* stmt);
  SqliteStore() = default;
  Status Exec(const std::string& sql);
  // One statement without rows (BEGIN, COMMIT, ...) through the statement
  // cache: what every save pays, without parsing it each time.
  Status Step(const char* sql);
  Status Migrate();
  Result<std::vector<Run>> Query(sqlite3_stmt* stmt);
  Result<sqlite3_stmt*> Prepare(const char* sql);

  class Checkpointer;
  sqlite3* db_ = nullptr;
  std::string path_;
  int schema_version_ = 0;
  std::unique_ptr<Checkpointer> checkpointer_;
  std::vector<sqlite3_stmt*> statements_;  // cached, finalized in the destructor
};

}  // namespace jenky
