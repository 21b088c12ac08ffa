// libFuzzer target: webhook deliveries, every provider's parse and verify
// (EvaluateDelivery in src/webhook/webhook.h), with fuzzer-chosen headers,
// query and body.
//
// Input, a readable format so the corpus holds real deliveries:
//
//   github                          provider: github gitea forgejo gitlab generic
//   branches: main release/*        optional: the project's branch globs
//   events: push tag_push           optional: the project's events
//   ?token=$SECRET&x=1              optional: the query string
//   X-GitHub-Event: push            headers, up to the first empty line
//   X-Hub-Signature-256: sha256=$HMAC
//
//   {"ref": "refs/heads/main", ...} the body, every byte after the empty line
//
// A fuzzer cannot forge an HMAC, and without a valid signature a delivery
// never reaches payload parsing. So header values and the query may name
// what a sender holding the secret would compute: $HMAC (hex HMAC-SHA256 of
// the body), $SECRET (the shared secret, for token headers), $STDSIG (the
// Standard Webhooks "v1,<base64>" signature GitLab signing tokens send) and
// $NOW (the clock the check uses). Everything else is sent as is.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "util/url.h"
#include "webhook/webhook.h"

namespace jenky {
namespace {

constexpr std::string_view kSecret = "fuzz-secret";
// Standard Webhooks key (the bytes of a base64-decoded "whsec_..." token).
constexpr std::string_view kSigningKey = "fuzz-signing-key";
constexpr int64_t kNow = 1700000000;

std::string_view NextLine(std::string_view& in) {
  size_t nl = in.find('\n');
  std::string_view line = in.substr(0, nl);
  in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::vector<std::string> Words(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string_view::npos) j = s.size();
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

std::string StandardSignature(const std::map<std::string, std::string>& headers,
                              std::string_view body) {
  auto get = [&](const char* name) {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  };
  std::string content =
      get("webhook-id") + "." + get("webhook-timestamp") + "." + std::string(body);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSigningKey.data(), static_cast<int>(kSigningKey.size()),
       reinterpret_cast<const unsigned char*>(content.data()), content.size(), md, &len);
  unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  int n = EVP_EncodeBlock(b64, md, static_cast<int>(len));
  return "v1," + std::string(reinterpret_cast<char*>(b64), n);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool Printable(std::string_view s, size_t max) {
  if (s.size() > max) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace
}  // namespace jenky

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace jenky;
  std::string_view in(reinterpret_cast<const char*>(data), size);

  WebhookConfig config;
  config.provider = std::string(NextLine(in));
  config.secret = std::string(kSecret);
  if (config.provider == "gitlab-signed") {
    config.provider = "gitlab";
    config.secret.clear();
    config.signing_key = std::string(kSigningKey);
  }
  std::string query;
  std::map<std::string, std::string> headers;  // lower-case names; later ones win
  for (;;) {
    std::string_view line = NextLine(in);
    if (line.empty()) break;
    if (line.rfind("branches:", 0) == 0) {
      config.branches = Words(line.substr(9));
    } else if (line.rfind("events:", 0) == 0) {
      config.events = Words(line.substr(7));
    } else if (line.front() == '?') {
      query = std::string(line.substr(1));
    } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      headers[Lower(line.substr(0, colon))] = std::string(value);
    }
  }
  std::string_view body = in;

  std::string hmac = HmacSha256Hex(kSecret, body);
  std::string now = std::to_string(kNow);
  for (auto& [name, value] : headers) {
    ReplaceAll(value, "$HMAC", hmac);
    ReplaceAll(value, "$SECRET", kSecret);
    ReplaceAll(value, "$NOW", now);
  }
  // After $NOW: the signature covers the timestamp header as sent.
  std::string standard = StandardSignature(headers, body);
  for (auto& [name, value] : headers) ReplaceAll(value, "$STDSIG", standard);
  ReplaceAll(query, "$SECRET", kSecret);
  ReplaceAll(query, "$HMAC", hmac);

  HookRequest req;
  req.header = [&](std::string_view name) {
    auto it = headers.find(Lower(name));
    return it == headers.end() ? std::string() : it->second;
  };
  req.body = body;
  req.query = ParseQuery(query);
  req.now_unix_seconds = kNow;
  Verdict v = EvaluateDelivery(config, req);
  if (v.kind == VerdictKind::kDeploy) {
    // A deploy's trigger values become the script's environment (SPEC.md):
    // they must be bounded and printable (a NUL would cut an environment
    // string, a newline forge a log line), and the commit a hex id.
    const Trigger& t = v.trigger;
    if (!Printable(t.ref, 255) || !Printable(t.branch, 255) || !Printable(t.actor, 255) ||
        !Printable(t.delivery, 128)) {
      __builtin_trap();
    }
    if (!t.commit.empty() &&
        (t.commit.size() < 4 || t.commit.size() > 64 ||
         t.commit.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)) {
      __builtin_trap();
    }
  }
  return 0;
}
