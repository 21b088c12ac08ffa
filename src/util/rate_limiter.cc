#include "util/rate_limiter.h"

#include <algorithm>

namespace jenky {

void RateLimiter::Refill(Bucket& b, int64_t now_ms) const {
  if (now_ms > b.updated_ms) {
    b.tokens = std::min<double>(kBurst, b.tokens + double(now_ms - b.updated_ms) / kRefillMs);
    b.updated_ms = now_ms;
  }
}

int64_t RateLimiter::RetryAfterMs(const std::string& key, int64_t now_ms) {
  auto it = buckets_.find(key);
  if (it == buckets_.end()) return 0;
  Refill(it->second, now_ms);
  if (it->second.tokens >= 1) {
    if (it->second.tokens >= kBurst) buckets_.erase(it);  // fully recovered: forget it
    return 0;
  }
  return static_cast<int64_t>((1 - it->second.tokens) * kRefillMs) + 1;
}

void RateLimiter::RecordFailure(const std::string& key, int64_t now_ms) {
  if (buckets_.size() >= kMaxKeys && !buckets_.count(key)) {
    // Forget the addresses that have recovered the most; keep the worst offenders.
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      Refill(it->second, now_ms);
      it = it->second.tokens >= kBurst - 1 ? buckets_.erase(it) : std::next(it);
    }
    if (buckets_.size() >= kMaxKeys) buckets_.erase(buckets_.begin());
  }
  Bucket& b = buckets_.try_emplace(key, Bucket{double(kBurst), now_ms}).first->second;
  Refill(b, now_ms);
  b.tokens = std::max(0.0, b.tokens - 1);
}

}  // namespace jenky
