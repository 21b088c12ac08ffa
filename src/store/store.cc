#include "store/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "util/embedded.h"
#include "util/json.h"
#include "util/logger.h"

namespace jenky {

// Runs PRAGMA wal_checkpoint(PASSIVE) once a second on its own connection, so
// the fsyncs a checkpoint needs never happen on the event loop.
class SqliteStore::Checkpointer {
 public:
  explicit Checkpointer(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
        SQLITE_OK) {
      LogWarning("sqlite: cannot open {} for checkpoints: {}", path, sqlite3_errmsg(db_));
      sqlite3_close(db_);
      db_ = nullptr;
      return;
    }
    sqlite3_busy_timeout(db_, 1000);
    sqlite3_exec(db_, "PRAGMA cache_size=-64", nullptr, nullptr, nullptr);
    thread_ = std::thread([this] { Loop(); });
  }
  ~Checkpointer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (db_) sqlite3_close(db_);
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::seconds(1));
      lock.unlock();
      int log_frames = 0, done = 0;
      int rc =
          sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &done);
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        LogWarning("sqlite: checkpoint failed: {}", sqlite3_errmsg(db_));
      }
      lock.lock();
    }
  }

  sqlite3* db_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

namespace {

constexpr const char* kRunColumns =
    "id, project, status, trigger_kind, provider, ref, branch, commit_sha, actor, delivery, "
    "created_at, started_at, finished_at, exit_code, reason, log_bytes, recipe, script_sha256, "
    "log_pruned, action, rollback_to, resources, inputs, repo_url, commit_message";

std::string Text(sqlite3_stmt* s, int col) {
  const unsigned char* t = sqlite3_column_text(s, col);
  return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s, col)) : "";
}

