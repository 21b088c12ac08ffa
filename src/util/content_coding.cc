#include "util/content_coding.h"

#include <algorithm>
#include <cctype>

namespace jenky {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// RFC 9110 qvalue: "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")], in thousandths;
// -1 when the text is not one.
int ParseQValue(std::string_view s) {
  if (s.empty() || (s[0] != '0' && s[0] != '1')) return -1;
  int whole = s[0] - '0';
  if (s.size() == 1) return whole * 1000;
  if (s[1] != '.' || s.size() > 5) return -1;
  int frac = 0;
  int digits = 0;
  for (char c : s.substr(2)) {
    if (c < '0' || c > '9') return -1;
    frac = frac * 10 + (c - '0');
    ++digits;
  }
  for (; digits < 3; ++digits) frac *= 10;
  if (whole == 1 && frac != 0) return -1;
  return whole * 1000 + frac;
}

}  // namespace

ContentCoding ChooseContentCoding(std::string_view accept_encoding, bool have_brotli,
                                  bool have_gzip) {
  // q in thousandths per coding; -1 = not mentioned.
  int q_br = -1, q_gzip = -1, q_identity = -1, q_any = -1;
  std::string_view rest = accept_encoding;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view element = rest.substr(0, comma);
    rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
    size_t semi = element.find(';');
    std::string_view coding = Trim(element.substr(0, semi));
    if (coding.empty()) continue;
    int q = 1000;
    while (semi != std::string_view::npos) {
      std::string_view params = element.substr(semi + 1);
      semi = params.find(';');
      std::string_view param = Trim(params.substr(0, semi));
      element = params;
      size_t eq = param.find('=');
      if (eq != std::string_view::npos && EqualsNoCase(Trim(param.substr(0, eq)), "q")) {
        q = ParseQValue(Trim(param.substr(eq + 1)));
      }
    }
    if (q < 0) continue;  // a broken q-value: as if the element were not there
    auto keep = [q](int& slot) { slot = slot < 0 ? q : std::max(slot, q); };
    if (EqualsNoCase(coding, "br")) keep(q_br);
    else if (EqualsNoCase(coding, "gzip") || EqualsNoCase(coding, "x-gzip")) keep(q_gzip);
    else if (EqualsNoCase(coding, "identity")) keep(q_identity);
    else if (coding == "*") keep(q_any);
  }
  // "*" stands for every coding the header does not name.
  if (q_br < 0) q_br = q_any;
  if (q_gzip < 0) q_gzip = q_any;
  // Identity is acceptable unless refused, by name or through "*;q=0"; when
  // not named it ranks below every coding the client asked for.
  bool identity_ok = q_identity > 0 || (q_identity < 0 && q_any != 0);
  int identity_rank = q_identity > 0 ? q_identity : 0;

  ContentCoding best = ContentCoding::kIdentity;
  int best_q = identity_ok ? identity_rank : -1;
  // Ties: gzip beats identity, br beats both (smaller).
  if (have_gzip && q_gzip > 0 && q_gzip >= best_q) {
    best = ContentCoding::kGzip;
    best_q = q_gzip;
  }
  if (have_brotli && q_br > 0 && q_br >= best_q) {
    best = ContentCoding::kBrotli;
    best_q = q_br;
  }
  if (best == ContentCoding::kIdentity && !identity_ok) return ContentCoding::kNotAcceptable;
  return best;
}

std::string_view ContentCodingToken(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::kBrotli: return "br";
    case ContentCoding::kGzip: return "gzip";
    default: return "";
  }
}

std::string_view ContentCodingSuffix(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::kBrotli: return ".br";
    case ContentCoding::kGzip: return ".gz";
    default: return "";
  }
}

bool IsHashedAssetName(std::string_view path) {
  // Vite names them [name]-[hash].[ext] with an 8-character base64url hash
  // (which may itself hold '-' or '_').
  constexpr std::string_view kDir = "assets/";
  constexpr size_t kHashLength = 8;
  if (path.substr(0, kDir.size()) != kDir) return false;
  std::string_view name = path.substr(kDir.size());
  if (name.find('/') != std::string_view::npos) return false;
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot < kHashLength + 2) return false;
  if (name[dot - kHashLength - 1] != '-') return false;
  for (char c : name.substr(dot - kHashLength, kHashLength)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

}  // namespace jenky
