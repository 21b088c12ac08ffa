// HTTP API v1 (SPEC.md "HTTP API"): the route table and the handlers that
// turn requests into Engine calls and Engine results into JSON. What a route
// needs besides (who is asking: auth.h; a run's log: log_routes.h; webhooks:
// hook_route.h; the UI's files: web_assets.h; error codes: api_error.h)
// lives beside it.
//
// Every request passes, in this order: the cross-site and Host rules
// (Auth::Guard), the route table (404 for no route, 405 with Allow for a
// route without that method), authentication and the failed-auth limit for
// routes with a scope, the scope itself (401/403), then the handler.
//
// Loop-thread only, like the Engine it drives.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "http/auth.h"
#include "http/control_routes.h"
#include "http/log_routes.h"
#include "http/server.h"
#include "server/engine.h"

namespace jenky {

class Api {
 public:
  // WEB_DIR, if not empty, serves the UI from disk instead of the embedded copy.
  // RESTART is called (after the answer is sent) for POST /api/v1/admin/restart.
  Api(Engine& engine, std::string web_dir, std::function<void()> restart = {});

  net::awaitable<void> Handle(Exchange& ex);
  // The [server] metrics_listen address: GET /metrics without
  // authentication, 404 for anything else (outbox_routes.cc).
  net::awaitable<void> HandleMetricsOnly(Exchange& ex);
  // Where WebSocket log viewers go once their upgrade is accepted.
  void set_log_hub(class LogHub* hub) {
    logs_.set_log_hub(hub);
    hub_ = hub;
  }
  // Next fire times for GET /api/v1/projects/{name} (server/schedules.h).
  void set_schedules(const class Schedules* schedules) { schedules_ = schedules; }
  // Asked before a restart is accepted: the process that replaces this one
  // must be able to start (its config, TLS pair included, loads). An error
  // refuses the restart (409) and this process keeps serving.
  void set_restart_check(std::function<Status()> check) { restart_check_ = std::move(check); }

  // A path segment of a matched route: "{name}" as written, "{id}" parsed.
  struct Args {
    std::string name;
    int64_t id = 0;
  };
  using Handler = net::awaitable<void> (Api::*)(Exchange&, const Args&, const Principal&);
  struct Route {
    http::verb method;    // GET also answers HEAD; unknown: every method
    const char* pattern;  // "/api/v1/runs/{id}/log"
    unsigned scope;       // kScope*; 0: the handler authenticates itself, or nobody must
    Handler handler;
  };
  // The table, in the order routes are matched and Allow lists methods.
  static const std::vector<Route>& Routes();

 private:
  net::awaitable<void> Health(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> Version(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> Restart(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> SessionRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> ListProjectsRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> GetProjectRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> TriggerRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> RollbackRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> DeliveriesRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> ListProjectRunsRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> ListAllRunsRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> GetRunRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> CancelRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> LogRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> TimesRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> ScriptRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> RunSocketRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> ProjectSocketRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> HookRoute(Exchange& ex, const Args& a, const Principal& p);
  // The outbox and the metrics (outbox_routes.cc).
  net::awaitable<void> RunMessagesRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> ProjectMessagesRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> MetricsRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> ListMessages(Exchange& ex, const std::string& project, int64_t run);
  net::awaitable<void> PauseRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> ResumeRoute(Exchange& ex, const Args& a, const Principal& p);
  net::awaitable<void> AuditRoute(Exchange& ex, const Args& a, const Principal& p);

  net::awaitable<void> ListProjects(Exchange& ex);
  net::awaitable<void> GetProject(Exchange& ex, const std::string& name);
  net::awaitable<void> TriggerRun(Exchange& ex, const std::string& project, const Principal& p);
  net::awaitable<void> ListRuns(Exchange& ex, const std::string& project);
  // R's JSON in a list (runs, a project's last run): ListedRunJson/Text
  // (run_hosts.h) with R's project. GET /api/v1/runs/{id} always looks for
  // hosts.
  nlohmann::json ListedRunJson(const Run& r);
  net::awaitable<void> Rollback(Exchange& ex, const std::string& project, const Principal& who);
  net::awaitable<void> GetRun(Exchange& ex, int64_t id);
  net::awaitable<void> CancelRun(Exchange& ex, int64_t id, const Principal& p);
  net::awaitable<void> GetScript(Exchange& ex, int64_t id);
  net::awaitable<void> ListDeliveries(Exchange& ex, const std::string& project);

  Engine& engine_;
  const class Schedules* schedules_ = nullptr;
  Auth auth_;
  LogRoutes logs_;
  ControlRoutes controls_;
  std::string web_dir_;
  std::function<void()> restart_;
  std::function<Status()> restart_check_;
  class LogHub* hub_ = nullptr;  // for the viewers gauge of /metrics
};

}  // namespace jenky
