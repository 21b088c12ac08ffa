#include "core/scheduler.h"

#include <algorithm>

#include <fmt/format.h>

namespace jenky {

Result<Decision> Scheduler::Enqueue(const std::string& project, Concurrency policy, int64_t run_id,
                                    int max_queued) {
  Lane& lane = lanes_[project];
  Decision d;
  if (!lane.running && lane.pending.empty()) {
    lane.running = run_id;
    d.start.push_back(run_id);
    return d;
  }
  std::string superseded = fmt::format("superseded by run {}", run_id);
  switch (policy) {
    case Concurrency::kQueue:
      if (static_cast<int>(lane.pending.size()) >= max_queued) {
        return Status::Error(fmt::format(
            "project '{}' already has {} runs waiting (max_queued); wait for them or raise "
            "max_queued",
            project, lane.pending.size()));
      }
      lane.pending.push_back(run_id);
      break;
    case Concurrency::kCoalesce:
      for (int64_t id : lane.pending) d.drop.emplace_back(id, superseded);
      lane.pending.assign(1, run_id);
      break;
    case Concurrency::kCancelPrevious:
      for (int64_t id : lane.pending) d.drop.emplace_back(id, superseded);
      lane.pending.assign(1, run_id);
      if (lane.running) d.cancel.emplace_back(*lane.running, superseded);
      break;
  }
  // Not running but with a queue can only happen transiently; start the head.
  if (!lane.running) {
    lane.running = lane.pending.front();
    lane.pending.pop_front();
    d.start.push_back(*lane.running);
  }
  return d;
}

Decision Scheduler::Finished(const std::string& project, int64_t run_id) {
  Decision d;
  auto it = lanes_.find(project);
  if (it == lanes_.end() || it->second.running != run_id) return d;
  Lane& lane = it->second;
  lane.running.reset();
  if (!lane.pending.empty()) {
    lane.running = lane.pending.front();
    lane.pending.pop_front();
    d.start.push_back(*lane.running);
  }
  return d;
}

bool Scheduler::RemovePending(const std::string& project, int64_t run_id) {
  auto it = lanes_.find(project);
  if (it == lanes_.end()) return false;
  auto& pending = it->second.pending;
  auto pos = std::find(pending.begin(), pending.end(), run_id);
  if (pos == pending.end()) return false;
  pending.erase(pos);
  return true;
}

void Scheduler::Adopt(const std::string& project, int64_t run_id) {
  lanes_[project].running = run_id;
}

std::optional<int64_t> Scheduler::Running(const std::string& project) const {
  auto it = lanes_.find(project);
  if (it == lanes_.end()) return std::nullopt;
  return it->second.running;
}

std::vector<int64_t> Scheduler::Pending(const std::string& project) const {
  auto it = lanes_.find(project);
  if (it == lanes_.end()) return {};
  return {it->second.pending.begin(), it->second.pending.end()};
}

int Scheduler::RunningCount() const {
  int n = 0;
  for (const auto& [name, lane] : lanes_) n += lane.running.has_value();
  return n;
}

}  // namespace jenky
