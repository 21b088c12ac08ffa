#include "util/rate_limiter.h"

#include <algorithm>

namespace jenky {

void RateLimiter::Refill(Bucket& b, int64_t now_ms) const {
  if (now_ms > b.updated_ms) {
    b.tokens =
        std::min<double>(burst_, b.tokens + double(now_ms - b.updated_ms) * burst_ / 60000.0);
    b.updated_ms = now_ms;
  }
}

int64_t RateLimiter::RetryAfterMs(const std::string& key, int64_t now_ms) {
  if (burst_ <= 0) return 0;
  auto it = buckets_.find(key);
  if (it == buckets_.end()) return 0;
  Refill(it->second, now_ms);
  if (it->second.tokens >= 1) {
    if (it->second.tokens >= burst_) buckets_.erase(it);  // fully recovered: forget it
    return 0;
  }
  return static_cast<int64_t>((1 - it->second.tokens) * 60000.0 / burst_) + 1;
}

void RateLimiter::RecordFailure(const std::string& key, int64_t now_ms) {
  if (burst_ <= 0) return;
  if (buckets_.size() >= kMaxKeys && !buckets_.count(key)) {
    // Forget the addresses that have recovered the most; keep the worst offenders.
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      Refill(it->second, now_ms);
      it = it->second.tokens >= burst_ - 1 ? buckets_.erase(it) : std::next(it);
    }
    if (buckets_.size() >= kMaxKeys) buckets_.erase(buckets_.begin());
  }
  Bucket& b = buckets_.try_emplace(key, Bucket{double(burst_), now_ms}).first->second;
  Refill(b, now_ms);
  b.tokens = std::max(0.0, b.tokens - 1);
}

bool LogThrottle::Allow(const std::string& key, int64_t now_ms, int64_t* held_back) {
  if (limiter_.RetryAfterMs(key, now_ms) > 0) {
    if (held_.size() >= RateLimiter::kMaxKeys) held_.clear();
    ++held_[key];
    return false;
  }
  limiter_.RecordFailure(key, now_ms);
  auto it = held_.find(key);
  *held_back = it == held_.end() ? 0 : it->second;
  if (it != held_.end()) held_.erase(it);
  return true;
}

}  // namespace jenky
