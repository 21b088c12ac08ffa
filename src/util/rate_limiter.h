// Per-address limit on failed authentication (bad tokens, bad webhook
// signatures): a burst of kBurst failures, then one more every kRefill.
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
  static constexpr int kBurst = 10;
  static constexpr int64_t kRefillMs = 6000;
  static constexpr size_t kMaxKeys = 10000;

  // Milliseconds until KEY may try again; 0 = now.
  int64_t RetryAfterMs(const std::string& key, int64_t now_ms);
  void RecordFailure(const std::string& key, int64_t now_ms);

 private:
  struct Bucket {
    double tokens = kBurst;
    int64_t updated_ms = 0;
  };
  void Refill(Bucket& b, int64_t now_ms) const;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace jenky
