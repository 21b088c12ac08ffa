// A run's log over HTTP and WebSocket (SPEC.md "HTTP API", "WebSocket log
// protocol"):
//   GET /api/v1/runs/{id}/log[?offset=N|line=N][&follow=1]: bytes from the
//     log file, and with follow=1 a chunked stream that ends with the run;
//   GET /api/v1/runs/{id}/log/times[?from_line=N&to_line=M]: when each line
//     started, as the supervisor captured it (exec/log_index.h);
//   GET /ws/v1/runs/{id}/log and /ws/v1/projects/{name}/log: checks the
//     request (auth, origin, offsets) and hands the connection to the LogHub.
//
// Loop-thread only.
#pragma once

#include <string>

#include "http/auth.h"
#include "http/server.h"
#include "server/engine.h"

namespace jenky {

class LogHub;

class LogRoutes {
 public:
  LogRoutes(Engine& engine, Auth& auth);
  void set_log_hub(LogHub* hub) { hub_ = hub; }

  // The plain-HTTP log of run ID (the caller checked the read scope).
  net::awaitable<void> GetLog(Exchange& ex, int64_t id);
  // {"run", "lines", "times": [[line, unix_ms], ...]} of run ID.
  net::awaitable<void> GetTimes(Exchange& ex, int64_t id);
  // A WebSocket viewer of run NAME's log, or (PROJECT_STREAM) of project
  // NAME's latest run; authenticates itself.
  net::awaitable<void> Socket(Exchange& ex, bool project_stream, const std::string& name);

 private:
  Engine& engine_;
  Auth& auth_;
  LogHub* hub_ = nullptr;
};

}  // namespace jenky
