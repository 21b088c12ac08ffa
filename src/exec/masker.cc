#include "exec/masker.h"
#include "util/hash.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace jenky {
namespace {

constexpr size_t kMinPattern = 4;

unsigned PairAt(const char* p) {
  return static_cast<unsigned char>(p[0]) | static_cast<unsigned>(static_cast<unsigned char>(p[1])) << 8;
}

std::string UrlEncode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

SecretMasker::SecretMasker(const std::vector<std::string>& secrets) {
  auto add = [&](std::string p) {
    while (!p.empty() && (p.back() == '\r' || p.back() == '\n')) p.pop_back();
    if (p.size() >= kMinPattern) patterns_.push_back(std::move(p));
  };
  for (const std::string& s : secrets) {
    add(s);
    add(Base64Encode(s));
    std::string trimmed = s;
    while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r')) trimmed.pop_back();
    if (trimmed != s) add(Base64Encode(trimmed));
    add(UrlEncode(s));
    size_t start = 0;
    while (start < s.size()) {
      size_t nl = s.find('\n', start);
      if (nl == std::string::npos) nl = s.size();
      if (start > 0 || nl < s.size()) add(s.substr(start, nl - start));
      start = nl + 1;
    }
  }
  std::sort(patterns_.begin(), patterns_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  patterns_.erase(std::unique(patterns_.begin(), patterns_.end()), patterns_.end());
  for (size_t i = 0; i < patterns_.size(); ++i) {
    starting_with_[static_cast<unsigned char>(patterns_[i][0])].push_back(static_cast<uint32_t>(i));
    unsigned pair = PairAt(patterns_[i].data());
    first_pairs_[pair >> 6] |= uint64_t{1} << (pair & 63);
  }
}

std::string SecretMasker::Mask(std::string_view in, size_t* consumed, bool at_end) const {
  std::string out;
  out.reserve(in.size());
  // One pass: the earliest position where a pattern matches, and there the
  // longest one (patterns are sorted longest first).
  size_t pos = 0;  // what is before it is in OUT
  const size_t size = in.size();
  const uint64_t* pairs = first_pairs_.data();
  // (Every pattern is at least kMinPattern bytes: none starts in the last one.)
  for (size_t i = 0; i + 1 < size; ++i) {
    unsigned pair = PairAt(in.data() + i);
    if (!(pairs[pair >> 6] >> (pair & 63) & 1)) continue;
    const std::vector<uint32_t>& candidates = starting_with_[static_cast<unsigned char>(in[i])];
    for (uint32_t k : candidates) {
      const std::string& p = patterns_[k];
      if (p.size() <= size - i && in[i + 1] == p[1] &&
          std::memcmp(in.data() + i, p.data(), p.size()) == 0) {
        out.append(in.substr(pos, i - pos));
        out.append(kMask);
        pos = i + p.size();
        i = pos - 1;
        break;
      }
    }
  }
  size_t keep = in.size();
  if (!at_end) {
    // Hold back the longest tail that some pattern starts with.
    size_t longest = patterns_.empty() ? 0 : patterns_.front().size() - 1;
    for (size_t n = std::min(longest, in.size() - pos); n > 0; --n) {
      std::string_view tail = in.substr(in.size() - n);
      bool prefix = std::any_of(patterns_.begin(), patterns_.end(), [&](const std::string& p) {
        return p.size() > n && std::string_view(p).substr(0, n) == tail;
      });
      if (prefix) {
        keep = in.size() - n;
        break;
      }
    }
  }
  out.append(in.substr(pos, keep - pos));
  *consumed = keep;
  return out;
}

std::string SecretMasker::Feed(std::string_view data) {
  if (patterns_.empty()) return std::string(data);
  if (pending_.empty()) {
    // Nothing held back: DATA as it is, without a copy first.
    size_t consumed = 0;
    std::string out = Mask(data, &consumed, false);
    pending_.assign(data.substr(consumed));
    return out;
  }
  pending_.append(data);
  size_t consumed = 0;
  std::string out = Mask(pending_, &consumed, false);
  pending_.erase(0, consumed);
  return out;
}

std::string SecretMasker::Finish() {
  size_t consumed = 0;
  std::string out = Mask(pending_, &consumed, true);
  pending_.clear();
  return out;
}

}  // namespace jenky
