// What Prometheus scrapes of runs and deliveries (GET /metrics,
// docs/notifications.md "Metrics"): counters since this process started,
// kept as runs end and webhook deliveries are recorded, and rendered in the
// text exposition format with the gauges the caller knows (running and
// queued runs, WebSocket viewers, the outbox).
//
// Labels are bounded by the configuration (project, trigger kind, result,
// receiver), never a run id, commit or host: a label per commit would grow
// without end.
//
// Loop-thread only, like the engine that feeds it.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "core/run.h"
#include "store/store.h"

namespace jenky {

class RunMetrics {
 public:
  // Upper bounds (seconds) of the deploy-duration histogram's buckets: up to
  // an hour (runs time out at 30 minutes by default).
  static constexpr std::array<double, 12> kBuckets = {1,   5,   10,   30,   60,   120,
                                                      300, 600, 1200, 1800, 2700, 3600};

  // RUN's state as persisted; finished runs are counted (once: a run is
  // finalized once).
  void Observe(const Run& run);
  void CountDelivery(const Delivery& d);
  // The last success of PROJECT as the history knows it, for the time
  // before this process saw one (unix ms; 0 none).
  void SeedLastSuccess(const std::string& project, int64_t finished_at);
  bool HasLastSuccess(const std::string& project) const { return last_success_.count(project); }

  // Gauges the caller measures at scrape time.
  struct Gauges {
    std::map<std::string, std::pair<int, int>> active;  // project -> running, queued
    std::vector<std::string> projects;                  // every configured project
    int64_t viewers = 0;
    struct Outbox {
      int64_t pending = 0, sent = 0, failed = 0;
    };
    std::map<std::string, Outbox> outbox;  // by receiver name
  };
  // The text exposition format (version 0.0.4).
  std::string Render(const Gauges& g) const;

 private:
  struct Histogram {
    std::array<int64_t, kBuckets.size()> counts{};  // not cumulative; summed on render
    int64_t count = 0;
    double sum = 0;
  };
  // (project, trigger, result)
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> deployments_;
  std::map<std::pair<std::string, std::string>, int64_t> rollbacks_;   // project, result
  std::map<std::string, Histogram> durations_;                         // by project
  std::map<std::string, int64_t> last_success_;                        // unix ms
  std::map<std::pair<std::string, std::string>, int64_t> deliveries_;  // project, result
};

}  // namespace jenky
