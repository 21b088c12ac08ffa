// HTTP API v1 (SPEC.md "HTTP API"): routing, authentication and the handlers
// that turn requests into Engine calls and Engine results into JSON.
//
// Loop-thread only, like the Engine it drives.
#pragma once

#include <map>
#include <string>

#include "util/client_address.h"
#include "http/request_guard.h"
#include "http/server.h"
#include "server/engine.h"
#include "util/rate_limiter.h"

namespace jenky {

struct Principal {
  std::string name;     // token name, "local" when no tokens are configured
  unsigned scopes = 0;  // kScope* bits; 0 = not authenticated
};

class Api {
 public:
  // WEB_DIR, if not empty, serves the UI from disk instead of the embedded copy.
  // RESTART is called (after the answer is sent) for POST /api/v1/admin/restart.
  Api(Engine& engine, std::string web_dir, std::function<void()> restart = {});

  net::awaitable<void> Handle(Exchange& ex);
  // Where WebSocket log viewers go once their upgrade is accepted.
  void set_log_hub(class LogHub* hub) { hub_ = hub; }
  // Asked before a restart is accepted: the process that replaces this one
  // must be able to start (its config, TLS pair included, loads). An error
  // refuses the restart (409) and this process keeps serving.
  void set_restart_check(std::function<Status()> check) { restart_check_ = std::move(check); }

 private:
  Principal Authenticate(const Exchange& ex);
  // Sends 401/403 and returns false if P lacks SCOPE.
  net::awaitable<bool> Require(Exchange& ex, const Principal& p, unsigned scope);

  net::awaitable<void> ListProjects(Exchange& ex);
  net::awaitable<void> GetProject(Exchange& ex, const std::string& name);
  net::awaitable<void> TriggerRun(Exchange& ex, const std::string& project, const Principal& p);
  net::awaitable<void> ListRuns(Exchange& ex, const std::string& project);
  net::awaitable<void> Rollback(Exchange& ex, const std::string& project, const Principal& who);
  net::awaitable<void> GetRun(Exchange& ex, int64_t id);
  net::awaitable<void> CancelRun(Exchange& ex, int64_t id, const Principal& p);
  net::awaitable<void> GetLog(Exchange& ex, int64_t id);
  net::awaitable<void> GetScript(Exchange& ex, int64_t id);
  net::awaitable<void> Session(Exchange& ex);
  net::awaitable<void> Hook(Exchange& ex, const std::string& project);
  net::awaitable<void> ListDeliveries(Exchange& ex, const std::string& project);
  net::awaitable<void> ServeWebAsset(Exchange& ex);
  net::awaitable<void> LogSocketRoute(Exchange& ex, bool project_stream, const std::string& name);
  // The Host, Origin and Content-Type rules of http/request_guard.h; sends
  // the refusal and returns false when EX breaks one.
  net::awaitable<bool> Guard(Exchange& ex, bool webhook, bool health);
  // The policy for the configuration in force (rebuilt after a reload).
  const SitePolicy& Policy();
  // 400 if the request body nests JSON deeper than [server] max_json_depth.
  net::awaitable<bool> CheckJsonDepth(Exchange& ex);
  // 429 with Retry-After if the caller used up its failed-auth allowance in
  // LIMITER. Asked only of requests that did not prove a credential: a valid
  // token, session or signature is never refused by it (behind a proxy every
  // user shares one address with whoever guesses).
  net::awaitable<bool> CheckRateLimit(Exchange& ex, RateLimiter& limiter);
  // Who sent EX: the peer, or a trusted proxy's X-Forwarded-For.
  std::string Caller(const Exchange& ex);

  Engine& engine_;
  class LogHub* hub_ = nullptr;
  std::string web_dir_;
  std::function<void()> restart_;
  std::function<Status()> restart_check_;
  struct SessionEntry {
    std::string name;
    unsigned scopes;
    int64_t expires_at;  // unix ms
  };
  std::map<std::string, SessionEntry> sessions_;  // sha256(session id) -> entry
  std::string machine_name_;
  SitePolicy policy_;
  // What policy_ was made from, to notice a reload.
  std::string policy_public_url_;
  std::vector<std::string> policy_hosts_, policy_origins_, policy_proxies_;
  AddressSet proxies_;
  bool policy_made_ = false;
  RateLimiter auth_failures_;  // tokens, sessions, sign-ins
  RateLimiter hook_failures_;  // webhook signatures: a flood of unsigned posts is its own
  LogThrottle rejection_log_{30};  // per address: a flood must not flood the journal
};

}  // namespace jenky
