// The engine's side of the outbox and the metrics (engine.h): what a
// persisted state change says (Persist), how the project's previous run
// ended (for "recovered"), and the gauges /metrics shows.
#include "server/engine.h"

namespace jenky {

void Engine::PersistBehind(const Run& run) {
  metrics_.Observe(run);
  journal_.PersistBehind(run, [this, run] { return outbox_.MessagesFor(run, base_url_, {}); });
}

void Engine::Persist(const Run& run) {
  metrics_.Observe(run);
  journal_.Persist(run, [this, &run] {
    return outbox_.MessagesFor(run, base_url_, [this, run] { return PreviousOutcome(run); });
  });
  if (IsFinished(run.status) && run.status != RunStatus::kCancelled) {
    // Only once the history was read for the project (PreviousOutcome):
    // before, a run that ended in an earlier process could be newer.
    auto last = last_outcome_.find(run.project);
    if (last != last_outcome_.end() && run.id >= last->second.first) {
      last->second = {run.id, run.status};
    }
  }
}

std::optional<RunStatus> Engine::PreviousOutcome(const Run& run) {
  // The newest earlier run of the project that succeeded or failed;
  // cancelled runs say nothing about the project's health.
  if (auto it = last_outcome_.find(run.project);
      it != last_outcome_.end() && it->second.first < run.id) {
    return it->second.second;
  }
  int64_t before = run.id;
  for (int page = 0; page < 4; ++page) {
    auto runs = journal_.ListRuns(run.project, 50, before);
    if (!runs.ok()) return std::nullopt;  // not known: not remembered either
    for (const Run& r : *runs) {
      if (!IsFinished(r.status) || r.status == RunStatus::kCancelled) continue;
      last_outcome_.emplace(run.project, std::make_pair(r.id, std::optional(r.status)));
      return r.status;
    }
    if (runs->size() < 50) break;
    before = runs->back().id;
  }
  // None in the history (or none among its newest 200 runs): none to recover from.
  last_outcome_.emplace(run.project, std::make_pair(int64_t{0}, std::optional<RunStatus>()));
  return std::nullopt;
}

std::string Engine::RenderMetrics(int64_t viewers) {
  RunMetrics::Gauges g;
  g.viewers = viewers;
  for (const ProjectConfig& p : config_.projects) {
    g.projects.push_back(p.name);
    g.active[p.name] = {scheduler_.Running(p.name) ? 1 : 0,
                        static_cast<int>(scheduler_.Pending(p.name).size())};
    if (!metrics_.HasLastSuccess(p.name)) {
      // Before this process saw a success: the history's last one.
      int64_t last = 0;
      auto runs = journal_.ListRuns(p.name, 200, 0);
      if (runs.ok()) {
        for (const Run& r : *runs) {
          if (r.status == RunStatus::kSucceeded) {
            last = r.finished_at;
            break;
          }
        }
      }
      metrics_.SeedLastSuccess(p.name, last);
    }
  }
  for (const auto& [receiver, c] : outbox_.counts()) {
    // "status:app" and "deploy:app" stay whole: every project has its own.
    bool per_project = receiver.rfind("status:", 0) == 0 || receiver.rfind("deploy:", 0) == 0;
    std::string label = per_project ? receiver : ReceiverDisplayName(receiver);
    g.outbox[label] = {c.pending, c.sent, c.failed};
  }
  return metrics_.Render(g);
}

}  // namespace jenky
