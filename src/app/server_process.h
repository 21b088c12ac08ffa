// `jenky serve`: the composition root. It loads the configuration, takes the
// data directory (one server per directory: server.lock), opens the store,
// and wires the engine (src/server/), the HTTP API and WebSocket hub
// (src/http/) to one event loop, which it runs until SIGTERM or SIGINT.
//
// It also owns what happens to the process as a whole:
//   - SIGHUP reloads the configuration (a bad one is refused, the running
//     one kept);
//   - SIGTERM/SIGINT drain: stop accepting, let requests in flight finish
//     (2 s at most), close viewers with 1012; runs go on in their supervisors;
//   - `jenky upgrade` outside systemd re-executes the binary at its path
//     with the listening socket handed over (LISTEN_FDS);
//   - systemd: READY/STATUS/RELOADING/STOPPING notifications and the watchdog.
//
// Single-threaded: everything runs on the loop thread, like the engine.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/serve.h"
#include "config/config.h"
#include "net/asio.h"
#include "util/status.h"

namespace jenky {

class Api;
class Engine;
class HttpServer;
class LogHub;
class Poller;
class Schedules;

class ServerProcess {
 public:
  explicit ServerProcess(ServeOptions options);
  ~ServerProcess();

  // Serves until stopped; the process's exit code.
  int Run();

 private:
  // Data directory, server.lock, store, engine, API, hub, HTTP server and its
  // socket; logs what failed and returns the exit code (0 = ready to run).
  int Open();
  // Changes that arrive without a webhook: [projects.X.poll] and schedules.
  void StartPollsAndSchedules();
  // [server] metrics_listen: a second server answering GET /metrics alone.
  Status ListenForMetrics();
  // Handles the next SIGHUP (reload), SIGTERM or SIGINT (stop).
  void WatchSignals();
  void Reload();
  void Stop(int sig);
  // `jenky upgrade` outside systemd: exec the binary at our path with the
  // listening socket on fd 3; returns only when that is impossible.
  void ReExec();
  std::string StatusLine() const;
  void PetWatchdog(std::chrono::microseconds interval);

  ServeOptions options_;
  Config config_;
  net::io_context io_{1};
  std::string self_;  // this binary, for supervisors and re-exec
  int lock_fd_ = -1;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<LogHub> hub_;
  std::unique_ptr<HttpServer> server_;
  // Changes that arrive without a webhook (server/poller.h, schedules.h).
  std::unique_ptr<Poller> poller_;
  std::unique_ptr<Schedules> schedules_;
  std::unique_ptr<HttpServer> metrics_server_;  // [server] metrics_listen
  std::optional<tcp::endpoint> listening_;
  net::signal_set signals_{io_};
  bool watching_ = false;  // signals_ has its signals
  net::steady_timer watchdog_{io_};
};

// The configuration `serve` runs with: the file (or the embedded default)
// plus the command line's overrides, checked the way serving needs. Prints
// every problem; 0 when usable, else the exit code.
int BuildConfig(const ServeOptions& options, Config& config);

// "No [[tokens]] means loopback only" for a socket jenky did not bind itself
// (systemd's, or its own from before an upgrade).
Status CheckOpenWithoutTokens(const Config& config, const tcp::endpoint& bound);

}  // namespace jenky
