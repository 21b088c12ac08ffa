// What keeps a web page on another site from acting through a visitor's
// browser: cross-site requests (CSRF, also from another port of the same
// host) and DNS rebinding (a foreign name that resolves to jenky's address).
//
// The rules (docs/security.md, "A browser on another site"):
//   1. Host: a request must name this server. Accepted are IP literals (a
//      rebinding page cannot make a browser send one), `localhost` and its
//      subdomains, the machine's host name, public_url's host and every
//      [server] allowed_hosts entry (".example.com" also takes subdomains,
//      "*" takes any name). Webhooks and /healthz are not checked: forges
//      sign their deliveries, and health says nothing.
//   2. Origin: a browser's request that changes state carries `Origin` (or at
//      least `Sec-Fetch-Site`); it must be jenky's own origin (the scheme,
//      host and port the request was sent to, when that Host passed rule 1
//      by name rather than by "*"), public_url's origin or an entry of
//      allowed_origins. Requests with neither header (curl, forges, the CLI)
//      are not a browser's and pass.
//   3. Body: a state-changing request with a body must say it is JSON
//      (`Content-Type: application/json`): an HTML form cannot send that
//      cross-site without a CORS preflight, which jenky never grants.
//
// Pure functions of headers and configuration: no I/O, no Beast.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace jenky {

struct ServerConfig;  // config/config.h

// The names and origins a server answers to, made once per configuration.
class SitePolicy {
 public:
  SitePolicy() = default;
  // MACHINE_NAME is gethostname()'s answer ("" to leave it out).
  SitePolicy(const ServerConfig& server, std::string machine_name);

  // Rule 1 for a Host header value ("name", "name:port", "[v6]:port", "1.2.3.4").
  bool HostAllowed(std::string_view host) const;
  // Rule 2: ORIGIN (a header value) is this server's own for a request that
  // named HOST and arrived over TLS or not (SECURE).
  bool OriginAllowed(std::string_view origin, std::string_view host, bool secure) const;

 private:
  // How HOST passed rule 1: not at all, by name or address, or only by "*".
  enum class HostMatch { kNo, kYes, kOnlyWildcard };
  HostMatch MatchHost(std::string_view host) const;

  std::vector<std::string> names_;    // lower case; ".x" = x and its subdomains
  bool any_host_ = false;             // allowed_hosts has "*"
  std::vector<std::string> origins_;  // public_url's origin, allowed_origins
};

// The verdict on one request; kOk or what to answer.
enum class GuardVerdict { kOk, kBadHost, kForeignOrigin, kNotJson };

struct GuardInput {
  std::string_view method;  // "GET", "POST", ...
  std::string_view host;
  std::string_view origin;          // "" when absent
  std::string_view sec_fetch_site;  // "" when absent
  std::string_view content_type;    // "" when absent
  bool has_body = false;            // any byte that is not whitespace
  bool secure = false;              // arrived over TLS
  // Webhooks: forges sign them, send any Host they were given and bodies
  // that need not be JSON (GitHub's form-encoded payloads); only a browser's
  // Origin is checked.
  bool webhook = false;
  bool health = false;  // /healthz: nothing is checked
};

GuardVerdict CheckRequest(const SitePolicy& policy, const GuardInput& in);

// The status code, error code and message for a verdict that is not kOk.
struct GuardAnswer {
  int status;
  const char* code;
  std::string message;
};
GuardAnswer AnswerFor(GuardVerdict verdict, const GuardInput& in);

// "host" of "host:port", "[v6]:port" -> "v6"; lower case.
std::string HostNameOf(std::string_view host);

}  // namespace jenky
