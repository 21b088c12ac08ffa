#include "http/log_routes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <fmt/format.h>

#include "exec/log_index.h"
#include "http/api_error.h"
#include "http/http_stream.h"
#include "http/log_hub.h"
#include "http/params.h"
#include "http/run_hosts.h"
#include "util/logger.h"

namespace jenky {
namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr size_t kLogChunk = 64 * 1024;

}  // namespace

LogRoutes::LogRoutes(Engine& engine, Auth& auth) : engine_(engine), auth_(auth) {}

net::awaitable<void> LogRoutes::GetLog(Exchange& ex, int64_t id) {
  auto found = engine_.GetRun(id);
  if (!found.ok()) {
    co_return co_await SendApiError(ex, ApiError::kInternal, found.status().message());
  }
  if (!found->has_value()) {
    co_return co_await SendApiError(ex, ApiError::kNotFound, fmt::format("no run with id {}", id));
  }
  const Run& run = **found;
  if (run.log_pruned) {
    co_return co_await SendApiError(ex, ApiError::kGone,
                                    fmt::format("the log of run {} was pruned (keep_runs)", id));
  }
  bool follow = false;
  if (const std::string* f = ex.Query("follow")) follow = *f == "1" || *f == "true";
  std::shared_ptr<LogTail> tail = engine_.Tail(id);  // null: the log is complete
  std::string path = engine_.LogPath(id);
  // ?host=NAME: one host's log of a fleet run (docs/fleet.md). Its driver
  // writes it as the run's log grows, so the run's tail paces it.
  const std::string* host = ex.Query("host");
  if (host) {
    path = HostLogOf(path, *host);
    if (path.empty()) {
      co_return co_await SendApiError(ex, ApiError::kNotFound,
                                      fmt::format("run {} has no host named '{}'", id, *host));
    }
    if (ex.Query("line")) {
      co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                      "line cannot be used with host; use offset");
    }
  }

  int64_t offset = 0;
  if (const std::string* o = ex.Query("offset")) {
    if (!ParseInt(*o, offset)) {
      co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                      "offset must be a byte count (0 or more)");
    }
  } else if (const std::string* l = ex.Query("line")) {
    int64_t line;
    if (!ParseInt(*l, line) || line < 1) {
      co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                      "line must be a line number (1 or more)");
    }
    auto off = OffsetOfLine(path, engine_.IndexPath(id), line - 1);
    offset = off.ok() ? *off : 0;
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  int64_t size = 0;
  if (fd >= 0) {
    struct stat st;
    if (fstat(fd, &st) == 0) size = st.st_size;
  }
  struct CloseFd {
    int& fd;
    ~CloseFd() {
      if (fd >= 0) close(fd);
    }
  } closer{fd};
  if (!tail && offset > size) {
    co_return co_await SendApiError(
        ex, ApiError::kOffsetOutOfRange,
        fmt::format("offset {} is past the end of the log ({} bytes)", offset, size));
  }

  http::response<http::empty_body> res{http::status::ok, ex.req().version()};
  res.set(http::field::server, "jenky");
  res.set(http::field::date, HttpDate());
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.set("X-Jenky-Run-Status", RunStatusName(run.status));
  res.set("X-Jenky-Log-Offset", std::to_string(offset));
  res.keep_alive(ex.keep_alive());
  if (follow) {
    res.set("X-Accel-Buffering", "no");
    res.chunked(true);
  } else {
    res.content_length(std::max<int64_t>(0, size - offset));
  }
  ex.mark_responded();
  HttpStream& stream = ex.stream();
  http::response_serializer<http::empty_body> sr{res};
  stream.expires_after(ex.limits().write_timeout);
  if (auto [ec, n] = co_await http::async_write_header(stream, sr, kTuple); ec) {
    ex.set_keep_alive(false);
    co_return;
  }
  if (ex.req().method() == http::verb::head) co_return;

  std::string buf(kLogChunk, '\0');
  // Sends [offset, end) from the file; false if the client went away.
  auto send_until = [&](int64_t end) -> net::awaitable<bool> {
    while (offset < end && fd >= 0) {
      size_t want = static_cast<size_t>(std::min<int64_t>(end - offset, kLogChunk));
      ssize_t n = pread(fd, buf.data(), want, offset);
      if (n <= 0) break;
      stream.expires_after(ex.limits().write_timeout);
      boost::system::error_code ec;
      if (follow) {
        std::tie(ec, std::ignore) =
            co_await net::async_write(stream, http::make_chunk(net::buffer(buf.data(), n)), kTuple);
      } else {
        std::tie(ec, std::ignore) =
            co_await net::async_write(stream, net::buffer(buf.data(), n), kTuple);
      }
      if (ec) co_return false;
      offset += n;
    }
    co_return true;
  };

  if (!follow) {
    if (!co_await send_until(size)) ex.set_keep_alive(false);
    co_return;
  }
  // A host's log has no tail of its own: its size is read at each turn.
  auto host_log_size = [&]() -> int64_t {
    struct stat st;
    if (fd < 0) fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    return fd >= 0 && fstat(fd, &st) == 0 ? st.st_size : 0;
  };
  for (;;) {
    bool finished = !tail || tail->finished;
    int64_t end = host ? host_log_size() : tail ? tail->size : size;
    if (fd < 0 && end > 0) {
      fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);  // created when the run started
    }
    if (!co_await send_until(end)) {
      ex.set_keep_alive(false);
      co_return;
    }
    if (host && finished && offset >= host_log_size()) break;
    if (host && !finished && offset < host_log_size()) continue;
    if (!host && (!tail || (tail->finished && offset >= tail->size))) break;
    if (!host && offset < tail->size) continue;
    // Wait for more, waking now and then to notice a client that left.
    using namespace net::experimental::awaitable_operators;
    std::shared_ptr<net::steady_timer> changed = tail->changed;
    net::steady_timer patience(stream.get_executor(), std::chrono::seconds(15));
    co_await (changed->async_wait(kTuple) || patience.async_wait(kTuple));
    if (stream.PeerGone()) {
      ex.set_keep_alive(false);
      co_return;
    }
  }
  stream.expires_after(ex.limits().write_timeout);
  auto [ec, n] = co_await net::async_write(stream, http::make_chunk_last(), kTuple);
  if (ec) ex.set_keep_alive(false);
}

