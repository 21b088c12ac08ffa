// WebSocket log streaming (SPEC.md "WebSocket log protocol"):
// /ws/v1/runs/{id}/log?offset=N and /ws/v1/projects/{name}/log.
// ?host=NAME streams a fleet host's own log (runs/ID/hosts/NAME/log) the same
// way: its feed is keyed by run and host, and grows when the run's log does
// (the driver writes a host's line to its log before the merged line,
// exec/fleet_host.cc), so the run's growth wakes it; no timer, no polling.
//
// The hub owns every WebSocket viewer once its upgrade is accepted; the HTTP
// session that carried the request ends there. A viewer is a small state
// machine, not a coroutine: its socket, its byte offset in one run's log, the
// frame it is sending and a few flags (about 1 KiB in all). The log of a run
// is read and encoded once per chunk into a shared, ready-to-send frame (one
// per format: JSON or raw, plain or deflated); every viewer at that offset
// sends the same bytes straight to its socket with a non-blocking send().
//
// Fan-out: when the engine says a run's log grew, the hub posts a flush of
// that run's feed, which goes over its viewers a slice of 1,024 per turn of
// the loop; growth that arrives meanwhile (a pass over 10,000 viewers takes
// tens of milliseconds) reaches the slices not yet sent and starts one more
// pass for the others, so each viewer gets one frame per pass, however many
// lines were written, and waits for a line about one pass at most. A viewer whose
// socket is full keeps its place in the frame, waits for the socket to drain
// and then catches up from the file at its own pace; it never holds up the
// script or other viewers, and one that falls more than ws_max_lag behind a
// live log is closed (1008) with the offset to resume at.
//
// TLS (wss://): a viewer whose connection came over TLS keeps its TlsConn
// (util/tls.h). Its frames, shared or its own, are encrypted into a buffer
// of ciphertext of its own just before they are sent, and that buffer is what
// goes to send() (and to the SendPool helpers), retried from where the socket
// stopped. Plain viewers are untouched: the same shared frame, no copy.
// Closing sends close_notify after the close frame.
//
// Keep-alive: one timer for all viewers sends a protocol ping to a viewer
// silent for half of ws_idle_timeout and drops one silent (or unable to take
// a write) for all of it.
//
// The pieces, one file each: the feed of one run's log and the frames its
// viewers share (log_feed.h), one viewer's state machine (log_viewer.h); the
// hub (this file) owns both, admits viewers, fans growth out and sweeps.
//
// Loop-thread only, like the engine it reads from.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/send_pool.h"
#include "http/server.h"
#include "server/engine.h"
#include "util/tls.h"

namespace jenky {

class LogViewer;  // http/log_viewer.h
struct LogFeed;   // http/log_feed.h

struct LogSocketOptions {
  int64_t run_id = 0;     // stream this run ...
  std::string project;    // ... or follow this project's latest run
  int64_t after_run = 0;  // project stream: start with the first run newer than this
  std::string host;       // ?host=NAME: that fleet host's own log (run_hosts.h)
  int64_t offset = 0;
  bool raw = false;  // ?format=raw: log bytes as plain text frames
  std::chrono::milliseconds idle_timeout{30000};
  int64_t max_lag_bytes = 8 << 20;
};

// Why an upgrade request is not taken: sent as a JSON error by the API.
struct WsRefusal {
  int status;  // HTTP status
  std::string code;
  std::string message;
  std::vector<std::pair<std::string, std::string>> headers;
};

class LogHub {
 public:
  LogHub(net::io_context& io, Engine& engine);
  ~LogHub();
  LogHub(const LogHub&) = delete;
  LogHub& operator=(const LogHub&) = delete;

  // Checks what the hub itself requires of an upgrade request that passed
  // auth and Origin (WebSocket version, key, viewer limits from the engine's
  // configuration).
  std::optional<WsRefusal> Check(const Request& req, const LogSocketOptions& o) const;
  // Takes over an upgraded connection: answers the handshake and streams.
  // LEFTOVER is what the HTTP reader had already read past the request.
  // TLS, when not null, is the connection's TLS state (handshake done).
  void Accept(tcp::socket socket, std::unique_ptr<TlsConn> tls, std::string leftover,
              const Request& req, LogSocketOptions o);
  // Closes every viewer with 1001 and the offset to resume at (shutdown).
  void Shutdown();
  size_t viewers() const { return viewers_.size(); }

  using Viewer = LogViewer;  // log_viewer.h
  using Feed = LogFeed;      // log_feed.h

 private:
  friend class LogViewer;  // it finds its feed and leaves the hub through these

  // A feed is one log: a run's (HOST "") or one of its fleet hosts'.
  using FeedKey = std::pair<int64_t, std::string>;
  Feed* FeedFor(int64_t run_id, const std::string& host = "");
  void OnLog(int64_t run_id);
  void FlushSlice(const FeedKey& key);
  void OnNewRun(const std::string& project);
  void Remove(Viewer* v);
  void ReleaseFeedLater(const FeedKey& key);
  void Sweep();
  void ArmSweep();

  net::io_context& io_;
  Engine& engine_;
  std::vector<std::shared_ptr<Viewer>> viewers_;  // each knows its index
  std::map<FeedKey, std::unique_ptr<Feed>> feeds_;
  std::map<std::string, std::vector<Viewer*>> waiting_;  // project -> viewers between runs
  std::vector<std::shared_ptr<Viewer>> graveyard_;       // dropped, freed on the next turn
  std::unique_ptr<net::steady_timer> sweep_;
  bool sweep_armed_ = false;
  bool shutting_down_ = false;
  SendPool pool_;
};

}  // namespace jenky
