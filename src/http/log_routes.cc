#include "http/log_routes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <iterator>

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

net::awaitable<void> LogRoutes::GetTimes(Exchange& ex, int64_t id) {
  auto found = engine_.GetRun(id);
  if (!found.ok()) {
    co_return co_await SendApiError(ex, ApiError::kInternal, found.status().message());
  }
  if (!found->has_value()) {
    co_return co_await SendApiError(ex, ApiError::kNotFound, fmt::format("no run with id {}", id));
  }
  if ((*found)->log_pruned) {
    co_return co_await SendApiError(ex, ApiError::kGone,
                                    fmt::format("the log of run {} was pruned (keep_runs)", id));
  }
  int64_t from = 0;
  int64_t to = INT64_MAX;
  for (auto [name, value] : {std::pair{"from_line", &from}, std::pair{"to_line", &to}}) {
    const std::string* q = ex.Query(name);
    if (q && !ParseInt(*q, *value)) {
      co_return co_await SendApiError(
          ex, ApiError::kBadRequest,
          fmt::format("{} must be a 0-based line number (0 or more)", name));
    }
  }
  std::string body = fmt::format(R"({{"run":{},"times":[)", id);
  bool first = true;
  for (const TimeRecord& r : ReadTimes(engine_.LogPath(id) + ".times", from, to)) {
    fmt::format_to(std::back_inserter(body), "{}[{},{}]", first ? "" : ",", r.line, r.unix_ms);
    first = false;
  }
  body += "]}";
  co_await ex.SendJson(http::status::ok, std::move(body));
}

namespace {

// Where GET .../log starts: offset=N, or line=N (1-based, through the line
// index); a message for the 400 when either is malformed.
Result<int64_t> StartOffset(Exchange& ex, const std::string& log, const std::string& index) {
  int64_t offset = 0;
  if (const std::string* o = ex.Query("offset")) {
    if (!ParseInt(*o, offset)) return Status::Error("offset must be a byte count (0 or more)");
  } else if (const std::string* l = ex.Query("line")) {
    int64_t line;
    if (!ParseInt(*l, line) || line < 1) {
      return Status::Error("line must be a line number (1 or more)");
    }
    auto off = OffsetOfLine(log, index, line - 1);
    offset = off.ok() ? *off : 0;
  }
  return offset;
}

// The log file, read from OFFSET on and written to the client as it is, or
// (FOLLOW) as chunks of a chunked response. The file may not exist yet (a
// run that has not started): it is opened when bytes are wanted.
class LogFileSender {
 public:
  LogFileSender(Exchange& ex, std::string path, int64_t offset, bool follow)
      : ex_(ex), path_(std::move(path)), offset_(offset), follow_(follow), buf_(kLogChunk, '\0') {
    Open();
  }
  ~LogFileSender() {
    if (fd_ >= 0) close(fd_);
  }
  LogFileSender(const LogFileSender&) = delete;
  LogFileSender& operator=(const LogFileSender&) = delete;

  // The file's size now (0 when it does not exist yet).
  int64_t size() const {
    struct stat st;
    return fd_ >= 0 && fstat(fd_, &st) == 0 ? st.st_size : 0;
  }
  int64_t offset() const { return offset_; }

  // Sends [offset, END); false if the client went away.
  net::awaitable<bool> SendUntil(int64_t end) {
    if (fd_ < 0 && end > 0) Open();
    HttpStream& stream = ex_.stream();
    while (offset_ < end && fd_ >= 0) {
      size_t want = static_cast<size_t>(std::min<int64_t>(end - offset_, kLogChunk));
      ssize_t n = pread(fd_, buf_.data(), want, offset_);
      if (n <= 0) break;
      stream.expires_after(ex_.limits().write_timeout);
      boost::system::error_code ec;
      if (follow_) {
        std::tie(ec, std::ignore) = co_await net::async_write(
            stream, http::make_chunk(net::buffer(buf_.data(), n)), kTuple);
      } else {
        std::tie(ec, std::ignore) =
            co_await net::async_write(stream, net::buffer(buf_.data(), n), kTuple);
      }
      if (ec) co_return false;
      offset_ += n;
    }
    co_return true;
  }

 private:
  void Open() { fd_ = open(path_.c_str(), O_RDONLY | O_CLOEXEC); }

