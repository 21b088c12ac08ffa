// Who is asking, and may they: tokens, UI sessions, the failed-auth limits,
// and the rules that keep a foreign web page from acting through a visitor's
// browser (http/request_guard.h). One per server; the API, the log routes and
// the webhook route ask it.
//
// Loop-thread only, like the Engine whose configuration it reads (reloads
// take effect at the next request).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "http/request_guard.h"
#include "http/server.h"
#include "server/engine.h"
#include "util/client_address.h"
#include "util/rate_limiter.h"

namespace jenky {

struct Principal {
  std::string name;     // token name, "local" when no tokens are configured
  unsigned scopes = 0;  // kScope* bits; 0 = not authenticated
};

class Auth {
 public:
  explicit Auth(Engine& engine);

  // The bearer token or session cookie of EX; no scopes when there is none
  // or it is wrong (a wrong token counts as a failure of its caller).
  Principal Authenticate(const Exchange& ex);
  // Sends 401/403 and returns false if P lacks SCOPE.
  net::awaitable<bool> Require(Exchange& ex, const Principal& p, unsigned scope);
  // The Host, Origin and Content-Type rules of http/request_guard.h; sends
  // the refusal and returns false when EX breaks one.
  net::awaitable<bool> Guard(Exchange& ex, bool webhook, bool health);
  // 429 with Retry-After if the caller used up its failed-auth allowance in
  // LIMITER. Asked only of requests that did not prove a credential: a valid
  // token, session or signature is never refused by it (behind a proxy every
  // user shares one address with whoever guesses).
  net::awaitable<bool> CheckRateLimit(Exchange& ex, RateLimiter& limiter);
  // Who sent EX: the peer, or a trusted proxy's X-Forwarded-For.
  std::string Caller(const Exchange& ex);
  // The policy for the configuration in force (rebuilt after a reload).
  const SitePolicy& Policy();

  // GET (who am I), POST (sign in with a token), DELETE (sign out)
  // /api/v1/session.
  net::awaitable<void> SessionRoute(Exchange& ex);

  RateLimiter& auth_failures() { return auth_failures_; }  // tokens, sessions, sign-ins
  RateLimiter& hook_failures() { return hook_failures_; }  // webhook signatures
  // Per caller: a flood of refusals must not flood the journal.
  LogThrottle& rejection_log() { return rejection_log_; }

 private:
  Engine& engine_;
  struct SessionEntry {
    std::string name;
    unsigned scopes;
    int64_t expires_at;  // unix ms
  };
  std::map<std::string, SessionEntry> sessions_;  // sha256(session id) -> entry
  std::string machine_name_;
  SitePolicy policy_;
  AddressSet proxies_;
  uint64_t policy_version_ = 0;  // the Engine's config_version() policy_ was made for
  RateLimiter auth_failures_;
  RateLimiter hook_failures_;  // a flood of unsigned posts is its own
  LogThrottle rejection_log_{30};
};

// A cookie's value from a Cookie header, "" if absent.
std::string CookieValue(const std::string& header, std::string_view name);

}  // namespace jenky