void BindText(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

// Binds the run's fields in kRunColumns order starting at parameter 1.
void BindRun(sqlite3_stmt* s, const Run& r) {
  sqlite3_bind_int64(s, 1, r.id);
  BindText(s, 2, r.project);
  sqlite3_bind_text(s, 3, RunStatusName(r.status), -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 4, TriggerKindName(r.trigger.kind), -1, SQLITE_STATIC);
  BindText(s, 5, r.trigger.provider);
  BindText(s, 6, r.trigger.ref);
  BindText(s, 7, r.trigger.branch);
  BindText(s, 8, r.trigger.commit);
  BindText(s, 9, r.trigger.actor);
  BindText(s, 10, r.trigger.delivery);
  sqlite3_bind_int64(s, 11, r.created_at);
  sqlite3_bind_int64(s, 12, r.started_at);
  sqlite3_bind_int64(s, 13, r.finished_at);
  if (r.exit_code) sqlite3_bind_int(s, 14, *r.exit_code);
  else sqlite3_bind_null(s, 14);
  BindText(s, 15, r.reason);
  sqlite3_bind_int64(s, 16, r.log_bytes);
  BindText(s, 17, r.recipe);
  BindText(s, 18, r.script_sha256);
  sqlite3_bind_int(s, 19, r.log_pruned ? 1 : 0);
  BindText(s, 20, r.trigger.action);
  sqlite3_bind_int64(s, 21, r.trigger.rollback_to);
  if (r.resources) BindText(s, 22, DumpJson(ResourcesToJson(*r.resources)));
  else sqlite3_bind_null(s, 22);
  if (!r.trigger.inputs.empty()) {
    nlohmann::json inputs = nlohmann::json::object();
    for (const auto& [name, value] : r.trigger.inputs) inputs[name] = value;
    BindText(s, 23, DumpJson(inputs));
  } else {
    sqlite3_bind_null(s, 23);
  }
  BindText(s, 24, r.trigger.repo_url);
  BindText(s, 25, r.trigger.message);
}

Run ReadRun(sqlite3_stmt* s) {
  Run r;
  r.id = sqlite3_column_int64(s, 0);
  r.project = Text(s, 1);
  r.status = ParseRunStatus(Text(s, 2)).value_or(RunStatus::kInterrupted);
  r.trigger.kind = ParseTriggerKind(Text(s, 3)).value_or(TriggerKind::kApi);
  r.trigger.provider = Text(s, 4);
  r.trigger.ref = Text(s, 5);
  r.trigger.branch = Text(s, 6);
  r.trigger.commit = Text(s, 7);
  r.trigger.actor = Text(s, 8);
  r.trigger.delivery = Text(s, 9);
  r.created_at = sqlite3_column_int64(s, 10);
  r.started_at = sqlite3_column_int64(s, 11);
  r.finished_at = sqlite3_column_int64(s, 12);
  if (sqlite3_column_type(s, 13) != SQLITE_NULL) r.exit_code = sqlite3_column_int(s, 13);
  r.reason = Text(s, 14);
  r.log_bytes = sqlite3_column_int64(s, 15);
  r.recipe = Text(s, 16);
  r.script_sha256 = Text(s, 17);
  r.log_pruned = sqlite3_column_int(s, 18) != 0;
  r.trigger.action = Text(s, 19);
  r.trigger.rollback_to = sqlite3_column_int64(s, 20);
  if (sqlite3_column_type(s, 21) != SQLITE_NULL) {
    r.resources = ResourcesFromJson(nlohmann::json::parse(Text(s, 21), nullptr, false));
  }
  if (sqlite3_column_type(s, 22) != SQLITE_NULL) {
    auto inputs = nlohmann::json::parse(Text(s, 22), nullptr, false);
    if (inputs.is_object()) {
      for (const auto& [name, value] : inputs.items()) {
        if (value.is_string()) r.trigger.inputs.emplace_back(name, value.get<std::string>());
      }
    }
  }
  r.trigger.repo_url = Text(s, 23);
  r.trigger.message = Text(s, 24);
  return r;
}

// Resets a cached statement when the caller is done with it, whatever path.
struct StmtReset {
  sqlite3_stmt* s;
  ~StmtReset() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  auto sqlite = SqliteStore::Open(path);
  if (!sqlite.ok()) return sqlite.status();
  return std::unique_ptr<Store>(std::move(*sqlite));
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  std::unique_ptr<SqliteStore> store(new SqliteStore());
  store->path_ = path;
  // The history is not for every user of the machine: no access for others,
  // also for a database an older jenky made (SQLite gives its -wal and -shm
  // files the database's mode when it creates them).
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd >= 0) {
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 0007)) fchmod(fd, st.st_mode & 0770);
    close(fd);
  }
  for (const char* suffix : {"-wal", "-shm"}) {
    struct stat st;
    std::string file = path + suffix;
    if (stat(file.c_str(), &st) == 0 && (st.st_mode & 0007)) chmod(file.c_str(), st.st_mode & 0770);
  }
  int rc =
      sqlite3_open_v2(path.c_str(), &store->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    return Status::Error(fmt::format("open database {}: {}", path,
                                     store->db_ ? sqlite3_errmsg(store->db_) : "out of memory"));
  }
  sqlite3_busy_timeout(store->db_, 5000);
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                             "PRAGMA wal_autocheckpoint=0", "PRAGMA foreign_keys=ON",
                             // Indexed lookups need few pages; keep idle memory small.
                             "PRAGMA cache_size=-512"}) {
    if (Status s = store->Exec(pragma); !s.ok()) return s;
  }
  if (Status s = store->Migrate(); !s.ok()) return s;
  // Opening may wait for a lock a while (nothing is served yet); from now on
  // every statement runs on the event loop.
  sqlite3_busy_timeout(store->db_, kBusyTimeoutMs);
  store->checkpointer_ = std::make_unique<Checkpointer>(path);
  return store;
}

SqliteStore::~SqliteStore() {
  checkpointer_.reset();
  for (sqlite3_stmt* s : statements_) sqlite3_finalize(s);
  if (db_) sqlite3_close(db_);
}

Status SqliteStore::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = fmt::format("database {}: {}", path_, err ? err : sqlite3_errmsg(db_));
    sqlite3_free(err);
    return Status::Error(msg);
  }
  return Status::Ok();
}

Status SqliteStore::Step(const char* sql) {
  auto stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  int rc = sqlite3_step(*stmt);
  sqlite3_reset(*stmt);
  if (rc != SQLITE_DONE)
    return Status::Error(fmt::format("database {}: {}", path_, sqlite3_errmsg(db_)));
  return Status::Ok();
}

Status SqliteStore::Migrate() {
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db_, "PRAGMA user_version", -1, &s, nullptr);
  if (sqlite3_step(s) == SQLITE_ROW) schema_version_ = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);

  std::vector<EmbeddedFile> migrations = Migrations();
  if (schema_version_ > static_cast<int>(migrations.size())) {
    return Status::Error(fmt::format(
        "database {} has schema version {} but this jenky knows only {}: it was written by a "
        "newer jenky; run that version, or restore jenky.prev",
        path_, schema_version_, migrations.size()));
  }
  for (size_t i = schema_version_; i < migrations.size(); ++i) {
    int version = static_cast<int>(i) + 1;
    std::string sql = fmt::format("BEGIN IMMEDIATE;\n{}\nPRAGMA user_version = {};\nCOMMIT;",
                                  migrations[i].data, version);
    if (Status st = Exec(sql); !st.ok()) {
      Step("ROLLBACK");
      return Status::Error(
          fmt::format("migration {} ({}) failed: {}", version, migrations[i].name, st.message()));
    }
    schema_version_ = version;
  }
  return Status::Ok();
}

