#include "store/delivery_log.h"

#include <algorithm>

#include "core/delivery_result.h"

namespace jenky {
namespace {

constexpr int64_t kFoldWindowMs = 60'000;
// How far back a repeat looks for the record to fold into: far enough to
// reach past the few deliveries a flood is interleaved with.
constexpr size_t kFoldLookback = 16;

// Whether D repeats EARLIER: the same answer for the same reason within a
// minute of the last of them. Rejections fold per sender address; ignored
// events (a forge's status or check_run flood, sent from any of its
// addresses) per event and reason.
bool Repeats(const Delivery& earlier, const Delivery& d) {
  int64_t last = earlier.last_at ? earlier.last_at : earlier.received_at;
  const char* rejected = DeliveryResultName(DeliveryResult::kRejected);
  const char* ignored = DeliveryResultName(DeliveryResult::kIgnored);
  const char* polled = DeliveryResultName(DeliveryResult::kPolled);
  if (d.result == polled) {  // a poll that saw what the last one saw: however long ago
    return earlier.result == polled && earlier.status == d.status && earlier.reason == d.reason;
  }
  if (d.result != rejected && d.result != ignored) return false;
  if (d.result == rejected && earlier.remote != d.remote) return false;
  return earlier.result == d.result && earlier.status == d.status && earlier.event == d.event &&
         earlier.reason == d.reason && earlier.provider == d.provider &&
         d.received_at - last <= kFoldWindowMs;
}

// Drops one record from a full LIST: the oldest noise record, else the oldest.
void Evict(std::deque<Delivery>& list, std::map<int64_t, Delivery>& unsaved) {
  auto victim = list.begin();
  for (auto it = list.begin(); it != list.end(); ++it) {
    if (!it->relevant) {
      victim = it;
      break;
    }
  }
  unsaved.erase(victim->id);  // the store drops it too
  list.erase(victim);
}

}  // namespace

Result<std::deque<Delivery>*> DeliveryLog::Recent(const std::string& project) {
  auto it = recent_.find(project);
  if (it != recent_.end()) return &it->second;
  auto stored = store_.ListDeliveries(project, kDeliveriesKept);
  if (!stored.ok()) return stored.status();
  std::deque<Delivery>& list = recent_[project];
  list.assign(stored->rbegin(), stored->rend());
  return &list;
}

void DeliveryLog::Record(Delivery d) {
  if (next_id_ == 0) {
    auto max = store_.MaxDeliveryId();
    next_id_ = (max.ok() ? *max : 0) + 1;
  }
  auto recent = Recent(d.project);
  if (!recent.ok()) {
    // The store cannot be read: still keep (and later save) this record.
    recent = &recent_[d.project];
  }
  std::deque<Delivery>& list = **recent;
  size_t looked = 0;
  for (auto it = list.rbegin(); it != list.rend() && looked < kFoldLookback; ++it, ++looked) {
    if (!Repeats(*it, d)) continue;
    it->count += 1;
    it->last_at = d.received_at;
    if (!d.delivery.empty()) it->delivery = d.delivery;  // the latest id of those folded
    unsaved_[it->id] = *it;
    return;
  }
  d.id = next_id_++;
  d.count = 1;
  d.last_at = d.received_at;
  unsaved_[d.id] = d;
  list.push_back(std::move(d));
  while (list.size() > static_cast<size_t>(kDeliveriesKept)) Evict(list, unsaved_);
}

Result<std::vector<Delivery>> DeliveryLog::List(const std::string& project, int limit) {
  auto recent = Recent(project);
  if (!recent.ok()) return recent.status();
  std::vector<Delivery> out;
  for (auto it = (*recent)->rbegin();
       it != (*recent)->rend() && static_cast<int>(out.size()) < limit; ++it) {
    out.push_back(*it);
  }
  return out;
}

Status DeliveryLog::Flush() {
  if (unsaved_.empty()) return Status::Ok();
  std::vector<Delivery> batch;
  batch.reserve(unsaved_.size());
  for (auto& [id, d] : unsaved_) batch.push_back(d);
  Status s = store_.SaveDeliveries(batch);
  if (s.ok()) unsaved_.clear();  // else kept, and tried again at the next flush
  return s;
}

}  // namespace jenky
