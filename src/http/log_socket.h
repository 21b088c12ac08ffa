// WebSocket log streaming (SPEC.md "WebSocket log protocol"):
// /ws/v1/runs/{id}/log?offset=N and /ws/v1/projects/{name}/log.
//
// One coroutine pair per viewer on the event loop: a reader (client pings,
// close frames) and a writer that sends the log from the viewer's own byte
// offset, reading the run's log file. Nothing is queued per viewer: at most
// one message is in flight, so memory per viewer is bounded whatever the log
// rate; a viewer that reads slowly lags in the file and cannot slow the script
// or other viewers. Viewers at the same offset share one encoded message.
// Dead peers are found by protocol pings (idle timeout); a viewer that falls
// too far behind a live log is closed with a reason saying how to resume.
#pragma once

#include <cstdint>
#include <string>

#include "http/server.h"
#include "server/engine.h"

namespace jenky {

struct LogSocketOptions {
  int64_t run_id = 0;       // stream this run ...
  std::string project;      // ... or follow this project's latest run
  int64_t after_run = 0;    // project stream: start with the first run newer than this
  int64_t offset = 0;
  bool raw = false;         // ?format=raw: log bytes as plain text frames
  std::chrono::seconds idle_timeout{30};
  int64_t max_lag_bytes = 8 << 20;
};

// Takes over EX's connection (the request must be a WebSocket upgrade that
// has passed auth and Origin checks) and serves it until it closes.
net::awaitable<void> ServeLogSocket(Exchange& ex, Engine& engine, LogSocketOptions options);

}  // namespace jenky