Result<sqlite3_stmt*> SqliteStore::Prepare(const char* sql) {
  // Statements are cached by their SQL text; there are only a handful.
  for (sqlite3_stmt* s : statements_) {
    if (sqlite3_sql(s) && std::string_view(sqlite3_sql(s)) == sql) return s;
  }
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
    return Status::Error(fmt::format("database {}: {}", path_, sqlite3_errmsg(db_)));
  }
  statements_.push_back(s);
  return s;
}

Result<std::vector<Run>> SqliteStore::Query(sqlite3_stmt* s) {
  std::vector<Run> out;
  for (;;) {
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      out.push_back(ReadRun(s));
    } else if (rc == SQLITE_DONE) {
      return out;
    } else {
      return Status::Error(fmt::format("database {}: {}", path_, sqlite3_errmsg(db_)));
    }
  }
}

Status SqliteStore::InsertRun(const Run& run) { return InsertRuns({run}); }

Status SqliteStore::InsertRuns(const std::vector<Run>& runs) {
  static const std::string sql = fmt::format(
      "INSERT INTO runs ({}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,"
      "?18,?19,?20,?21,?22,?23,?24,?25)",
      kRunColumns);
  auto stmt = Prepare(sql.c_str());
  if (!stmt.ok()) return stmt.status();
  if (runs.size() > 1) {
    if (Status st = Step("BEGIN"); !st.ok()) return st;
  }
  for (const Run& r : runs) {
    StmtReset reset{*stmt};
    BindRun(*stmt, r);
    if (sqlite3_step(*stmt) != SQLITE_DONE) {
      Status err =
          Status::Error(fmt::format("insert run {} into {}: {}", r.id, path_, sqlite3_errmsg(db_)));
      if (runs.size() > 1) Step("ROLLBACK");
      return err;
    }
  }
  if (runs.size() > 1) return Step("COMMIT");
  return Status::Ok();
}

Status SqliteStore::UpdateRun(const Run& r) {
  auto stmt = Prepare(
      "UPDATE runs SET status=?3, started_at=?12, finished_at=?13, exit_code=?14, reason=?15, "
      "log_bytes=?16, recipe=?17, script_sha256=?18, log_pruned=?19, resources=?22 WHERE id=?1");
  if (!stmt.ok()) return stmt.status();
  StmtReset reset{*stmt};
  BindRun(*stmt, r);
  if (sqlite3_step(*stmt) != SQLITE_DONE) {
    return Status::Error(fmt::format("update run {} in {}: {}", r.id, path_, sqlite3_errmsg(db_)));
  }
  return Status::Ok();
}

Status SqliteStore::SaveRun(const Run& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO runs ({}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,"
      "?18,?19,?20,?21,?22,?23,?24,?25) ON CONFLICT(id) DO UPDATE SET status=?3, started_at=?12, "
      "finished_at=?13, exit_code=?14, reason=?15, log_bytes=?16, recipe=?17, script_sha256=?18, "
      "log_pruned=?19, resources=?22",
      kRunColumns);
  auto stmt = Prepare(sql.c_str());
  if (!stmt.ok()) return stmt.status();
  StmtReset reset{*stmt};
  BindRun(*stmt, r);
  if (sqlite3_step(*stmt) != SQLITE_DONE) {
    return Status::Error(fmt::format("save run {} in {}: {}", r.id, path_, sqlite3_errmsg(db_)));
  }
  return Status::Ok();
}

Result<std::optional<Run>> SqliteStore::GetRun(int64_t id) {
  static const std::string sql = fmt::format("SELECT {} FROM runs WHERE id=?1", kRunColumns);
  auto stmt = Prepare(sql.c_str());
  if (!stmt.ok()) return stmt.status();
  StmtReset reset{*stmt};
  sqlite3_bind_int64(*stmt, 1, id);
  auto rows = Query(*stmt);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<Run>();
  return std::optional<Run>(std::move(rows->front()));
}

