#include "http/log_socket.h"
#include "util/json.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/utf8.h"

namespace jenky {
namespace websocket = beast::websocket;
using namespace net::experimental::awaitable_operators;

namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr size_t kChunk = 64 * 1024;

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

std::shared_ptr<const std::string> Message(const char* type, const Run* run) {
  nlohmann::json j = {{"type", type}, {"run", run ? RunToJson(*run) : nlohmann::json(nullptr)}};
  return std::make_shared<const std::string>(DumpJson(j));
}

class LogSocket {
 public:
  LogSocket(beast::tcp_stream stream, Engine& engine, LogSocketOptions options)
      : ws_(std::move(stream)), engine_(engine), o_(std::move(options)),
        wake_(ws_.get_executor()) {
    wake_.expires_at(net::steady_timer::time_point::max());
  }

  net::awaitable<void> Serve(const Request& req) {
    beast::get_lowest_layer(ws_).expires_never();  // the websocket timeouts take over
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(10);
    timeouts.idle_timeout = o_.idle_timeout;
    timeouts.keep_alive_pings = true;  // ping at half the idle time; no answer = gone
    ws_.set_option(timeouts);
    websocket::permessage_deflate pmd;
    pmd.server_enable = true;
    pmd.server_max_window_bits = 12;  // bounded zlib memory per viewer
    pmd.memLevel = 4;
    ws_.set_option(pmd);
    ws_.read_message_max(4096);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "jenky"); }));
    auto [ec] = co_await ws_.async_accept(req, kTuple);
    if (ec) co_return;
    co_await (Reader() && Writer());
  }

 private:
  net::awaitable<void> Reader() {
    beast::flat_buffer buffer;
    for (;;) {
      auto [ec, n] = co_await ws_.async_read(buffer, kTuple);
      if (ec) break;
      std::string_view text(static_cast<const char*>(buffer.data().data()), buffer.size());
      if (ws_.got_text() && text == "ping") {
        pong_pending_ = true;
        wake_.cancel();
      }
      buffer.consume(buffer.size());
    }
    closed_ = true;
    wake_.cancel();
  }

  net::awaitable<bool> Send(std::shared_ptr<const std::string> msg) {
    if (closed_) co_return false;
    ws_.text(true);
    auto [ec, n] = co_await ws_.async_write(net::buffer(*msg), kTuple);
    if (ec) {
      closed_ = true;
      co_return false;
    }
    co_return true;
  }

  net::awaitable<bool> SendPongIfAsked() {
    if (!pong_pending_) co_return true;
    pong_pending_ = false;
    static const auto kPong = std::make_shared<const std::string>("{\"type\":\"pong\"}");
    co_return co_await Send(kPong);
  }

  net::awaitable<void> Close(websocket::close_code code, std::string reason) {
    if (closed_) co_return;
    websocket::close_reason why(code, reason);
    co_await ws_.async_close(why, kTuple);
  }

  // Waits until the tail changes, the reader wants attention, or a while
  // passes (to re-check the run's status).
  net::awaitable<void> Wait(std::shared_ptr<net::steady_timer> signal) {
    if (closed_ || pong_pending_) co_return;
    net::steady_timer patience(ws_.get_executor(), std::chrono::seconds(10));
    if (signal) {
      co_await (signal->async_wait(kTuple) || wake_.async_wait(kTuple) ||
                patience.async_wait(kTuple));
    } else {
      co_await (wake_.async_wait(kTuple) || patience.async_wait(kTuple));
    }
  }

  // The bytes [offset, end) of the log, at most kChunk, as one message; holds
  // back a character cut off at the chunk's end unless the log is complete.
  std::shared_ptr<const std::string> LogMessage(int fd, int64_t run_id, int64_t offset, int64_t end,
                                                bool complete, int64_t* next) {
    size_t want = static_cast<size_t>(std::min<int64_t>(end - offset, kChunk));
    std::string data(want, '\0');
    ssize_t n = pread(fd, data.data(), want, offset);
    if (n <= 0) return nullptr;
    data.resize(n);
    bool at_end = complete && offset + n == end;
    size_t keep = at_end ? data.size() : CompleteUtf8Prefix(data);
    if (keep == 0) return nullptr;  // only the start of a character so far
    *next = offset + static_cast<int64_t>(keep);
    std::string_view bytes(data.data(), keep);
    if (o_.raw) return std::make_shared<const std::string>(SanitizeUtf8(bytes));
    std::string msg = fmt::format("{{\"type\":\"log\",\"run\":{},\"offset\":{},\"next\":{},\"data\":\"",
                                  run_id, offset, *next);
    AppendJsonEscapedUtf8(bytes, msg);
    msg += "\"}";
    return std::make_shared<const std::string>(std::move(msg));
  }

  // Streams run ID from OFFSET until it is finished and fully sent (true), or
  // the connection ends (false).
  net::awaitable<bool> StreamRun(int64_t id, int64_t offset) {
    auto found = engine_.GetRun(id);
    if (!found.ok() || !found->has_value()) co_return false;
    RunStatus sent_status = (*found)->status;
    std::string path = engine_.LogPath(id);
    int fd = -1;
    struct CloseFd {
      int& fd;
      ~CloseFd() {
        if (fd >= 0) close(fd);
      }
    } closer{fd};
    bool live = false;  // caught up with a running log at least once
    for (;;) {
      if (!co_await SendPongIfAsked()) co_return false;
      std::shared_ptr<LogTail> tail = engine_.Tail(id);
      bool complete = !tail;
      int64_t end = tail ? tail->size : FileSize(path);
      if (offset < end) {
        if (fd < 0) fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
          // Out of descriptors (or the log vanished): say so rather than hang.
          co_await Close(websocket::close_code::internal_error,
                         fmt::format("cannot read the log: {}; retry with ?offset={}",
                                     std::strerror(errno), offset));
          co_return false;
        }
        if (live && end - offset > o_.max_lag_bytes) {
          co_await Close(websocket::close_code::policy_error,
                         fmt::format("too slow: over {} KiB behind the live log; reconnect with "
                                     "?offset={}", o_.max_lag_bytes >> 10, offset));
          co_return false;
        }
        int64_t next = offset;
        std::shared_ptr<const std::string> msg;
        if (fd >= 0 && tail && tail->cache_offset == offset && tail->cache_raw == o_.raw &&
            tail->cache_next <= end && tail->cache) {
          msg = tail->cache;  // another viewer at this offset already encoded it
          next = tail->cache_next;
        } else if (fd >= 0) {
          msg = LogMessage(fd, id, offset, end, complete, &next);
          if (msg && tail) {
            tail->cache = msg;
            tail->cache_offset = offset;
            tail->cache_next = next;
            tail->cache_raw = o_.raw;
          }
        }
        if (msg) {
          if (!co_await Send(msg)) co_return false;
          offset = next;
          continue;
        }
      } else if (tail) {
        live = true;
      }
      // Caught up (or waiting for the rest of a character).
      auto now = engine_.GetRun(id);
      if (!now.ok() || !now->has_value()) co_return false;
      const Run& run = **now;
      bool done = IsFinished(run.status) && offset >= FileSize(path);
      // Every change of state is sent; a finished run always ends with its status.
      if (run.status != sent_status || done) {
        sent_status = run.status;
        if (!o_.raw && !co_await Send(Message("status", &run))) co_return false;
      }
      if (done) co_return true;
      // (A named copy: GCC 12 mishandles class temporaries from ?: in co_await.)
      std::shared_ptr<net::steady_timer> signal;
      if (tail) signal = tail->changed;
      co_await Wait(std::move(signal));
      if (closed_) co_return false;
    }
  }

  net::awaitable<void> Writer() {
    if (o_.project.empty()) {
      auto run = engine_.GetRun(o_.run_id);
      if (run.ok() && run->has_value()) {
        if (o_.raw || co_await Send(Message("run", &**run))) {
          if (co_await StreamRun(o_.run_id, o_.offset)) {
            co_await Close(websocket::close_code::normal, "run finished");
          }
        }
      }
    } else {
      co_await FollowProject();
    }
    closed_ = true;
    wake_.cancel();
  }

  net::awaitable<void> FollowProject() {
    auto last = engine_.LastRun(o_.project);
    if (!last.ok()) co_return;
    int64_t current = last->has_value() ? (*last)->id : 0;
    if (o_.after_run > 0 && current <= o_.after_run) {
      current = o_.after_run;  // ?after=: that run is seen; wait for a newer one
    } else {
      const Run* first = last->has_value() ? &**last : nullptr;
      if (!o_.raw && !co_await Send(Message("run", first))) co_return;
    }
    bool stream_current = !(o_.after_run > 0 && current == o_.after_run);
    for (;;) {
      if (current > 0 && stream_current && !co_await StreamRun(current, 0)) co_return;
      stream_current = true;
      // Wait for the next run of the project.
      for (;;) {
        if (!co_await SendPongIfAsked()) co_return;
        auto latest = engine_.LastRun(o_.project);
        if (!latest.ok()) co_return;
        if (latest->has_value() && (*latest)->id > current) {
          current = (*latest)->id;
          if (!o_.raw && !co_await Send(Message("run", &**latest))) co_return;
          break;
        }
        std::shared_ptr<net::steady_timer> signal = engine_.ProjectSignal(o_.project);
        co_await Wait(std::move(signal));
        if (closed_) co_return;
      }
    }
  }

  websocket::stream<beast::tcp_stream> ws_;
  Engine& engine_;
  LogSocketOptions o_;
  net::steady_timer wake_;  // cancelled by the reader: pong wanted, or closed
  bool closed_ = false;
  bool pong_pending_ = false;
};

}  // namespace

net::awaitable<void> ServeLogSocket(Exchange& ex, Engine& engine, LogSocketOptions options) {
  Request req = ex.req();
  LogSocket socket(ex.TakeStream(), engine, std::move(options));
  co_await socket.Serve(req);
}

}  // namespace jenky
