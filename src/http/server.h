// The HTTP/1.1 server: accepts connections, reads requests within limits and
// hands each to one handler coroutine. Beast and Asio live here and in
// src/server/; handlers see an Exchange.
//
// Limits (every one is something a client controls): header bytes (431),
// request-target bytes (414), body bytes (413), time to read a whole request (a client that sends a
// header byte a minute is cut off), idle keep-alive time, time to write,
// concurrent connections (503), and with TLS the time to finish the handshake.
//
// TLS (SetTls): every connection accepted while a context is set speaks
// HTTPS; one set later (a reload with renewed certificate files) serves the
// connections accepted after it, and live ones keep the context they began
// with. A client that sends plain HTTP to a TLS port gets a plain-text 400
// saying so, as nginx and Go's net/http answer it.
//
// Runs on the single event-loop thread like everything it calls.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/asio.h"
#include "util/client_address.h"
#include "util/rate_limiter.h"
#include "util/status.h"

namespace jenky {

class HttpStream;  // http/http_stream.h: the session's byte stream, plain or TLS
class TlsContext;

struct HttpLimits {
  size_t header_bytes = 16 * 1024;
  size_t target_bytes = 8 * 1024;  // path and query
  uint64_t body_bytes = 1 << 20;
  std::chrono::seconds read_timeout{20};  // whole request, from its first byte
  std::chrono::seconds idle_timeout{75};  // keep-alive wait for the next request
  std::chrono::seconds write_timeout{30};
  std::chrono::milliseconds handshake_timeout{10000};  // TLS: ClientHello to Finished
  int max_connections = 20000;
  // Open connections from one address; loopback (a reverse proxy on this
  // machine) and EXEMPT (trusted_proxies) are not counted. 0 = no limit.
  int max_connections_per_address = 256;
  AddressSet exempt;
  bool exempt_loopback = true;
};

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// One request and the means to answer it.
class Exchange {
 public:
  // BUFFER is the connection's read buffer (what was read past this request
  // stays there); may be null when there is none.
  // REMOTE, when given, is the peer's address (known to the connection, so
  // not asked of the kernel for every request).
  Exchange(Request& req, HttpStream& stream, const HttpLimits& limits,
           beast::flat_buffer* buffer = nullptr, const net::ip::address* remote = nullptr);

  const Request& req() const { return req_; }
  const std::string& path() const { return path_; }  // percent-decoded, no query
  bool bad_path() const { return bad_path_; }        // a malformed %-escape
  // Query parameter NAME, or nullptr.
  const std::string* Query(const std::string& name) const;
  const std::map<std::string, std::string>& query() const { return query_; }
  std::string Header(std::string_view name) const;
  const net::ip::address& remote() const { return remote_; }
  HttpStream& stream() { return stream_; }
  // Over TLS (the session cookie is then Secure).
  bool secure() const;
  const HttpLimits& limits() const { return limits_; }

  // Sends a complete response (Content-Length, keep-alive as the request asked).
  net::awaitable<void> Send(Response res);
  // Strings are taken by value: callers pass temporaries, and a coroutine
  // must own what it reads after its first suspension.
  net::awaitable<void> SendJson(http::status status, std::string json);
  // {"error": {"code": CODE, "message": MESSAGE}}
  net::awaitable<void> SendError(http::status status, std::string code, std::string message);

  bool keep_alive() const { return keep_alive_; }
  void set_keep_alive(bool k) { keep_alive_ = k; }
  bool responded() const { return responded_; }
  // Hands the connection to a protocol upgrade (WebSocket); the HTTP session
  // ends without touching it again.
  HttpStream TakeStream();
  // With TakeStream: the bytes the client sent after the request (a
  // WebSocket client may send its first frame without waiting).
  std::string TakeLeftover() {
    if (!buffer_) return {};
    std::string bytes(static_cast<const char*>(buffer_->data().data()), buffer_->size());
    buffer_->consume(buffer_->size());
    return bytes;
  }
  bool stream_taken() const { return taken_; }
  void mark_responded() { responded_ = true; }
  // Set by the server: while it stops, every answer says Connection: close.
  void set_stopping_flag(const bool* stopping) { stopping_ = stopping; }
  // Headers every response gets (set by the API layer, e.g. Set-Cookie).
  std::vector<std::pair<std::string, std::string>>& extra_headers() { return extra_headers_; }

