// Secret masking for a run's output: every configured secret, its base64 and
// URL-encoded forms and each line (of 4 bytes or more) of a multi-line secret
// become "***" before the bytes reach the log, also when a secret is split
// across two reads. Used by the supervisor, so nothing unmasked is ever
// stored or streamed.
//
// To catch a split secret, Feed holds back a tail that could be the start of
// a secret until more output (or Finish) decides it; at most the longest
// pattern's length minus one byte is ever held.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace jenky {

class SecretMasker {
 public:
  static constexpr std::string_view kMask = "***";

  explicit SecretMasker(const std::vector<std::string>& secrets);

  bool active() const { return !patterns_.empty(); }
  // Returns the bytes of PENDING + DATA that are safe to write now.
  std::string Feed(std::string_view data);
  // End of output: whatever is held back, masked.
  std::string Finish();

  // The strings that are replaced, longest first (for tests).
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  std::string Mask(std::string_view in, size_t* consumed, bool at_end) const;

  std::vector<std::string> patterns_;
  // Whether some pattern starts with a byte: output is scanned for those
  // bytes only, and compared with the patterns starting there.
  // (Indexes into patterns_, longest first, of the patterns starting with
  // each byte; empty for most bytes.)
  std::vector<std::vector<uint32_t>> starting_with_ = std::vector<std::vector<uint32_t>>(256);
  // One bit per pair of bytes that some pattern starts with: most positions
  // of a log are passed over on one test, whatever its bytes.
  std::vector<uint64_t> first_pairs_ = std::vector<uint64_t>(65536 / 64);
  std::string pending_;
};

}  // namespace jenky