Result<std::vector<Run>> SqliteStore::ListRuns(const std::string& project, int limit,
                                               int64_t before) {
  static const std::string by_project = fmt::format(
      "SELECT {} FROM runs WHERE project=?1 AND id<?2 ORDER BY id DESC LIMIT ?3", kRunColumns);
  static const std::string all =
      fmt::format("SELECT {} FROM runs WHERE id<?2 ORDER BY id DESC LIMIT ?3", kRunColumns);
  auto stmt = Prepare(project.empty() ? all.c_str() : by_project.c_str());
  if (!stmt.ok()) return stmt.status();
  StmtReset reset{*stmt};
  if (!project.empty()) BindText(*stmt, 1, project);
  sqlite3_bind_int64(*stmt, 2, before > 0 ? before : INT64_MAX);
  sqlite3_bind_int(*stmt, 3, limit);
  return Query(*stmt);
}

Result<std::optional<Run>> SqliteStore::LastRun(const std::string& project) {
  auto rows = ListRuns(project, 1, 0);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<Run>();
  return std::optional<Run>(std::move(rows->front()));
}

Result<std::vector<Run>> SqliteStore::UnfinishedRuns() {
  static const std::string sql = fmt::format(
      "SELECT {} FROM runs WHERE status IN ('queued', 'running') ORDER BY id", kRunColumns);
  auto stmt = Prepare(sql.c_str());
  if (!stmt.ok()) return stmt.status();
  StmtReset reset{*stmt};
  return Query(*stmt);
}

Result<int64_t> SqliteStore::MaxRunId() {
  auto stmt = Prepare("SELECT COALESCE(MAX(id), 0) FROM runs");
  if (!stmt.ok()) return stmt.status();
  StmtReset reset{*stmt};
  if (sqlite3_step(*stmt) != SQLITE_ROW) {
    return Status::Error(fmt::format("database {}: {}", path_, sqlite3_errmsg(db_)));
  }
  return static_cast<int64_t>(sqlite3_column_int64(*stmt, 0));
}

Result<std::vector<int64_t>> SqliteStore::RunsToPrune(const std::string& project, int keep) {
  auto stmt = Prepare(
      "SELECT id FROM runs WHERE project=?1 AND log_pruned=0 AND status NOT IN "
      "('queued','running') AND id < (SELECT COALESCE(MIN(id), 0) FROM (SELECT id FROM runs "
      "WHERE project=?1 ORDER BY id DESC LIMIT ?2)) ORDER BY id LIMIT 1000");
  if (!stmt.ok()) return stmt.status();
  StmtReset reset{*stmt};
  BindText(*stmt, 1, project);
  sqlite3_bind_int(*stmt, 2, keep);
  std::vector<int64_t> ids;
  for (;;) {
    int rc = sqlite3_step(*stmt);
    if (rc == SQLITE_ROW) ids.push_back(sqlite3_column_int64(*stmt, 0));
    else if (rc == SQLITE_DONE) return ids;
    else return Status::Error(fmt::format("database {}: {}", path_, sqlite3_errmsg(db_)));
  }
}

Status SqliteStore::MarkPruned(int64_t id) {
  auto stmt = Prepare("UPDATE runs SET log_pruned=1 WHERE id=?1");
  if (!stmt.ok()) return stmt.status();
  StmtReset reset{*stmt};
  sqlite3_bind_int64(*stmt, 1, id);
  if (sqlite3_step(*stmt) != SQLITE_DONE) {
    return Status::Error(fmt::format("database {}: {}", path_, sqlite3_errmsg(db_)));
  }
  return Status::Ok();
}

Result<std::optional<Run>> SqliteStore::FindRunByDelivery(const std::string& project,
                                                          const std::string& delivery) {
  static const std::string sql = fmt::format(
      "SELECT {} FROM runs WHERE project=?1 AND delivery=?2 AND delivery != '' ORDER BY id DESC "
      "LIMIT 1",
      kRunColumns);
  auto stmt = Prepare(sql.c_str());
  if (!stmt.ok()) return stmt.status();
  StmtReset reset{*stmt};
  BindText(*stmt, 1, project);
  BindText(*stmt, 2, delivery);
  auto rows = Query(*stmt);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<Run>();
  return std::optional<Run>(std::move(rows->front()));
}

