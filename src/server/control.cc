#include "server/control.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "util/logger.h"

namespace jenky {
namespace {

constexpr int64_t kPruneEveryMs = 3600 * 1000;
constexpr size_t kMaxPendingAudit = 10000;

}  // namespace

std::string PausedMessage(const ProjectPause& p) {
  return fmt::format("project '{}' is paused (by {}{}); resume it to deploy (jenky resume {})",
                     p.project, p.paused_by, p.reason.empty() ? "" : ": " + p.reason, p.project);
}

Control::Control(Store& store, std::function<int64_t()> clock)
    : store_(store), clock_(std::move(clock)) {}

void Control::Load() {
  if (loaded_) return;
  loaded_ = true;
  auto pauses = store_.ListPauses();
  if (!pauses.ok()) {
    LogWarning("cannot read paused projects: {}", pauses.status().message());
    loaded_ = false;  // try again at the next look
    return;
  }
  for (ProjectPause& p : *pauses) pauses_[p.project] = std::move(p);
}

const ProjectPause* Control::PauseOf(const std::string& project) {
  Load();
  auto it = pauses_.find(project);
  return it == pauses_.end() ? nullptr : &it->second;
}

Result<ProjectPause> Control::Pause(const std::string& project, const std::string& actor,
                                    const std::string& reason, const std::string& address) {
  Load();
  ProjectPause p{project, actor, reason, clock_(), address};
  if (Status s = store_.SavePause(p); !s.ok()) return s;
  pauses_[project] = p;
  Audit({0, p.paused_at, actor, "pause", project, 0, address, reason});
  return p;
}

Status Control::Resume(const std::string& project, const std::string& actor,
                       const std::string& address) {
  Load();
  if (!pauses_.count(project)) {
    return Status::Error(fmt::format("project '{}' is not paused", project), StatusCode::kConflict);
  }
  if (Status s = store_.DeletePause(project); !s.ok()) return s;
  pauses_.erase(project);
  Audit({0, clock_(), actor, "resume", project, 0, address, ""});
  return Status::Ok();
}

void Control::FlushAudit() {
  size_t written = 0;
  for (; written < pending_.size(); ++written) {
    if (!store_.AppendAudit(pending_[written]).ok()) break;
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(written));
}

void Control::Audit(AuditEntry e) {
  if (e.time == 0) e.time = clock_();
  bool was_empty = pending_.empty();
  if (pending_.size() >= kMaxPendingAudit) pending_.erase(pending_.begin());
  pending_.push_back(std::move(e));
  FlushAudit();
  if (was_empty && !pending_.empty()) {
    LogWarning("audit log: the database refused an entry; it is kept in memory and written later");
  }
  PruneAudit();
}

Result<std::vector<AuditEntry>> Control::ListAudit(int limit, int64_t before_id,
                                                   const std::string& project) {
  FlushAudit();
  auto stored = store_.ListAudit(limit, before_id, project);
  if (!stored.ok()) return stored;
  // Entries still waiting for the database are the newest; they have no id.
  std::vector<AuditEntry> out;
  if (before_id == 0) {
    for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
      if (project.empty() || it->project == project) out.push_back(*it);
    }
  }
  for (AuditEntry& e : *stored) out.push_back(std::move(e));
  if (static_cast<int>(out.size()) > limit) out.resize(static_cast<size_t>(limit));
  return out;
}

void Control::PruneAudit() {
  int64_t now = clock_();
  if (retention_ms_ <= 0 || now - pruned_at_ < kPruneEveryMs) return;
  pruned_at_ = now;
  if (Status s = store_.PruneAudit(now - retention_ms_); !s.ok()) {
    LogWarning("audit log: cannot delete old entries: {}", s.message());
  }
}

}  // namespace jenky
