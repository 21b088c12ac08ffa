// History: runs in SQLite (WAL) at data_dir/jenky.db.
//
// Threading: a Store is used by one thread, the event loop. Statements there
// never fsync (WAL with synchronous=NORMAL and automatic checkpoints off), so
// they cost tens of microseconds; a background thread with its own connection
// runs the checkpoints, which do. A write that finds the database locked by
// another process waits kBusyTimeoutMs at most and then fails (the loop must
// not stall; the engine retries); reads never wait for writers (WAL). A process crash loses nothing committed;
// a power cut may lose the last commits, which recovery rebuilds from the run
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
  int64_t run_id = 0;    // 0 = none
  std::string remote;    // sender address
  int64_t count = 1;     // identical rejections folded into this record
  int64_t last_at = 0;   // unix ms of the latest of them (0 = received_at)
};

constexpr int kDeliveriesKept = 100;
constexpr int kBusyTimeoutMs = 100;

class Store {
 public:
  static Result<std::unique_ptr<Store>> Open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Status InsertRun(const Run& run);
  // Many runs in one transaction (recovery, benchmarks).
  Status InsertRuns(const std::vector<Run>& runs);
  // Writes every mutable field of RUN (status, times, exit code, ...).
  Status UpdateRun(const Run& run);
  // Inserts RUN, or updates its row if it has one.
  Status SaveRun(const Run& run);

  Result<std::optional<Run>> GetRun(int64_t id);
  // Newest first. PROJECT "" lists all projects; BEFORE 0 means from the newest.
  Result<std::vector<Run>> ListRuns(const std::string& project, int limit, int64_t before);
  Result<std::optional<Run>> LastRun(const std::string& project);
  Result<std::vector<Run>> UnfinishedRuns();
  Result<int64_t> MaxRunId();
  // Finished runs of PROJECT older than its newest KEEP runs whose logs remain.
  Result<std::vector<int64_t>> RunsToPrune(const std::string& project, int keep);
  Status MarkPruned(int64_t id);

  // The run PROJECT's delivery DELIVERY started, if any.
  Result<std::optional<Run>> FindRunByDelivery(const std::string& project,
                                               const std::string& delivery);
  // Writes DELIVERIES (new, or updated by id) in one transaction and drops
  // each of their projects' deliveries beyond kDeliveriesKept.
  Status SaveDeliveries(const std::vector<Delivery>& deliveries);
  Result<int64_t> MaxDeliveryId();
  Result<std::vector<Delivery>> ListDeliveries(const std::string& project, int limit);

  int schema_version() const { return schema_version_; }

 private:
  Store() = default;
  Status Exec(const std::string& sql);
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