net::awaitable<void> LogRoutes::Socket(Exchange& ex, bool project_stream, const std::string& name) {
  Principal p = auth_.Authenticate(ex);
  if (p.scopes == 0 && !co_await auth_.CheckRateLimit(ex, auth_.auth_failures())) co_return;
  if (!co_await auth_.Require(ex, p, kScopeRead)) co_return;
  // A WebSocket has no same-origin rule: a page elsewhere could read live
  // logs through the visitor's cookie. Host does not vouch for the origin
  // unless it named this server (request_guard.h).
  std::string origin = ex.Header("Origin");
  if (!origin.empty() && !auth_.Policy().OriginAllowed(origin, ex.Header("Host"), ex.secure())) {
    LogWarning("WebSocket from {} refused: Origin {} is not allowed", auth_.Caller(ex),
               ex.Header("Origin"));
    co_return co_await SendApiError(ex, ApiError::kForbiddenOrigin,
                                    fmt::format("Origin {} is not allowed; add it to [server] "
                                                "allowed_origins",
                                                ex.Header("Origin")));
  }
  LogSocketOptions o;
  o.idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      engine_.config().server.ws_idle_timeout);
  o.max_lag_bytes = engine_.config().server.ws_max_lag_bytes;
  if (const std::string* f = ex.Query("format")) {
    if (*f != "raw" && *f != "json") {
      co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                      "format must be json (default) or raw");
    }
    o.raw = *f == "raw";
  }
  if (project_stream) {
    if (!engine_.config().FindProject(name)) {
      co_return co_await SendApiError(ex, ApiError::kNotFound,
                                      fmt::format("no project named '{}'", name));
    }
    o.project = name;
    if (const std::string* after = ex.Query("after")) {
      if (!ParseInt(*after, o.after_run)) {
        co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                        "after must be a run id (a number)");
      }
    }
  } else {
    if (!ParseInt(name, o.run_id)) {
      co_return co_await SendApiError(
          ex, ApiError::kNotFound, fmt::format("'{}' is not a run id; run ids are numbers", name));
    }
    auto run = engine_.GetRun(o.run_id);
    if (!run.ok() || !run->has_value()) {
      co_return co_await SendApiError(ex, ApiError::kNotFound,
                                      fmt::format("no run with id {}", o.run_id));
    }
    if ((*run)->log_pruned) {
      co_return co_await SendApiError(
          ex, ApiError::kGone, fmt::format("the log of run {} was pruned (keep_runs)", o.run_id));
    }
    if (const std::string* off = ex.Query("offset")) {
      if (!ParseInt(*off, o.offset)) {
        co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                        "offset must be a byte count (0 or more)");
      }
    }
    if (IsFinished((*run)->status) && o.offset > (*run)->log_bytes) {
      co_return co_await SendApiError(ex, ApiError::kOffsetOutOfRange,
                                      fmt::format("offset {} is past the end of the log ({} bytes)",
                                                  o.offset, (*run)->log_bytes));
    }
  }
  if (!beast::websocket::is_upgrade(ex.req())) {
    ex.extra_headers().emplace_back("Upgrade", "websocket");
    co_return co_await SendApiError(
        ex, ApiError::kUpgradeRequired,
        "this is a WebSocket endpoint; connect with a WebSocket client, "
        "or use GET /api/v1/runs/{id}/log?follow=1 for plain HTTP");
  }
  if (!hub_) {
    co_return co_await SendApiError(ex, ApiError::kUnavailable, "log streaming is not available");
  }
  if (std::optional<WsRefusal> no = hub_->Check(ex.req(), o)) {
    for (auto& h : no->headers) ex.extra_headers().push_back(h);
    co_return co_await ex.SendError(static_cast<http::status>(no->status), no->code, no->message);
  }
  std::string leftover = ex.TakeLeftover();
  HttpStream stream = ex.TakeStream();
  stream.expires_never();
  std::unique_ptr<TlsConn> tls = stream.ReleaseTls();
  hub_->Accept(stream.ReleaseSocket(), std::move(tls), std::move(leftover), ex.req(), std::move(o));
}

}  // namespace jenky
