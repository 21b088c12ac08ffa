#include "server/journal.h"

#include <algorithm>
#include <set>

#include "util/logger.h"

namespace jenky {

Journal::Journal(net::io_context& io, Store& store)
    : io_(io), store_(store), behind_(io), deliveries_(store), deliveries_flush_(io) {}

Journal::~Journal() {
  FlushDeliveries();  // what requests answered during the drain recorded
}

void Journal::Shutdown() {
  shutting_down_ = true;
  if (save_retry_) save_retry_->cancel();
  behind_.cancel();
  // A last try for rows behind or refused; what is still refused is
  // rebuilt from the run directories at the next start.
  if (!unsaved_.empty()) SaveUnsaved();
  deliveries_flush_.cancel();
  FlushDeliveries();
}

void Journal::Persist(const Run& run, const MakeMessages& make) {
  MakeBehindMessages();  // older than this state's
  std::vector<OutboxMessage> messages;
  if (make) messages = make();
  if (unsaved_.empty()) {
    Status s = store_.SaveRunAndMessages(run, messages);
    if (s.ok()) {
      if (!messages.empty() && on_saved_) on_saved_(messages);
      return;
    }
    Keep(run, std::move(messages));
    return Refused(run, s);
  }
  // After the rows waiting (the store sees a run's states in order).
  Keep(run, std::move(messages));
  if (!refused_) SaveUnsaved();  // else the retry writes it
}

void Journal::PersistBehind(const Run& run, MakeMessages make) {
  MakeBehindMessages();  // an earlier state's, if any, are older
  Keep(run, {});
  unsaved_[run.id].make = std::move(make);
  if (refused_) return;  // the retry writes it
  if (shutting_down_) return SaveUnsaved();
  ArmBehind();
}

void Journal::ArmBehind() {
  if (behind_armed_) return;
  behind_armed_ = true;
  behind_.expires_after(kBehindAt);
  behind_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // cancelled: whoever cancelled it wrote the rows
    behind_armed_ = false;
    if (!refused_) SaveUnsaved();
  });
}

void Journal::MakeBehindMessages() {
  for (auto& [id, u] : unsaved_) {
    if (!u.make) continue;
    for (OutboxMessage& m : u.make()) u.messages.push_back(std::move(m));
    u.make = nullptr;
  }
}

void Journal::WriteBehind() {
  if (!behind()) return;
  SaveUnsaved();
}

void Journal::Keep(const Run& run, std::vector<OutboxMessage> messages) {
  Unsaved& u = unsaved_[run.id];
  u.run = run;
  for (OutboxMessage& m : messages) u.messages.push_back(std::move(m));
}

void Journal::Refused(const Run& run, const Status& why) {
  refused_ = true;
  if (shutting_down_) {
    return LogError("{}{}; the next start rebuilds it from the run directory",
                    RunTag(run.id, run.project), why.message());
  }
  LogError("{}{}; keeping it in memory and retrying every second", RunTag(run.id, run.project),
           why.message());
  ScheduleRetry();
}

void Journal::ScheduleRetry() {
  if (shutting_down_) return;
  if (!save_retry_) save_retry_ = std::make_unique<net::steady_timer>(io_);
  save_retry_->expires_after(std::chrono::seconds(1));
  save_retry_->async_wait([this](boost::system::error_code ec) {
    if (!ec) SaveUnsaved();
  });
}

void Journal::SaveUnsaved() {
  if (behind_armed_) {
    behind_armed_ = false;
    behind_.cancel();
  }
  MakeBehindMessages();
  size_t saved = 0;
  while (!unsaved_.empty()) {
    auto it = unsaved_.begin();
    if (Status s = store_.SaveRunAndMessages(it->second.run, it->second.messages); !s.ok()) {
      if (refused_) return ScheduleRetry();  // logged at the first refusal
      return Refused(it->second.run, s);
    }
    std::vector<OutboxMessage> messages = std::move(it->second.messages);
    unsaved_.erase(it);
    if (!messages.empty() && on_saved_) on_saved_(messages);
    ++saved;
  }
  if (refused_) {
    refused_ = false;
    LogInfo("the database takes writes again: saved {} run(s) kept in memory", saved);
  }
}

Result<std::optional<Run>> Journal::GetRun(int64_t id) {
  if (auto u = unsaved_.find(id); u != unsaved_.end()) return std::optional<Run>(u->second.run);
  return store_.GetRun(id);
}

Result<std::vector<Run>> Journal::ListRuns(const std::string& project, int limit, int64_t before) {
  auto runs = store_.ListRuns(project, limit, before);
  if (!runs.ok()) return runs;
  // Runs whose row is not written yet, or is stale, come from memory.
  std::set<int64_t> listed;
  for (const Run& r : *runs) listed.insert(r.id);
  for (const auto& [id, u] : unsaved_) {
    const Run& run = u.run;
    if (!listed.count(id) && (project.empty() || run.project == project) &&
        (before == 0 || id < before)) {
      runs->push_back(run);
    }
  }
  if (runs->size() != listed.size()) {
    std::sort(runs->begin(), runs->end(), [](const Run& a, const Run& b) { return a.id > b.id; });
    if (runs->size() > static_cast<size_t>(limit)) runs->resize(limit);
  }
  for (Run& r : *runs) {
    if (auto u = unsaved_.find(r.id); u != unsaved_.end()) r = u->second.run;
  }
  return runs;
}

Result<std::optional<Run>> Journal::FindRunByDelivery(const std::string& project,
                                                      const std::string& delivery) {
  for (auto it = unsaved_.rbegin(); it != unsaved_.rend(); ++it) {  // the newest (redeliveries)
    const Run& run = it->second.run;
    if (run.project == project && run.trigger.delivery == delivery) return std::optional<Run>(run);
  }
  return store_.FindRunByDelivery(project, delivery);
}

void Journal::RecordDelivery(const Delivery& d) {
  deliveries_.Record(d);
  if (deliveries_flush_armed_ || shutting_down_) return;
  deliveries_flush_armed_ = true;
  deliveries_flush_.expires_after(std::chrono::milliseconds(250));
  deliveries_flush_.async_wait([this](boost::system::error_code ec) {
    deliveries_flush_armed_ = false;
    if (!ec) FlushDeliveries();
  });
}

void Journal::FlushDeliveries() {
  if (Status s = deliveries_.Flush(); !s.ok()) LogError("webhook deliveries: {}", s.message());
}

}  // namespace jenky
