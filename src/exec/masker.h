// Secret masking for a run's output: every configured secret, its base64
// forms (also inside a longer encoding, like HTTP Basic's `user:SECRET`, as
// base64url, and wrapped at 76 or 64 columns), its URL-encoded forms (%2F
// and %2f, space as + or %20) and each line (of 4 bytes or more) of a
// multi-line secret become "***" before the bytes reach the log, also when a
// secret is split across two reads or by ANSI colour codes. Used by the supervisor, so nothing
// unmasked is ever stored or streamed.
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
  // Returns the bytes of PENDING + DATA that are safe to write now. The view
  // is into DATA or into the masker, valid until the next Feed or Finish.
  std::string_view Feed(std::string_view data);
  // End of output: whatever is held back, masked (valid as Feed's).
  std::string_view Finish();

  // The strings that are replaced, longest first (for tests).
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  // IN masked, up to *CONSUMED (the rest is held back unless AT_END): a view
  // into IN if nothing in it was masked, else into out_.
  std::string_view Mask(std::string_view in, bool at_end, size_t* consumed);
  // Mask for output with escape sequences: matched on the text without them,
  // and those inside a masked secret kept (after the mask).
  std::string_view MaskEscaped(std::string_view in, bool at_end, size_t* consumed);
  // The first position from FROM on where the rest of IN is the start of a
  // pattern (longer than the rest), or IN's size.
  size_t Undecided(std::string_view in, size_t from) const;
  // Length of the longest pattern at IN[I] (which has a byte after it), or 0.
  size_t MatchAt(std::string_view in, size_t i) const;
  static bool Has(const std::vector<uint64_t>& bits, unsigned pair) {
    return bits[pair >> 6] >> (pair & 63) & 1;
  }

  std::vector<std::string> patterns_;
  // (Indexes into patterns_, longest first, of the patterns starting with
  // each byte; empty for most bytes.)
  std::vector<std::vector<uint32_t>> starting_with_ = std::vector<std::vector<uint32_t>>(256);
  // One bit per pair of bytes that some pattern starts with.
  std::vector<uint64_t> first_pairs_ = std::vector<uint64_t>(65536 / 64);
  // The scan looks at every stride_-th position only, stride_ = the shortest
  // pattern's length - 1: every occurrence of a pattern covers one of them,
  // at one of its first stride_ positions. sampled_pairs_ has a bit for each
  // pair of bytes found there in some pattern; only where the output has one
  // are the positions before it compared with the patterns.
  size_t stride_ = 1;
  std::vector<uint64_t> sampled_pairs_ = std::vector<uint64_t>(65536 / 64);
  std::string pending_;
  std::string out_;
  std::string visible_;        // MaskEscaped's visible text
  std::vector<size_t> where_;  // and where each of its bytes is in its input
};

}  // namespace jenky
