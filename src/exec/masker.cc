#include "exec/masker.h"
#include "util/hash.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace jenky {
namespace {

constexpr size_t kMinPattern = 4;

unsigned PairAt(const char* p) {
  return static_cast<unsigned char>(p[0]) | static_cast<unsigned>(static_cast<unsigned char>(p[1]))
                                                << 8;
}

// LOWER: %2f instead of %2F (both are in use). PLUS: a space as '+' (forms).
std::string UrlEncode(std::string_view s, bool lower = false, bool plus = false) {
  const char* hex = lower ? "0123456789abcdef" : "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else if (plus && c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

// The base64 characters that depend on S's bytes alone when S follows SHIFT
// bytes of other data (`user:SECRET` in HTTP Basic is SECRET at shift 2):
// whatever comes before or after, those characters are in the encoding.
std::string Base64Core(std::string_view s, size_t shift) {
  std::string encoded = Base64Encode(std::string(shift, '\0') + std::string(s));
  size_t first = (8 * shift + 5) / 6;       // the first character of S's bits only
  size_t end = 8 * (shift + s.size()) / 6;  // past the last one
  return end > first ? encoded.substr(first, end - first) : "";
}

// An ANSI escape sequence (CSI: ESC [ parameters final) at IN[I]: its length,
// 0 if there is none, or npos if IN ends before it does.
size_t EscapeAt(std::string_view in, size_t i) {
  if (in[i] != '\x1b') return 0;
  if (i + 1 >= in.size()) return std::string_view::npos;
  if (in[i + 1] != '[') return 0;
  for (size_t j = i + 2; j < in.size() && j < i + 64; ++j) {
    unsigned char c = static_cast<unsigned char>(in[j]);
    if (c >= 0x40 && c <= 0x7e) return j + 1 - i;
    if (c < 0x20 || c > 0x3f) return 0;  // not a CSI after all
  }
  return in.size() - i < 64 ? std::string_view::npos : 0;
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
    while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r'))
      trimmed.pop_back();
    if (trimmed != s) add(Base64Encode(trimmed));
    for (size_t shift = 0; shift < 3; ++shift) {
      std::string core = Base64Core(trimmed, shift);
      add(core);
      std::string url_safe = core;  // base64url (JWTs, many tokens)
      std::replace(url_safe.begin(), url_safe.end(), '+', '-');
      std::replace(url_safe.begin(), url_safe.end(), '/', '_');
      add(url_safe);
    }
    // `base64` wraps at 76 columns, `openssl base64` at 64: a long secret's
    // encoding spans lines. The whole wrapped text, and each full line of it
    // (a partial last line is too short to stand for the secret alone).
    for (size_t width : {size_t{76}, size_t{64}}) {
      std::string encoded = Base64Core(trimmed, 0);
      if (encoded.size() <= width) continue;
      std::string wrapped;
      for (size_t at = 0; at < encoded.size(); at += width) {
        std::string line = encoded.substr(at, width);
        if (at > 0) wrapped += '\n';
        wrapped += line;
        if (line.size() == width) add(line);
      }
      add(wrapped);
    }
    add(UrlEncode(s));
    add(UrlEncode(s, true));
    add(UrlEncode(s, false, true));
    add(UrlEncode(s, true, true));
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

std::string_view SecretMasker::MaskEscaped(std::string_view in, bool at_end, size_t* consumed) {
  // The visible text (escape sequences taken out) and where each of its
  // bytes is in IN; an escape sequence that IN ends inside is held back.
  visible_.clear();
  where_.clear();
  size_t held = in.size();
  for (size_t i = 0; i < in.size();) {
    size_t esc = EscapeAt(in, i);
    if (esc == std::string_view::npos) {
      if (!at_end) {
        held = i;
        break;
      }
      esc = 0;
    }
    if (esc > 0) {
      i += esc;
      continue;
    }
    visible_.push_back(in[i]);
    where_.push_back(i);
    ++i;
  }
  std::string_view v = visible_;
  size_t limit = at_end ? v.size() : Undecided(v, 0);
  // Where the held-back part starts in IN: at its first visible byte (an
  // escape sequence before it is written now), or at the incomplete escape.
  size_t in_limit = limit < v.size() ? std::min(where_[limit], held) : held;
  out_.clear();
  size_t pos = 0;  // IN before it is in out_
  for (size_t s = 0; s + 1 < v.size() && s < limit;) {
    size_t length = MatchAt(v, s);
    if (length == 0) {
      ++s;
      continue;
    }
    // Visible bytes from where_[s] to the last one matched become the mask;
    // escape sequences among them stay, so the colours are what they were.
    size_t first = where_[s], last = where_[s + length - 1];
    out_.append(in.substr(pos, first - pos));
    out_.append(kMask);
    for (size_t i = first; i <= last;) {
      size_t esc = EscapeAt(in, i);
      if (esc > 0 && esc != std::string_view::npos) {
        out_.append(in.substr(i, esc));
        i += esc;
      } else {
        ++i;
      }
    }
    pos = last + 1;
    s += length;
    if (s > limit) {
      limit = Undecided(v, s);
      in_limit = limit < v.size() ? std::min(where_[limit], held) : held;
    }
  }
  in_limit = std::max(in_limit, pos);
  out_.append(in.substr(pos, in_limit - pos));
  *consumed = in_limit;
  return out_;
}

std::string_view SecretMasker::Mask(std::string_view in, bool at_end, size_t* consumed) {
  // Colour codes may split a secret ("\e[1mpass\e[0mword"): output that has
  // an escape character is matched on its visible text instead.
  if (std::memchr(in.data(), '\x1b', in.size())) return MaskEscaped(in, at_end, consumed);
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
    q = (from + stride_ - 1) / stride_ * stride_;   // the first sample not inside it
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
