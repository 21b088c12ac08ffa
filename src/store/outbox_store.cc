// SqliteStore's outbox (store.h; the table is migration 006_outbox.sql).
#include <sqlite3.h>

#include <fmt/format.h>

#include "store/store.h"

namespace jenky {
namespace {

constexpr const char* kMessageColumns =
    "id, run_id, project, receiver, kind, event, url, body, state, attempts, created_at, "
    "next_attempt_at, finished_at, http_status, error";

std::string Column(sqlite3_stmt* s, int col) {
  const unsigned char* t = sqlite3_column_text(s, col);
  return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s, col)) : "";
}

void Bind(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

// Binds M in kMessageColumns order from parameter 1.
void BindMessage(sqlite3_stmt* s, const OutboxMessage& m) {
  sqlite3_bind_int64(s, 1, m.id);
  sqlite3_bind_int64(s, 2, m.run_id);
  Bind(s, 3, m.project);
  Bind(s, 4, m.receiver);
  Bind(s, 5, m.kind);
  Bind(s, 6, m.event);
  Bind(s, 7, m.url);
  Bind(s, 8, m.body);
  sqlite3_bind_text(s, 9, MessageStateName(m.state), -1, SQLITE_STATIC);
  sqlite3_bind_int(s, 10, m.attempts);
  sqlite3_bind_int64(s, 11, m.created_at);
  sqlite3_bind_int64(s, 12, m.next_attempt_at);
  sqlite3_bind_int64(s, 13, m.finished_at);
  sqlite3_bind_int(s, 14, m.last_http_status);
  Bind(s, 15, m.last_error);
}

OutboxMessage ReadMessage(sqlite3_stmt* s) {
  OutboxMessage m;
  m.id = sqlite3_column_int64(s, 0);
  m.run_id = sqlite3_column_int64(s, 1);
  m.project = Column(s, 2);
  m.receiver = Column(s, 3);
  m.kind = Column(s, 4);
  m.event = Column(s, 5);
  m.url = Column(s, 6);
  m.body = Column(s, 7);
  m.state = ParseMessageState(Column(s, 8)).value_or(MessageState::kPending);
  m.attempts = sqlite3_column_int(s, 9);
  m.created_at = sqlite3_column_int64(s, 10);
  m.next_attempt_at = sqlite3_column_int64(s, 11);
  m.finished_at = sqlite3_column_int64(s, 12);
  m.last_http_status = sqlite3_column_int(s, 13);
  m.last_error = Column(s, 14);
  return m;
}

struct Reset {
  sqlite3_stmt* s;
  ~Reset() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

}  // namespace

Status SqliteStore::SaveRunAndMessages(const Run& run, const std::vector<OutboxMessage>& messages) {
  if (messages.empty()) return SaveRun(run);
  static const std::string sql = fmt::format(
      "INSERT INTO outbox ({}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,"
      "?14,?15)",
      kMessageColumns);
  auto put = Prepare(sql.c_str());
  if (!put.ok()) return put.status();
  if (Status st = Step("BEGIN IMMEDIATE"); !st.ok()) return st;
  Status st = SaveRun(run);
  for (const OutboxMessage& m : messages) {
    if (!st.ok()) break;
    Reset reset{*put};
    BindMessage(*put, m);
    if (sqlite3_step(*put) != SQLITE_DONE) {
      st = Status::Error(fmt::format("save message {} of run {} in {}: {}", m.id, run.id, path_,
                                     sqlite3_errmsg(db_)));
    }
  }
  if (st.ok()) st = Step("COMMIT");
  if (!st.ok()) Step("ROLLBACK");
  return st;
}

Status SqliteStore::UpdateMessage(const OutboxMessage& m) {
  auto stmt = Prepare(
      "UPDATE outbox SET url=?7, state=?9, attempts=?10, next_attempt_at=?12, finished_at=?13, "
      "http_status=?14, error=?15 WHERE id=?1");
  if (!stmt.ok()) return stmt.status();
  Reset reset{*stmt};
  BindMessage(*stmt, m);
  if (sqlite3_step(*stmt) != SQLITE_DONE) {
    return Status::Error(
        fmt::format("update message {} in {}: {}", m.id, path_, sqlite3_errmsg(db_)));
  }
  return Status::Ok();
}

Result<std::vector<OutboxMessage>> SqliteStore::QueryMessages(sqlite3_stmt* s) {
  std::vector<OutboxMessage> out;
  for (;;) {
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) return out;
    if (rc != SQLITE_ROW) {
      return Status::Error(fmt::format("database {}: {}", path_, sqlite3_errmsg(db_)));
    }
    out.push_back(ReadMessage(s));
  }
}

Result<std::vector<OutboxMessage>> SqliteStore::PendingMessages() {
  static const std::string sql =
      fmt::format("SELECT {} FROM outbox WHERE state='pending' ORDER BY id", kMessageColumns);
  auto stmt = Prepare(sql.c_str());
  if (!stmt.ok()) return stmt.status();
  Reset reset{*stmt};
  return QueryMessages(*stmt);
}

Result<std::vector<OutboxMessage>> SqliteStore::ListMessages(const std::string& project,
                                                             int64_t run_id, int limit) {
  static const std::string by_run = fmt::format(
      "SELECT {} FROM outbox WHERE run_id=?1 ORDER BY id DESC LIMIT ?3", kMessageColumns);
  static const std::string by_project = fmt::format(
      "SELECT {} FROM outbox WHERE project=?2 ORDER BY id DESC LIMIT ?3", kMessageColumns);
  auto stmt = Prepare(run_id > 0 ? by_run.c_str() : by_project.c_str());
  if (!stmt.ok()) return stmt.status();
  Reset reset{*stmt};
  sqlite3_bind_int64(*stmt, 1, run_id);
  Bind(*stmt, 2, project);
  sqlite3_bind_int(*stmt, 3, limit);
  return QueryMessages(*stmt);
}

Result<int64_t> SqliteStore::PruneMessages(int64_t finished_before) {
  auto stmt = Prepare("DELETE FROM outbox WHERE state != 'pending' AND finished_at < ?1");
  if (!stmt.ok()) return stmt.status();
  Reset reset{*stmt};
  sqlite3_bind_int64(*stmt, 1, finished_before);
  if (sqlite3_step(*stmt) != SQLITE_DONE) {
    return Status::Error(fmt::format("delete old messages in {}: {}", path_, sqlite3_errmsg(db_)));
  }
  return static_cast<int64_t>(sqlite3_changes(db_));
}

Result<int64_t> SqliteStore::MaxMessageId() {
  auto stmt = Prepare("SELECT COALESCE(MAX(id), 0) FROM outbox");
  if (!stmt.ok()) return stmt.status();
  Reset reset{*stmt};
  if (sqlite3_step(*stmt) != SQLITE_ROW) {
    return Status::Error(fmt::format("database {}: {}", path_, sqlite3_errmsg(db_)));
  }
  return static_cast<int64_t>(sqlite3_column_int64(*stmt, 0));
}

}  // namespace jenky
