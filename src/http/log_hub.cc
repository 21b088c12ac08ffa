#include "http/log_hub.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>
#include <boost/asio/post.hpp>

#include "http/log_feed.h"
#include "http/log_viewer.h"
#include "http/run_hosts.h"
#include "http/ws_codec.h"

namespace jenky {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kSlice = 1024;  // viewers flushed in one turn of the loop

}  // namespace

LogHub::LogHub(net::io_context& io, Engine& engine)
    : io_(io),
      engine_(engine),
      sweep_(std::make_unique<net::steady_timer>(io)),
      pool_(std::clamp(static_cast<int>(std::thread::hardware_concurrency()) - 1, 0, 3)) {
  engine_.SetLogListener([this](int64_t id) { OnLog(id); });
  engine_.SetNewRunListener([this](const std::string& project) { OnNewRun(project); });
}

LogHub::~LogHub() {
  engine_.SetLogListener(nullptr);
  engine_.SetNewRunListener(nullptr);
  for (auto& v : std::vector<std::shared_ptr<Viewer>>(viewers_)) v->Drop();
}

std::optional<WsRefusal> LogHub::Check(const Request& req, const LogSocketOptions& o) const {
  auto header = [&](http::field f) {
    auto it = req.find(f);
    return it == req.end() ? std::string() : std::string(it->value());
  };
  if (header(http::field::sec_websocket_version) != "13") {
    return WsRefusal{426,
                     "upgrade_required",
                     "this server speaks WebSocket version 13 (RFC 6455)",
                     {{"Sec-WebSocket-Version", "13"}}};
  }
  if (!WsValidClientKey(header(http::field::sec_websocket_key))) {
    return WsRefusal{400,
                     "bad_request",
                     "Sec-WebSocket-Key must be the base64 of 16 random bytes (RFC 6455)",
                     {}};
  }
  const ServerConfig& server = engine_.config().server;
  if (shutting_down_) {
    return WsRefusal{
        503, "unavailable", "jenky is restarting; reconnect in a moment", {{"Retry-After", "1"}}};
  }
  if (viewers_.size() >= static_cast<size_t>(server.ws_max_viewers)) {
    return WsRefusal{503,
                     "too_many_viewers",
                     fmt::format("{} WebSocket viewers are connected, the most [server] "
                                 "ws_max_viewers allows; try again later",
                                 viewers_.size()),
                     {{"Retry-After", "5"}}};
  }
  if (o.project.empty()) {
    size_t of_run = 0;  // its own log's viewers and its hosts'
    for (auto it = feeds_.lower_bound({o.run_id, ""});
         it != feeds_.end() && it->first.first == o.run_id; ++it) {
      of_run += it->second->viewers.size();
    }
    if (of_run >= static_cast<size_t>(server.ws_max_viewers_per_run)) {
      return WsRefusal{503,
                       "too_many_viewers",
                       fmt::format("run {} has {} viewers, the most [server] "
                                   "ws_max_viewers_per_run allows; try again later",
                                   o.run_id, of_run),
                       {{"Retry-After", "5"}}};
    }
  }
  return std::nullopt;
}

void LogHub::Accept(tcp::socket socket, std::unique_ptr<TlsConn> tls, std::string leftover,
                    const Request& req, LogSocketOptions o) {
  boost::system::error_code ec;
  socket.non_blocking(true, ec);
  socket.set_option(tcp::no_delay(true), ec);  // whole frames; never wait for an ACK
  std::optional<std::string> deflate;
  if (auto it = req.find(http::field::sec_websocket_extensions); it != req.end()) {
    deflate = WsNegotiateDeflate(std::string_view(it->value().data(), it->value().size()));
  }
  auto key = req.find(http::field::sec_websocket_key);
  std::string handshake = fmt::format(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: {}\r\nServer: jenky\r\n",
      WsAcceptKey(std::string_view(key->value().data(), key->value().size())));
  if (deflate) handshake += "Sec-WebSocket-Extensions: " + *deflate + "\r\n";
  handshake += "\r\n";
  auto v = std::make_shared<Viewer>(*this, std::move(socket), std::move(tls), std::move(o),
                                    deflate.has_value());
  v->index = viewers_.size();
  viewers_.push_back(v);
  ArmSweep();
  v->Start(std::move(handshake), std::move(leftover));
}

void LogHub::Shutdown() {
  shutting_down_ = true;
  for (auto& v : std::vector<std::shared_ptr<Viewer>>(viewers_)) {
    std::string reason = "jenky is restarting; reconnect";
    if (v->phase() == Viewer::Phase::kStreaming && v->options().project.empty()) {
      reason += fmt::format(" with ?offset={}", v->offset());
    }
    v->Close(static_cast<uint16_t>(WsClose::kServiceRestart), reason);
    v->Pump();
  }
}

