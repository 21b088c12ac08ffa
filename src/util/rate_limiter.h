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

// Lets at most PER_MINUTE log lines a minute through per key (after a burst
// of as many) and counts the ones it holds back, so that a flood of bad
// requests cannot flood the journal; the line that does get through says how
// many were held back. Bounded like RateLimiter.
class LogThrottle {
 public:
  explicit LogThrottle(int per_minute) : limiter_(per_minute) {}

  // True if a line for KEY may be written now; *HELD_BACK is then the number
  // of lines for KEY not written since the last one that was.
  bool Allow(const std::string& key, int64_t now_ms, int64_t* held_back);

 private:
  RateLimiter limiter_;
  std::unordered_map<std::string, int64_t> held_;
};

}  // namespace jenky
