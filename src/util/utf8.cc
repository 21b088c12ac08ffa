#include "util/utf8.h"

#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace jenky {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";

// What a lead byte asks for: the character's length and the allowed range of
// its second byte (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
// Length 0: not a lead byte.
struct Lead {
  size_t length;
  unsigned char lo, hi;
};

Lead LeadOf(unsigned char c) {
  if (c < 0x80) return {1, 0, 0};
  if (c >= 0xC2 && c <= 0xDF) return {2, 0x80, 0xBF};
  if (c == 0xE0) return {3, 0xA0, 0xBF};
  if (c >= 0xE1 && c <= 0xEC) return {3, 0x80, 0xBF};
  if (c == 0xED) return {3, 0x80, 0x9F};
  if (c >= 0xEE && c <= 0xEF) return {3, 0x80, 0xBF};
  if (c == 0xF0) return {4, 0x90, 0xBF};
  if (c >= 0xF1 && c <= 0xF3) return {4, 0x80, 0xBF};
  if (c == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// True if D[i, i+count) is a valid start of the character led by D[i].
bool ValidStart(std::string_view d, size_t i, size_t count, const Lead& lead) {
  for (size_t k = 1; k < count; ++k) {
    unsigned char b = static_cast<unsigned char>(d[i + k]);
    unsigned char lo = k == 1 ? lead.lo : 0x80, hi = k == 1 ? lead.hi : 0xBF;
    if (b < lo || b > hi) return false;
  }
  return true;
}

// Length of the valid UTF-8 character at D[i], or 0 if there is none.
size_t ValidCharLength(std::string_view d, size_t i) {
  Lead lead = LeadOf(static_cast<unsigned char>(d[i]));
  if (lead.length == 0 || i + lead.length > d.size()) return 0;
  return ValidStart(d, i, lead.length, lead) ? lead.length : 0;
}

}  // namespace

size_t CompleteUtf8Prefix(std::string_view d) {
  size_t n = d.size();
  // The lead byte of a cut-off character is at most 3 bytes from the end.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(d[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    Lead lead = LeadOf(c);
    bool cut_off = lead.length > back && ValidStart(d, n - back, back, lead);
    return cut_off ? n - back : n;
  }
  return n;
}

namespace {

// Appends the character at D[i] if it is valid UTF-8, else U+FFFD for its
// first byte; returns how many bytes of D it took.
size_t AppendCharOrReplacement(std::string_view d, size_t i, std::string& out) {
  size_t n = ValidCharLength(d, i);
  if (n == 0) {
    out.append(kReplacement, 3);
    return 1;
  }
  out.append(d.data() + i, n);
  return n;
}

// Length of the run of bytes at the start of D that JSON takes as they are
// (printable ASCII but '"' and '\\'), many bytes at a time: log text is
// mostly such runs, and this loop is most of the cost of streaming a log.
size_t PlainAsciiRun(const char* d, size_t n) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  size_t i = 0;
#if defined(__SSE2__)
  // Sixteen at a time: a signed compare with 0x20 takes both the control
  // characters and every byte >= 0x80 (negative as signed).
  const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'),
                slash = _mm_set1_epi8('\\');
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i));
    __m128i special = _mm_or_si128(
        _mm_cmplt_epi8(v, space), _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, slash)));
    if (int mask = _mm_movemask_epi8(special)) return i + static_cast<size_t>(__builtin_ctz(mask));
  }
#endif
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    std::memcpy(&x, d + i, 8);
    // A byte is special if < 0x20, >= 0x80, '"' or '\\' (the classic
    // "has zero byte" trick on x - 0x20, x ^ '"' and x ^ '\\').
    uint64_t below = (x - kOnes * 0x20) & ~x;
    uint64_t quote = x ^ (kOnes * '"');
    uint64_t slash = x ^ (kOnes * '\\');
    uint64_t special =
        (below | ((quote - kOnes) & ~quote) | ((slash - kOnes) & ~slash) | x) & kHigh;
    if (special) break;
  }
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(d[i]);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
    ++i;
  }
  return i;
}

// Length of the run of ASCII bytes (< 0x80) at the start of D.
size_t AsciiRun(const char* d, size_t n) {
  size_t i = 0;
#if defined(__SSE2__)
  for (; i + 16 <= n; i += 16) {
    int mask = _mm_movemask_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i)));
    if (mask) return i + static_cast<size_t>(__builtin_ctz(mask));
  }
#endif
  while (i < n && static_cast<unsigned char>(d[i]) < 0x80) ++i;
  return i;
}

}  // namespace

void AppendJsonEscapedUtf8(std::string_view data, std::string& out) {
  static const char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + data.size() + data.size() / 16 + 16);
  size_t i = 0;
  while (i < data.size()) {
    size_t run = PlainAsciiRun(data.data() + i, data.size() - i);
    if (run) {
      out.append(data.data() + i, run);
      i += run;
      if (i == data.size()) break;
    }
    unsigned char c = static_cast<unsigned char>(data[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
      }
      ++i;
      continue;
    }
    i += AppendCharOrReplacement(data, i, out);
  }
}

bool IsValidUtf8(std::string_view data) {
  for (size_t i = 0; i < data.size();) {
    if (static_cast<unsigned char>(data[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = ValidCharLength(data, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string SanitizeUtf8(std::string_view data) {
  std::string out;
  out.reserve(data.size());
  size_t i = 0;
  while (i < data.size()) {
    // Runs of ASCII (control characters included) are copied as they are.
    size_t j = i + AsciiRun(data.data() + i, data.size() - i);
    out.append(data.data() + i, j - i);
    i = j;
    if (i == data.size()) break;
    i += AppendCharOrReplacement(data, i, out);
  }
  return out;
}

}  // namespace jenky