LogHub::Feed* LogHub::FeedFor(int64_t run_id, const std::string& host) {
  auto& slot = feeds_[{run_id, host}];
  if (!slot) {
    slot = std::make_unique<Feed>();
    slot->run_id = run_id;
    slot->host = host;
    // HOST was found in the run (or, before the run reached its hosts, in its
    // project's) when the socket was accepted (log_routes.cc).
    slot->path =
        host.empty() ? engine_.LogPath(run_id) : HostLogFile(engine_.LogPath(run_id), host);
    slot->Refresh(engine_);
  }
  return slot.get();
}

void LogHub::ReleaseFeedLater(const FeedKey& key) {
  net::post(io_, [this, key] {
    auto it = feeds_.find(key);
    if (it != feeds_.end() && it->second->viewers.empty()) feeds_.erase(it);
  });
}

void LogHub::OnLog(int64_t run_id) {
  // The run's log and its hosts' logs: a host's line is in both.
  for (auto it = feeds_.lower_bound({run_id, ""}); it != feeds_.end() && it->first.first == run_id;
       ++it) {
    Feed& feed = *it->second;
    if (feed.slice_posted || feed.cursor > 0) {
      feed.again = true;  // the slices still to come see it; those sent get another pass
      continue;
    }
    // Posted, not run now: growth that arrives meanwhile joins this flush.
    feed.slice_posted = true;
    net::post(io_, [this, key = it->first] { FlushSlice(key); });
  }
}

void LogHub::FlushSlice(const FeedKey& key) {
  auto it = feeds_.find(key);
  if (it == feeds_.end()) return;
  Feed& feed = *it->second;
  feed.slice_posted = false;
  feed.Refresh(engine_);
  // A copy: pumping may close viewers or move them to another run. Dropped
  // viewers stay allocated (graveyard_) until the next turn of the loop.
  size_t end = std::min(feed.viewers.size(), feed.cursor + kSlice);
  std::vector<Viewer*> viewers(feed.viewers.begin() + std::min(feed.cursor, end),
                               feed.viewers.begin() + end);
  feed.cursor = end;
  // Viewers that are idle get their next frame (mostly the same shared one)
  // in one batch, sent on every core (send_pool.h); the others pump alone.
  std::vector<Viewer*> batched;
  std::vector<SendPool::Job> jobs;
  for (Viewer* v : viewers) {
    if (v->feed() != &feed) continue;
    if (v->StartBatch()) {
      batched.push_back(v);
      std::string_view bytes = v->batch_bytes();
      jobs.push_back(SendPool::Job{v->fd(), bytes.data(), bytes.size()});
    } else {
      v->Pump();
    }
  }
  pool_.SendAll(jobs);
  for (size_t i = 0; i < batched.size(); ++i) batched[i]->FinishBatch(jobs[i].sent, jobs[i].error);
  // (The feed outlives this turn: an emptied feed is released later.)
  if (feed.cursor >= feed.viewers.size()) {
    feed.cursor = 0;  // the pass is over
    if (!feed.again) return;
    feed.again = false;
  }
  feed.slice_posted = true;
  net::post(io_, [this, key] { FlushSlice(key); });
}

void LogHub::OnNewRun(const std::string& project) {
  auto it = waiting_.find(project);
  if (it == waiting_.end() || it->second.empty()) return;
  auto latest = engine_.LastRun(project);
  if (!latest.ok() || !latest->has_value()) return;
  int64_t id = (*latest)->id;
  std::vector<Viewer*> waiting = std::move(it->second);
  it->second.clear();
  for (Viewer* v : waiting) {
    if (v->phase() != Viewer::Phase::kBetweenRuns) continue;
    if (id > v->current_run()) {
      v->SwitchTo(id);
    } else {
      waiting_[project].push_back(v);
    }
  }
}

void LogHub::Remove(Viewer* v) {
  size_t i = v->index;
  graveyard_.push_back(std::move(viewers_[i]));
  if (i + 1 != viewers_.size()) {
    viewers_[i] = std::move(viewers_.back());
    viewers_[i]->index = i;
  }
  viewers_.pop_back();
  if (graveyard_.size() == 1) {
    net::post(io_, [this] { graveyard_.clear(); });
  }
}

void LogHub::ArmSweep() {
  if (sweep_armed_) return;
  sweep_armed_ = true;
  sweep_->expires_after(std::chrono::seconds(1));
  sweep_->async_wait([this](boost::system::error_code ec) {
    sweep_armed_ = false;
    if (ec) return;
    Sweep();
  });
}

void LogHub::Sweep() {
  auto now = Clock::now();
  for (auto& v : std::vector<std::shared_ptr<Viewer>>(viewers_)) v->Tick(now);
  if (!viewers_.empty()) ArmSweep();
}

}  // namespace jenky