 private:
  Request& req_;
  HttpStream& stream_;
  const HttpLimits& limits_;
  beast::flat_buffer* buffer_;
  std::string path_;
  std::map<std::string, std::string> query_;
  net::ip::address remote_;
  bool keep_alive_;
  bool responded_ = false;
  bool taken_ = false;
  bool bad_path_ = false;
  const bool* stopping_ = nullptr;
  std::vector<std::pair<std::string, std::string>> extra_headers_;
};

// Loopback, also as an IPv4-mapped IPv6 address (::ffff:127.0.0.1).
bool IsLoopback(const net::ip::address& a);

// The current time as an HTTP Date header value.
std::string HttpDate();

using Handler = std::function<net::awaitable<void>(Exchange&)>;

class HttpServer {
 public:
  HttpServer(net::io_context& io, Handler handler, HttpLimits limits);
  ~HttpServer();

  // Binds and starts accepting. Returns the bound endpoint (port 0 = any free).
  Result<tcp::endpoint> Listen(const std::string& host, int port);
  // Serves on an already listening socket (systemd socket activation).
  Result<tcp::endpoint> Adopt(int fd);
  // Serves HTTPS with CTX on connections accepted from now on; null: plain HTTP.
  void SetTls(std::shared_ptr<const TlsContext> ctx) { tls_ = std::move(ctx); }
  bool tls() const { return tls_ != nullptr; }
  // Stops accepting. Requests in flight are answered with Connection: close;
  // connections waiting for their next request (keep-alive) are closed now,
  // so no client goes on talking to a server that is going away.
  void Stop();
  int connections() const { return counts_->connections; }
  // The first listening socket's descriptor, -1 if none.
  int listen_fd() { return acceptors_.empty() ? -1 : acceptors_.front()->native_handle(); }

 private:
  net::awaitable<void> Accept(tcp::acceptor& acceptor);
  net::awaitable<void> Session(tcp::socket socket, std::string counted_as);
  // Out of descriptors: answers one waiting connection 503 through the
  // reserved descriptor, so clients (health checks) get an answer, not a wait.
  void AnswerWhileOutOfDescriptors(tcp::acceptor& acceptor);
  net::awaitable<void> Serve(HttpStream& stream, const net::ip::address* peer);
  // Waits, as an idle keep-alive connection, for the next request's first
  // bytes; false when the connection should close (Stop, timeout, gone).
  net::awaitable<bool> WaitForRequest(HttpStream& stream, beast::flat_buffer& buffer);
  // Runs the handler on EX; a handler that throws costs this request (500
  // if nothing was sent yet) and the connection: false.
  net::awaitable<bool> Handle(Exchange& ex);
  net::awaitable<void> RefusePlainHttp(HttpStream& stream);

  net::io_context& io_;
  Handler handler_;
  HttpLimits limits_;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  // Open connections, in all and by counted address. Shared with the
  // sessions: a session's frame may be destroyed after the server (with the
  // io_context), and still counts itself out.
  struct Counts {
    int connections = 0;
    std::unordered_map<std::string, int> per_address;
  };
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
  int reserve_fd_ = -1;  // /dev/null, closed to make room for one accept when out
  bool stopping_ = false;
  std::set<HttpStream*> idle_;  // sessions waiting for their next request
  std::shared_ptr<const TlsContext> tls_;
  LogThrottle tls_log_{20};
  LogThrottle refusal_log_{
      20};  // per-address cap refusals  // handshake failures: scanners must not flood the journal
};

}  // namespace jenky
