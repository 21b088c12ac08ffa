// The recent webhook deliveries of every project (GET .../deliveries), kept
// in memory and written to the store in batches.
//
// A delivery is answered without touching SQLite: Record only changes memory,
// and the owner calls Flush a moment later (the engine: 250 ms after the
// first unsaved record, and at shutdown), which writes everything since in
// one transaction. So a flood of forged deliveries costs no disk write each,
// and a crash loses at most that moment of this diagnostic record; runs and
// their delivery ids (de-duplication) are stored by the engine as before.
//
// A rejection that repeats one of the project's newest records (same
// address, answer and reason, within a minute of its last) is folded into it
// as a count, and so is an ignored delivery (same event and reason, from any
// address), so a flood cannot push the useful records out. When the list is
// full the oldest noise record (Delivery::relevant false) goes first: only
// relevant records push out relevant ones, in memory and in the store alike.
//
// Not thread-safe: the event loop owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "store/store.h"

namespace jenky {

class DeliveryLog {
 public:
  explicit DeliveryLog(Store& store) : store_(store) {}

  void Record(Delivery d);
  // Newest first, at most LIMIT.
  Result<std::vector<Delivery>> List(const std::string& project, int limit);
  // Writes the records changed since the last flush.
  Status Flush();
  bool dirty() const { return !unsaved_.empty(); }

 private:
  // The project's newest records, loaded from the store on first use.
  Result<std::deque<Delivery>*> Recent(const std::string& project);

  Store& store_;
  int64_t next_id_ = 0;                                 // 0 = not read from the store yet
  std::map<std::string, std::deque<Delivery>> recent_;  // newest at the back
  // By id; only records still among the newest, so at most kDeliveriesKept
  // a project however fast deliveries arrive.
  std::map<int64_t, Delivery> unsaved_;
};

}  // namespace jenky
