// The engine's write-behind history: run rows and webhook deliveries on their
// way to the store.
//
// A run's row is written when Persist is called; when the store refuses (another
// process holds SQLite's lock, the disk is full) the row is kept in memory,
// newest state of each run, and written later in order, retried every
// second; rows behind a refused one wait for it, so the store never sees a
// run's states out of order. Reads (GetRun, ListRuns, FindRunByDelivery) look
// at those unsaved rows before the store, so the API never shows an older
// state than the engine has. Webhook deliveries are recorded in memory
// (store/delivery_log.h) and flushed 250 ms after the first unsaved one.
//
// The outbox's messages (server/outbox.h) ride with the row whose change
// caused them: saved in the same transaction, kept in memory with it while
// the store refuses, handed to the saved-listener once written.
//
// A run's start is written behind its script: PersistBehind keeps the row
// in memory (reads see it) and makes and writes it with its messages at
// WriteBehind() (the engine calls it on the script's first output),
// kBehindAt later, or the next Persist, whichever comes first. The CPUs go
// to the script starting, not to rendering messages and SQLite; if jenky
// dies in between, the run directory's meta.json brings the row and its
// messages back (engine.h, Start).
//
// Shutdown makes a last try for both; what the store still refuses then is
// rebuilt from the run directories at the next start (engine.h, Start).
//
// Loop-thread only, like the engine that owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/outbox_message.h"
#include "core/run.h"
#include "net/asio.h"
#include "store/delivery_log.h"
#include "store/store.h"

namespace jenky {

class Journal {
 public:
  Journal(net::io_context& io, Store& store);
  ~Journal();  // flushes the deliveries recorded since the last flush

  using MakeMessages = std::function<std::vector<OutboxMessage>()>;
  // The longest a row written behind waits.
  static constexpr std::chrono::milliseconds kBehindAt{50};

  // Writes RUN's row (insert or update) and the messages MAKE makes in one
  // transaction, after the rows behind; if the store refuses, keeps both in
  // memory and retries. Messages are numbered when made: the rows behind
  // have theirs made first, so that a receiver gets them in order.
  void Persist(const Run& run, const MakeMessages& make = {});
  // Keeps RUN's row in memory and writes it behind (above), with the
  // messages MAKE makes then.
  void PersistBehind(const Run& run, MakeMessages make);
  // Writes the rows behind now (none waiting, or refused: nothing).
  void WriteBehind();
  bool behind() const { return !unsaved_.empty() && !refused_; }
  // Called with messages once they are written.
  void SetSavedListener(std::function<void(const std::vector<OutboxMessage>&)> listener) {
    on_saved_ = std::move(listener);
  }
  // Rows the store has not taken yet.
  size_t unsaved() const { return unsaved_.size(); }

  // The store's view with the unsaved rows laid over it.
  Result<std::optional<Run>> GetRun(int64_t id);
  Result<std::vector<Run>> ListRuns(const std::string& project, int limit, int64_t before);
  Result<std::optional<Run>> FindRunByDelivery(const std::string& project,
                                               const std::string& delivery);

  void RecordDelivery(const Delivery& d);
  Result<std::vector<Delivery>> ListDeliveries(const std::string& project, int limit) {
    return deliveries_.List(project, limit);
  }

  // Stops the timers and makes a last try at everything unsaved.
  void Shutdown();

 private:
  void ScheduleRetry();
  // Writes the unsaved rows in order; on the first refusal, logs it (once)
  // and retries every second.
  void SaveUnsaved();
  void MakeBehindMessages();
  void Keep(const Run& run, std::vector<OutboxMessage> messages);
  void ArmBehind();
  void Refused(const Run& run, const Status& why);
  void FlushDeliveries();

  net::io_context& io_;
  Store& store_;
  bool shutting_down_ = false;
  bool refused_ = false;  // the store refused the oldest unsaved row
  struct Unsaved {
    Run run;                              // the newest state
    std::vector<OutboxMessage> messages;  // every state's, in order
    MakeMessages make;                    // behind: the newest state's, not made yet
  };
  // Rows not written yet: behind, or refused.
  std::map<int64_t, Unsaved> unsaved_;
  std::function<void(const std::vector<OutboxMessage>&)> on_saved_;
  std::unique_ptr<net::steady_timer> save_retry_;
  net::steady_timer behind_;
  bool behind_armed_ = false;
  DeliveryLog deliveries_;
  net::steady_timer deliveries_flush_;
  bool deliveries_flush_armed_ = false;
};

}  // namespace jenky