  Exchange& ex_;
  std::string path_;
  int64_t offset_;
  bool follow_;
  std::string buf_;
  int fd_ = -1;
};

// The response's head: the run's status and where the bytes start; chunked
// when following, else the length of what is there.
net::awaitable<bool> SendLogHead(Exchange& ex, const Run& run, bool follow, int64_t offset,
                                 int64_t size) {
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
  http::response_serializer<http::empty_body> sr{res};
  ex.stream().expires_after(ex.limits().write_timeout);
  auto [ec, n] = co_await http::async_write_header(ex.stream(), sr, kTuple);
  if (ec) ex.set_keep_alive(false);
  co_return !ec;
}

// Follows TAIL (null: the log is complete) until the run has finished and
// every byte is sent, waking now and then to notice a client that left.
net::awaitable<void> FollowLog(Exchange& ex, LogFileSender& file,
                               const std::shared_ptr<LogTail>& tail, bool sized_by_file) {
  // A fleet host's log (SIZED_BY_FILE) has no tail of its own: the run's
  // tail paces it and its size is the file's.
  auto end = [&] { return sized_by_file || !tail ? file.size() : tail->size; };
  for (;;) {
    bool finished = !tail || tail->finished;  // (before the size it bounds)
    if (!co_await file.SendUntil(end())) {
      ex.set_keep_alive(false);
      co_return;
    }
    if (finished && file.offset() >= end()) break;
    if (file.offset() < end()) continue;
    using namespace net::experimental::awaitable_operators;
    std::shared_ptr<net::steady_timer> changed = tail->changed;
    net::steady_timer patience(ex.stream().get_executor(), std::chrono::seconds(15));
    co_await (changed->async_wait(kTuple) || patience.async_wait(kTuple));
    if (ex.stream().PeerGone()) {
      ex.set_keep_alive(false);
      co_return;
    }
  }
  ex.stream().expires_after(ex.limits().write_timeout);
  auto [ec, n] = co_await net::async_write(ex.stream(), http::make_chunk_last(), kTuple);
  if (ec) ex.set_keep_alive(false);
}

// Why a log socket's request is refused before the upgrade.
struct Refusal {
  ApiError error;
  std::string message;
};

// The hosts RUN will deploy to while it has not reached them (HostLogOf):
// its project's, until it ends.
const std::vector<std::string>& PlannedHosts(const Engine& engine, const Run& run) {
  static const std::vector<std::string> kNone;
  if (IsFinished(run.status)) return kNone;
  const ProjectConfig* p = engine.config().FindProject(run.project);
  return p && p->fleet ? p->fleet->hosts : kNone;
}

// Reads what a log socket follows into O: the format, and run NAME from
// ?offset= (it must exist and keep its log) or (PROJECT_STREAM) project
// NAME's runs after ?after=.
std::optional<Refusal> ReadSocketTarget(Engine& engine, Exchange& ex, bool project_stream,
                                        const std::string& name, LogSocketOptions& o) {
  if (const std::string* f = ex.Query("format")) {
    if (*f != "raw" && *f != "json") {
      return Refusal{ApiError::kBadRequest, "format must be json (default) or raw"};
    }
    o.raw = *f == "raw";
  }
  const std::string* host = ex.Query("host");
  if (project_stream) {
    if (host) {
      return Refusal{
          ApiError::kBadRequest,
          "host cannot be used with a project's stream; use /ws/v1/runs/{id}/log?host=NAME"};
    }
    if (!engine.config().FindProject(name)) {
      return Refusal{ApiError::kNotFound, fmt::format("no project named '{}'", name)};
    }
    o.project = name;
    const std::string* after = ex.Query("after");
    if (after && !ParseInt(*after, o.after_run)) {
      return Refusal{ApiError::kBadRequest, "after must be a run id (a number)"};
    }
    return std::nullopt;
  }
  if (!ParseInt(name, o.run_id)) {
    return Refusal{ApiError::kNotFound,
                   fmt::format("'{}' is not a run id; run ids are numbers", name)};
  }
  auto run = engine.GetRun(o.run_id);
  if (!run.ok() || !run->has_value()) {
    return Refusal{ApiError::kNotFound, fmt::format("no run with id {}", o.run_id)};
  }
  if ((*run)->log_pruned) {
    return Refusal{ApiError::kGone,
                   fmt::format("the log of run {} was pruned (keep_runs)", o.run_id)};
  }
  const std::string* off = ex.Query("offset");
  if (off && !ParseInt(*off, o.offset)) {
    return Refusal{ApiError::kBadRequest, "offset must be a byte count (0 or more)"};
  }
  int64_t log_bytes = (*run)->log_bytes;
  if (host) {  // a fleet host's own log (docs/fleet.md), as GET .../log?host= has it
    std::string path = HostLogOf(engine.LogPath(o.run_id), *host, PlannedHosts(engine, **run));
    if (path.empty()) {
      return Refusal{ApiError::kNotFound,
                     fmt::format("run {} has no host named '{}'", o.run_id, *host)};
    }
    o.host = *host;
    struct stat st;
    log_bytes = stat(path.c_str(), &st) == 0 ? st.st_size : 0;
  }
  if (IsFinished((*run)->status) && o.offset > log_bytes) {
    return Refusal{
        ApiError::kOffsetOutOfRange,
        fmt::format("offset {} is past the end of the log ({} bytes)", o.offset, log_bytes)};
  }
  return std::nullopt;
}

}  // namespace

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
  // ?host=NAME: one host's log of a fleet run (docs/fleet.md).
  const std::string* host = ex.Query("host");
  if (host) {
    path = HostLogOf(path, *host, PlannedHosts(engine_, run));
    if (path.empty()) {
      co_return co_await SendApiError(ex, ApiError::kNotFound,
                                      fmt::format("run {} has no host named '{}'", id, *host));
    }
    if (ex.Query("line")) {
      co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                      "line cannot be used with host; use offset");
    }
  }
  auto offset = StartOffset(ex, path, engine_.IndexPath(id));
  if (!offset.ok()) {
    co_return co_await SendApiError(ex, ApiError::kBadRequest, offset.status().message());
  }
  LogFileSender file(ex, path, *offset, follow);
  int64_t size = file.size();
  if (!tail && *offset > size) {
    co_return co_await SendApiError(
        ex, ApiError::kOffsetOutOfRange,
        fmt::format("offset {} is past the end of the log ({} bytes)", *offset, size));
  }
  if (!co_await SendLogHead(ex, run, follow, *offset, size)) co_return;
  if (ex.req().method() == http::verb::head) co_return;
  if (follow) {
    co_await FollowLog(ex, file, tail, host != nullptr);
  } else if (!co_await file.SendUntil(size)) {
    ex.set_keep_alive(false);
  }
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
  if (std::optional<Refusal> no = ReadSocketTarget(engine_, ex, project_stream, name, o)) {
    co_return co_await SendApiError(ex, no->error, no->message);
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
