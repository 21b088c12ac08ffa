// The operator's controls that are not runs: paused projects and the audit
// log (issue 21; docs/spec-extensions.md "Pause and audit").
//
// A paused project deploys nothing: Engine::Trigger refuses it (StatusCode
// kPaused, 409 `paused`) whoever asks, the API, the CLI, a webhook, a
// rollback. Pauses survive restarts (SQLite, migration 008) and are held in
// memory, so the check costs a map lookup.
//
// The audit log is append-only: every state change (trigger, cancel,
// rollback, pause, resume, sign-in, sign-out, config reload, upgrade) is one
// entry with who, when and from where. An entry the database refuses (locked,
// full) is kept in memory, listed as if written, and written before the next
// one; entries older than `[server] audit_retention` are deleted once an hour.
//
// Ownership and threads: the Engine owns one (Engine::control()); loop thread
// only, like the store it writes to.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"
#include "util/status.h"

namespace jenky {

// "project 'app' is paused (by token:laptop: db migration); resume it to deploy".
std::string PausedMessage(const ProjectPause& pause);

class Control {
 public:
  // STORE must outlive it; CLOCK gives unix ms.
  Control(Store& store, std::function<int64_t()> clock);

  // The pause of PROJECT, if it is paused.
  const ProjectPause* PauseOf(const std::string& project);
  // Pauses PROJECT (again: a new reason replaces the old) and audits it.
  Result<ProjectPause> Pause(const std::string& project, const std::string& actor,
                             const std::string& reason, const std::string& address);
  // Resumes PROJECT and audits it; conflict if it was not paused.
  Status Resume(const std::string& project, const std::string& actor, const std::string& address);

  // Appends E (its time is now when 0).
  void Audit(AuditEntry e);
  // Newest first, entries not yet written included.
  Result<std::vector<AuditEntry>> ListAudit(int limit, int64_t before_id,
                                            const std::string& project);
  // Entries older than RETENTION_MS are deleted ([server] audit_retention;
  // 0 = kept forever), checked at most once an hour, when an entry is added.
  void set_retention_ms(int64_t retention_ms) { retention_ms_ = retention_ms; }
  void PruneAudit();

 private:
  void Load();
  void FlushAudit();

  Store& store_;
  std::function<int64_t()> clock_;
  bool loaded_ = false;
  std::map<std::string, ProjectPause> pauses_;
  std::vector<AuditEntry> pending_;  // refused by the store, written before the next
  int64_t pruned_at_ = 0;
  int64_t retention_ms_ = 0;
};

}  // namespace jenky
