// Paused projects and the audit log in SQLite (migration 008): the parts of
// the Store that are not runs or deliveries. Loop-thread only, like the rest
// of SqliteStore.
#include <sqlite3.h>

#include <fmt/format.h>

#include "store/store.h"

namespace jenky {
namespace {

Status NotKept(const char* what) {
  return Status::Error(fmt::format("this store does not keep {}", what));
}

std::string Column(sqlite3_stmt* s, int col) {
  const unsigned char* t = sqlite3_column_text(s, col);
  return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s, col)) : "";
}

void Bind(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

struct Reset {
  sqlite3_stmt* s;
  ~Reset() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

}  // namespace

Status Store::SavePause(const ProjectPause&) { return NotKept("paused projects"); }
Status Store::DeletePause(const std::string&) { return NotKept("paused projects"); }
Result<std::vector<ProjectPause>> Store::ListPauses() { return std::vector<ProjectPause>{}; }
Status Store::AppendAudit(const AuditEntry&) { return NotKept("an audit log"); }
Result<std::vector<AuditEntry>> Store::ListAudit(int, int64_t, const std::string&) {
  return std::vector<AuditEntry>{};
}
Status Store::PruneAudit(int64_t) { return Status::Ok(); }

Status SqliteStore::SavePause(const ProjectPause& p) {
  auto stmt = Prepare(
      "INSERT OR REPLACE INTO project_pauses (project, paused_by, reason, paused_at, address) "
      "VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!stmt.ok()) return stmt.status();
  Reset reset{*stmt};
  Bind(*stmt, 1, p.project);
  Bind(*stmt, 2, p.paused_by);
  Bind(*stmt, 3, p.reason);
  sqlite3_bind_int64(*stmt, 4, p.paused_at);
  Bind(*stmt, 5, p.address);
  if (sqlite3_step(*stmt) != SQLITE_DONE) {
    return Status::Error(fmt::format("pause {} in {}: {}", p.project, path_, sqlite3_errmsg(db_)));
  }
  return Status::Ok();
}

Status SqliteStore::DeletePause(const std::string& project) {
  auto stmt = Prepare("DELETE FROM project_pauses WHERE project = ?1");
  if (!stmt.ok()) return stmt.status();
  Reset reset{*stmt};
  Bind(*stmt, 1, project);
  if (sqlite3_step(*stmt) != SQLITE_DONE) {
    return Status::Error(fmt::format("resume {} in {}: {}", project, path_, sqlite3_errmsg(db_)));
  }
  return Status::Ok();
}

Result<std::vector<ProjectPause>> SqliteStore::ListPauses() {
  auto stmt = Prepare(
      "SELECT project, paused_by, reason, paused_at, address FROM project_pauses ORDER BY "
      "project");
  if (!stmt.ok()) return stmt.status();
  Reset reset{*stmt};
  std::vector<ProjectPause> out;
  for (int rc; (rc = sqlite3_step(*stmt)) != SQLITE_DONE;) {
    if (rc != SQLITE_ROW)
      return Status::Error(fmt::format("database {}: {}", path_, sqlite3_errmsg(db_)));
    out.push_back({Column(*stmt, 0), Column(*stmt, 1), Column(*stmt, 2),
                   sqlite3_column_int64(*stmt, 3), Column(*stmt, 4)});
  }
  return out;
}

Status SqliteStore::AppendAudit(const AuditEntry& e) {
  auto stmt = Prepare(
      "INSERT INTO audit (time, actor, action, project, run, address, detail) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!stmt.ok()) return stmt.status();
  Reset reset{*stmt};
  sqlite3_bind_int64(*stmt, 1, e.time);
  Bind(*stmt, 2, e.actor);
  Bind(*stmt, 3, e.action);
  Bind(*stmt, 4, e.project);
  sqlite3_bind_int64(*stmt, 5, e.run);
  Bind(*stmt, 6, e.address);
  Bind(*stmt, 7, e.detail);
  if (sqlite3_step(*stmt) != SQLITE_DONE) {
    return Status::Error(fmt::format("audit {} in {}: {}", e.action, path_, sqlite3_errmsg(db_)));
  }
  return Status::Ok();
}

Result<std::vector<AuditEntry>> SqliteStore::ListAudit(int limit, int64_t before_id,
                                                       const std::string& project) {
  auto stmt = Prepare(
      "SELECT id, time, actor, action, project, run, address, detail FROM audit "
      "WHERE (?1 = 0 OR id < ?1) AND (?2 = '' OR project = ?2) ORDER BY id DESC LIMIT ?3");
  if (!stmt.ok()) return stmt.status();
  Reset reset{*stmt};
  sqlite3_bind_int64(*stmt, 1, before_id);
  Bind(*stmt, 2, project);
  sqlite3_bind_int(*stmt, 3, limit);
  std::vector<AuditEntry> out;
  for (int rc; (rc = sqlite3_step(*stmt)) != SQLITE_DONE;) {
    if (rc != SQLITE_ROW)
      return Status::Error(fmt::format("database {}: {}", path_, sqlite3_errmsg(db_)));
    AuditEntry e;
    e.id = sqlite3_column_int64(*stmt, 0);
    e.time = sqlite3_column_int64(*stmt, 1);
    e.actor = Column(*stmt, 2);
    e.action = Column(*stmt, 3);
    e.project = Column(*stmt, 4);
    e.run = sqlite3_column_int64(*stmt, 5);
    e.address = Column(*stmt, 6);
    e.detail = Column(*stmt, 7);
    out.push_back(std::move(e));
  }
  return out;
}

Status SqliteStore::PruneAudit(int64_t older_than) {
  auto stmt = Prepare("DELETE FROM audit WHERE time < ?1");
  if (!stmt.ok()) return stmt.status();
  Reset reset{*stmt};
  sqlite3_bind_int64(*stmt, 1, older_than);
  if (sqlite3_step(*stmt) != SQLITE_DONE) {
    return Status::Error(fmt::format("prune the audit log in {}: {}", path_, sqlite3_errmsg(db_)));
  }
  return Status::Ok();
}

}  // namespace jenky
