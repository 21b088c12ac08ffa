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
  if (patterns_.empty()) return;
  stride_ = patterns_.back().size() - 1;  // (at least kMinPattern - 1)
  for (size_t i = 0; i < patterns_.size(); ++i) {
    const std::string& p = patterns_[i];
    starting_with_[static_cast<unsigned char>(p[0])].push_back(static_cast<uint32_t>(i));
    unsigned pair = PairAt(p.data());
    first_pairs_[pair >> 6] |= uint64_t{1} << (pair & 63);
    for (size_t j = 0; j < stride_; ++j) {
      unsigned sampled = PairAt(p.data() + j);
      sampled_pairs_[sampled >> 6] |= uint64_t{1} << (sampled & 63);
    }
  }
}

size_t SecretMasker::MatchAt(std::string_view in, size_t i) const {
  if (!Has(first_pairs_, PairAt(in.data() + i))) return 0;
  for (uint32_t k : starting_with_[static_cast<unsigned char>(in[i])]) {
    const std::string& p = patterns_[k];
    if (p.size() <= in.size() - i && std::memcmp(in.data() + i, p.data(), p.size()) == 0) {
      return p.size();
    }
  }
  return 0;
}

size_t SecretMasker::Undecided(std::string_view in, size_t from) const {
  // The longest tail some pattern starts with (but does not end with).
  size_t longest = patterns_.front().size() - 1;
  for (size_t n = std::min(longest, in.size() - from); n > 0; --n) {
    std::string_view tail = in.substr(in.size() - n);
    bool prefix = std::any_of(patterns_.begin(), patterns_.end(), [&](const std::string& p) {
      return p.size() > n && std::string_view(p).substr(0, n) == tail;
    });
    if (prefix) return in.size() - n;
  }
  return in.size();
}

std::string_view SecretMasker::Mask(std::string_view in, bool at_end, size_t* consumed) {
  // One pass: the earliest position where a pattern matches, and there the
  // longest one (patterns are sorted longest first). Where a pattern could
  // still match with the bytes that come next, nothing is decided: the rest
  // is held back.
  out_.clear();
  bool masked = false;
  const size_t size = in.size();
  size_t pos = 0;   // what is before it is in out_ (if masked)
  size_t from = 0;  // no pattern starts before it, unless at or after pos
  size_t limit = at_end ? size : Undecided(in, 0);  // where held back starts
  // (A position q is only sampled with a byte after it: every pattern is
  // longer than stride_, so one that fits covers a sample that has.)
  for (size_t q = 0; q + 1 < size && from < limit;) {
    if (!Has(sampled_pairs_, PairAt(in.data() + q))) {
      q += stride_;
      continue;
    }
    // An occurrence covering q starts at most stride_ - 1 bytes before it.
    size_t s = std::max(from, q - std::min(q, stride_ - 1));
    size_t last = std::min(q, limit - 1);
    size_t length = 0;
    for (; s <= last; ++s) {
      if ((length = MatchAt(in, s)) > 0) break;
    }
    if (length == 0) {
      from = q + 1;
      q += stride_;
      continue;
    }
    out_.append(in.substr(pos, s - pos));
    out_.append(kMask);
    masked = true;
    pos = from = s + length;
    if (from > limit) limit = Undecided(in, from);  // (decided: it started before)
    q = (from + stride_ - 1) / stride_ * stride_;  // the first sample not inside it
  }
  *consumed = limit;
  if (!masked) return in.substr(0, limit);
  out_.append(in.substr(pos, limit - pos));
  return out_;
}

std::string_view SecretMasker::Feed(std::string_view data) {
  if (patterns_.empty()) return data;
  size_t consumed = 0;
  if (pending_.empty()) {
    // Nothing held back: DATA as it is, without a copy first.
    std::string_view out = Mask(data, false, &consumed);
    pending_.assign(data.substr(consumed));
    return out;
  }
  pending_.append(data);
  std::string_view out = Mask(pending_, false, &consumed);
  if (out.data() != out_.data()) out_.assign(out);  // a view into pending_
  pending_.erase(0, consumed);
  return out_;
}

std::string_view SecretMasker::Finish() {
  size_t consumed = 0;
  std::string_view out = Mask(pending_, true, &consumed);
  if (out.data() != out_.data()) out_.assign(out);
  pending_.clear();
  return out_;
}

}  // namespace jenky