Status SqliteStore::SaveDeliveries(const std::vector<Delivery>& deliveries) {
  if (deliveries.empty()) return Status::Ok();
  auto put = Prepare(
      "INSERT OR REPLACE INTO deliveries (id, project, received_at, provider, event, delivery, "
      "result, status, reason, run_id, remote, count, last_at, relevant) "
      "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)");
  if (!put.ok()) return put.status();
  // As DeliveryLog keeps them: the newest ?2 relevant records, and as many
  // of the newest noise records as leaves room for.
  auto prune = Prepare(
      "DELETE FROM deliveries WHERE project=?1 AND ("
      "(relevant=1 AND id NOT IN (SELECT id FROM deliveries WHERE project=?1 AND relevant=1 "
      "ORDER BY id DESC LIMIT ?2)) OR "
      "(relevant=0 AND id NOT IN (SELECT id FROM deliveries WHERE project=?1 AND relevant=0 "
      "ORDER BY id DESC LIMIT MAX(0, ?2 - (SELECT COUNT(*) FROM deliveries WHERE project=?1 "
      "AND relevant=1)))))");
  if (!prune.ok()) return prune.status();
  if (Status st = Step("BEGIN"); !st.ok()) return st;
  std::vector<const std::string*> projects;
  for (const Delivery& d : deliveries) {
    StmtReset reset{*put};
    sqlite3_bind_int64(*put, 1, d.id);
    BindText(*put, 2, d.project);
    sqlite3_bind_int64(*put, 3, d.received_at);
    BindText(*put, 4, d.provider);
    BindText(*put, 5, d.event);
    BindText(*put, 6, d.delivery);
    BindText(*put, 7, d.result);
    sqlite3_bind_int(*put, 8, d.status);
    BindText(*put, 9, d.reason);
    if (d.run_id > 0) sqlite3_bind_int64(*put, 10, d.run_id);
    else sqlite3_bind_null(*put, 10);
    BindText(*put, 11, d.remote);
    sqlite3_bind_int64(*put, 12, d.count);
    sqlite3_bind_int64(*put, 13, d.last_at);
    sqlite3_bind_int(*put, 14, d.relevant ? 1 : 0);
    if (sqlite3_step(*put) != SQLITE_DONE) {
      Status err =
          Status::Error(fmt::format("record delivery in {}: {}", path_, sqlite3_errmsg(db_)));
      Step("ROLLBACK");
      return err;
    }
    if (std::find_if(projects.begin(), projects.end(),
                     [&](const std::string* p) { return *p == d.project; }) == projects.end()) {
      projects.push_back(&d.project);
    }
  }
  for (const std::string* project : projects) {
    StmtReset reset{*prune};
    BindText(*prune, 1, *project);
    sqlite3_bind_int(*prune, 2, kDeliveriesKept);
    sqlite3_step(*prune);
  }
  return Step("COMMIT");
}

Result<int64_t> SqliteStore::MaxDeliveryId() {
  auto stmt = Prepare("SELECT COALESCE(MAX(id), 0) FROM deliveries");
  if (!stmt.ok()) return stmt.status();
  StmtReset reset{*stmt};
  if (sqlite3_step(*stmt) != SQLITE_ROW) {
    return Status::Error(fmt::format("database {}: {}", path_, sqlite3_errmsg(db_)));
  }
  return static_cast<int64_t>(sqlite3_column_int64(*stmt, 0));
}

Result<std::vector<Delivery>> SqliteStore::ListDeliveries(const std::string& project, int limit) {
  auto stmt = Prepare(
      "SELECT id, project, received_at, provider, event, delivery, result, status, reason, "
      "COALESCE(run_id, 0), remote, count, last_at, relevant FROM deliveries WHERE project=?1 "
      "ORDER BY id DESC LIMIT ?2");
  if (!stmt.ok()) return stmt.status();
  StmtReset reset{*stmt};
  BindText(*stmt, 1, project);
  sqlite3_bind_int(*stmt, 2, limit);
  std::vector<Delivery> out;
  for (;;) {
    int rc = sqlite3_step(*stmt);
    if (rc == SQLITE_DONE) return out;
    if (rc != SQLITE_ROW) {
      return Status::Error(fmt::format("database {}: {}", path_, sqlite3_errmsg(db_)));
    }
    Delivery d;
    d.id = sqlite3_column_int64(*stmt, 0);
    d.project = Text(*stmt, 1);
    d.received_at = sqlite3_column_int64(*stmt, 2);
    d.provider = Text(*stmt, 3);
    d.event = Text(*stmt, 4);
    d.delivery = Text(*stmt, 5);
    d.result = Text(*stmt, 6);
    d.status = sqlite3_column_int(*stmt, 7);
    d.reason = Text(*stmt, 8);
    d.run_id = sqlite3_column_int64(*stmt, 9);
    d.remote = Text(*stmt, 10);
    d.count = sqlite3_column_int64(*stmt, 11);
    d.last_at = sqlite3_column_int64(*stmt, 12);
    d.relevant = sqlite3_column_int(*stmt, 13) != 0;
    out.push_back(std::move(d));
  }
}

}  // namespace jenky
