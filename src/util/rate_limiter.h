// Per-address limit on failed authentication (bad tokens, bad webhook
// signatures): a burst of PER_MINUTE failures, then PER_MINUTE more a minute.
// While an address has no allowance left, it is refused before its
// credentials are even checked, so guessing a secret costs real time.
//
// Memory is bounded: at most kMaxKeys addresses are tracked; the oldest
// entries go first. Not thread-safe (the event loop owns it).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace jenky {

class RateLimiter {
 public:
  static constexpr size_t kMaxKeys = 10000;

  // PER_MINUTE 0 turns the limit off.
  explicit RateLimiter(int per_minute) : burst_(per_minute) {}

  // Milliseconds until KEY may try again; 0 = now.
  int64_t RetryAfterMs(const std::string& key, int64_t now_ms);
  void RecordFailure(const std::string& key, int64_t now_ms);

 private:
  struct Bucket {
    double tokens = 0;
    int64_t updated_ms = 0;
  };
  int burst_;
  void Refill(Bucket& b, int64_t now_ms) const;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace jenky
