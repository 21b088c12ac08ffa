#include "store/delivery_log.h"

#include <algorithm>

#include "core/delivery_result.h"

namespace jenky {
namespace {

constexpr int64_t kFoldWindowMs = 60'000;

bool Repeats(const Delivery& newest, const Delivery& d) {
  int64_t last = newest.last_at ? newest.last_at : newest.received_at;
  const char* rejected = DeliveryResultName(DeliveryResult::kRejected);
  return d.result == rejected && newest.result == rejected && newest.status == d.status &&
         newest.remote == d.remote && newest.reason == d.reason && newest.provider == d.provider &&
         d.received_at - last <= kFoldWindowMs;
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
  if (!list.empty() && Repeats(list.back(), d)) {
    Delivery& newest = list.back();
    newest.count += 1;
    newest.last_at = d.received_at;
    unsaved_[newest.id] = newest;
    return;
  }
  d.id = next_id_++;
  d.count = 1;
  d.last_at = d.received_at;
  unsaved_[d.id] = d;
  list.push_back(std::move(d));
  while (list.size() > static_cast<size_t>(kDeliveriesKept)) {
    unsaved_.erase(list.front().id);  // the store would drop it anyway
    list.pop_front();
  }
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
