#include "fake_store.h"

#include <algorithm>

namespace jenky {

Status FakeStore::InsertRuns(const std::vector<Run>& in) {
  if (refuse_writes) return Refused();
  for (const Run& r : in) {
    if (runs.count(r.id)) return Status::Error("run " + std::to_string(r.id) + " exists");
  }
  for (const Run& r : in) runs[r.id] = r;
  writes += static_cast<int>(in.size());
  return Status::Ok();
}

Status FakeStore::UpdateRun(const Run& run) {
  if (refuse_writes) return Refused();
  if (!runs.count(run.id)) return Status::Error("no run " + std::to_string(run.id));
  runs[run.id] = run;
  ++writes;
  return Status::Ok();
}

Status FakeStore::SaveRun(const Run& run) {
  if (refuse_writes) return Refused();
  runs[run.id] = run;
  ++writes;
  return Status::Ok();
}

Result<std::optional<Run>> FakeStore::GetRun(int64_t id) {
  auto it = runs.find(id);
  if (it == runs.end()) return std::optional<Run>();
  return std::optional<Run>(it->second);
}

Result<std::vector<Run>> FakeStore::ListRuns(const std::string& project, int limit,
                                             int64_t before) {
  std::vector<Run> out;
  for (auto it = runs.rbegin(); it != runs.rend() && static_cast<int>(out.size()) < limit; ++it) {
    if ((project.empty() || it->second.project == project) && (before == 0 || it->first < before)) {
      out.push_back(it->second);
    }
  }
  return out;
}

Result<std::optional<Run>> FakeStore::LastRun(const std::string& project) {
  auto list = ListRuns(project, 1, 0);
  if (list->empty()) return std::optional<Run>();
  return std::optional<Run>(list->front());
}

Result<std::vector<Run>> FakeStore::UnfinishedRuns() {
  std::vector<Run> out;
  for (const auto& [id, r] : runs) {
    if (!IsFinished(r.status)) out.push_back(r);
  }
  return out;
}

Result<int64_t> FakeStore::MaxRunId() { return runs.empty() ? int64_t{0} : runs.rbegin()->first; }

Result<std::vector<int64_t>> FakeStore::RunsToPrune(const std::string& project, int keep) {
  std::vector<int64_t> newest;
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    if (it->second.project == project) newest.push_back(it->first);
  }
  std::vector<int64_t> out;
  for (size_t i = keep; i < newest.size(); ++i) {
    const Run& r = runs[newest[i]];
    if (!r.log_pruned && IsFinished(r.status)) out.push_back(r.id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status FakeStore::MarkPruned(int64_t id) {
  if (refuse_writes) return Refused();
  runs[id].log_pruned = true;
  return Status::Ok();
}

Result<std::optional<Run>> FakeStore::FindRunByDelivery(const std::string& project,
                                                        const std::string& delivery) {
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    const Run& r = it->second;
    if (r.project == project && r.trigger.delivery == delivery) return std::optional<Run>(r);
  }
  return std::optional<Run>();
}

Status FakeStore::SaveDeliveries(const std::vector<Delivery>& in) {
  if (refuse_writes) return Refused();
  for (const Delivery& d : in) deliveries[d.id] = d;
  return Status::Ok();
}

Result<int64_t> FakeStore::MaxDeliveryId() {
  return deliveries.empty() ? int64_t{0} : deliveries.rbegin()->first;
}

Result<std::vector<Delivery>> FakeStore::ListDeliveries(const std::string& project, int limit) {
  std::vector<Delivery> out;
  for (auto it = deliveries.rbegin();
       it != deliveries.rend() && static_cast<int>(out.size()) < limit; ++it) {
    if (it->second.project == project) out.push_back(it->second);
  }
  return out;
}

Status FakeStore::SaveRunAndMessages(const Run& run, const std::vector<OutboxMessage>& in) {
  if (refuse_writes) return Refused();
  runs[run.id] = run;
  ++writes;
  for (const OutboxMessage& m : in) messages[m.id] = m;
  return Status::Ok();
}

Status FakeStore::UpdateMessage(const OutboxMessage& m) {
  if (refuse_writes) return Refused();
  if (!messages.count(m.id)) return Status::Error("no message " + std::to_string(m.id));
  messages[m.id] = m;
  return Status::Ok();
}

Result<std::vector<OutboxMessage>> FakeStore::PendingMessages() {
  std::vector<OutboxMessage> out;
  for (const auto& [id, m] : messages) {
    if (m.state == MessageState::kPending) out.push_back(m);
  }
  return out;
}

Result<std::vector<OutboxMessage>> FakeStore::ListMessages(const std::string& project,
                                                           int64_t run_id, int limit) {
  std::vector<OutboxMessage> out;
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    const OutboxMessage& m = it->second;
    if (static_cast<int>(out.size()) >= limit) break;
    if (run_id > 0 ? m.run_id == run_id : m.project == project) out.push_back(m);
  }
  return out;
}

Result<int64_t> FakeStore::MaxMessageId() {
  return messages.empty() ? 0 : messages.rbegin()->first;
}

Result<int64_t> FakeStore::PruneMessages(int64_t finished_before) {
  if (refuse_writes) return Refused();
  int64_t n = 0;
  for (auto it = messages.begin(); it != messages.end();) {
    const OutboxMessage& m = it->second;
    bool old = m.state != MessageState::kPending && m.finished_at < finished_before;
    it = old ? (++n, messages.erase(it)) : std::next(it);
  }
  return n;
}

Status FakeStore::SavePause(const ProjectPause& pause) {
  if (refuse_writes) return Refused();
  pauses[pause.project] = pause;
  return Status::Ok();
}

Status FakeStore::DeletePause(const std::string& project) {
  if (refuse_writes) return Refused();
  pauses.erase(project);
  return Status::Ok();
}

Result<std::vector<ProjectPause>> FakeStore::ListPauses() {
  std::vector<ProjectPause> out;
  for (const auto& entry : pauses) out.push_back(entry.second);
  return out;
}

Status FakeStore::AppendAudit(const AuditEntry& e) {
  if (refuse_writes) return Refused();
  audit.push_back(e);
  audit.back().id = static_cast<int64_t>(audit.size());
  return Status::Ok();
}

Result<std::vector<AuditEntry>> FakeStore::ListAudit(int limit, int64_t before_id,
                                                     const std::string& project) {
  std::vector<AuditEntry> out;
  for (auto it = audit.rbegin(); it != audit.rend() && static_cast<int>(out.size()) < limit; ++it) {
    if (before_id && it->id >= before_id) continue;
    if (!project.empty() && it->project != project) continue;
    out.push_back(*it);
  }
  return out;
}

Status FakeStore::PruneAudit(int64_t older_than) {
  if (refuse_writes) return Refused();
  std::erase_if(audit, [older_than](const AuditEntry& e) { return e.time < older_than; });
  return Status::Ok();
}

}  // namespace jenky
