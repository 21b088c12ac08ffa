// Per-project scheduling: at most one running run per project, always, and
// the three SPEC policies for triggers that arrive while one runs.
//
// The scheduler is pure bookkeeping over run ids: it does no I/O and keeps no
// clock. The engine calls it on the event-loop thread and carries out each
// Decision (start a process, end a queued run as cancelled, cancel a running
// one). Because every trigger passes through Enqueue one at a time, two
// triggers in the same millisecond are simply two calls in some order: neither
// is lost and neither runs twice.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "util/status.h"

namespace jenky {

struct Decision {
  // Runs to start now (at most one per project).
  std::vector<int64_t> start;
  // Queued runs that will never run; they end as cancelled with this reason.
  std::vector<std::pair<int64_t, std::string>> drop;
  // Running runs to cancel (cancel-previous); their successor starts after
  // Finished() is called for them.
  std::vector<std::pair<int64_t, std::string>> cancel;
};

class Scheduler {
 public:
  // A new run was created for PROJECT. Fails (and changes nothing) when the
  // queue policy already holds MAX_QUEUED waiting runs.
  Result<Decision> Enqueue(const std::string& project, Concurrency policy, int64_t run_id,
                           int max_queued);

  // The running run of PROJECT has ended: its process tree is gone.
  Decision Finished(const std::string& project, int64_t run_id);

  // Removes a waiting run (cancelled by a user before it started).
  bool RemovePending(const std::string& project, int64_t run_id);

  // A run that was already running when jenky started (adopted).
  void Adopt(const std::string& project, int64_t run_id);

  std::optional<int64_t> Running(const std::string& project) const;
  std::vector<int64_t> Pending(const std::string& project) const;
  int RunningCount() const;

 private:
  struct Lane {
    std::optional<int64_t> running;
    std::deque<int64_t> pending;
  };
  std::map<std::string, Lane> lanes_;
};

}  // namespace jenky
