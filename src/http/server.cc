#include "http/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>

#include "http/http_stream.h"
#include "util/logger.h"
#include "util/time.h"
#include "util/tls.h"
#include "util/url.h"
#include "util/utf8.h"

namespace jenky {

namespace {
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

// The answer to a connection over max_connections, sent without a session
// (which is what the limit saves) and without waiting: if the client's
// receive window is full it just gets the close.
// A 503 written without waiting, then the close; what the client sent so far
// is read first, so the kernel sends a FIN after the answer, not a reset.
void Refuse(int fd, std::string_view message) {
  char sink[4096];
  (void)::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
  std::string body =
      fmt::format("{{\"error\":{{\"code\":\"unavailable\",\"message\":\"{}\"}}}}\n", message);
  std::string answer = fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
      "Connection: close\r\nContent-Length: {}\r\n\r\n{}",
      body.size(), body);
  (void)::send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
}

void RefuseConnection(tcp::socket& socket, std::string_view message) {
  Refuse(socket.native_handle(), message);
  boost::system::error_code ignored;
  socket.close(ignored);
}

// Looks like the start of an HTTP request ("GET /", "POST /"...): upper-case
// letters and a space.
bool LooksLikeHttp(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size() && i < 8 && bytes[i] >= 'A' && bytes[i] <= 'Z') ++i;
  return i >= 3 && i < bytes.size() && bytes[i] == ' ';
}

}  // namespace

bool IsLoopback(const net::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).is_loopback();
  }
  return a.is_loopback();
}

std::string HttpDate() {
  // Formatted at most once a second.
  static time_t cached_at = 0;
  static char text[40];
  time_t now = time(nullptr);
  if (now != cached_at) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_at = now;
  }
  return text;
}

namespace {

// RES as bytes on the wire, in one flat buffer for one write: Beast's
// serializer walks the header and the body as a chain of buffer views, which
// costs more CPU than the copy (a third of the server's time per answer to a
// flood of rejected webhooks).
std::string Serialize(const Response& res) {
  std::string_view body = res.body();
  std::string out;
  out.reserve(192 + body.size());
  out += res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(res.result_int());
  out += ' ';
  out.append(res.reason().data(), res.reason().size());
  out += "\r\n";
  for (const auto& field : res) {
    out.append(field.name_string().data(), field.name_string().size());
    out += ": ";
    out.append(field.value().data(), field.value().size());
    out += "\r\n";
  }
  out += "\r\n";
  out += body;
  return out;
}

}  // namespace

namespace {

bool IsHookTarget(std::string_view target) { return target.rfind("/hooks/", 0) == 0; }

}  // namespace

uint64_t Exchange::body_limit() const {
  std::string_view target(req_.target().data(), req_.target().size());
  return IsHookTarget(target) ? limits_.hook_body_bytes : limits_.body_bytes;
}

Exchange::Exchange(Request& req, HttpStream& stream, const HttpLimits& limits,
                   beast::flat_buffer* buffer, const net::ip::address* remote)
    : req_(req), stream_(stream), limits_(limits), buffer_(buffer), keep_alive_(req.keep_alive()) {
  std::string_view target(req.target().data(), req.target().size());
  size_t q = target.find('?');
  bad_path_ = !UrlDecode(target.substr(0, q), path_, false);
  if (q != std::string_view::npos) query_ = ParseQuery(target.substr(q + 1));
  if (remote) {
    remote_ = *remote;
    return;
  }
  boost::system::error_code ec;
  auto ep = stream.socket().remote_endpoint(ec);
  if (!ec) remote_ = ep.address();
}

bool Exchange::secure() const { return stream_.secure(); }

HttpStream Exchange::TakeStream() {
  taken_ = true;
  responded_ = true;
  keep_alive_ = false;
  return std::move(stream_);
}

const std::string* Exchange::Query(const std::string& name) const {
  auto it = query_.find(name);
  return it == query_.end() ? nullptr : &it->second;
}

std::string Exchange::Header(std::string_view name) const {
  auto it = req_.find(beast::string_view(name.data(), name.size()));
  if (it == req_.end()) return "";
  return std::string(it->value());
}

net::awaitable<void> Exchange::Send(Response res) {
  responded_ = true;
  if (stopping_ && *stopping_) keep_alive_ = false;
  res.version(req_.version());
  res.keep_alive(keep_alive_);
  res.set(http::field::server, "jenky");
  res.set(http::field::date, HttpDate());
  for (const auto& [k, v] : extra_headers_) res.set(k, v);
  res.prepare_payload();
  std::string out = Serialize(res);
  stream_.expires_after(limits_.write_timeout);
  auto [ec, n] = co_await net::async_write(stream_, net::buffer(out), kTuple);
  if (ec) keep_alive_ = false;
}

net::awaitable<void> Exchange::SendJson(http::status status, std::string json) {
  Response res{status, req_.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(json);
  res.body() += '\n';
  co_await Send(std::move(res));
}

net::awaitable<void> Exchange::SendError(http::status status, std::string code,
                                         std::string message) {
  // Written directly: error answers are what a flood of bad requests gets,
  // and building a JSON tree for two strings costs a dozen allocations.
  std::string body = R"({"error":{"code":")";
  AppendJsonEscapedUtf8(code, body);
  body += R"(","message":")";
  AppendJsonEscapedUtf8(message, body);
  body += "\"}}";
  co_await SendJson(status, std::move(body));
}

HttpServer::HttpServer(net::io_context& io, Handler handler, HttpLimits limits)
    : io_(io), handler_(std::move(handler)), limits_(limits) {}

HttpServer::~HttpServer() {
  Stop();
  if (reserve_fd_ >= 0) close(reserve_fd_);
}

Result<tcp::endpoint> HttpServer::Listen(const std::string& host, int port) {
  boost::system::error_code ec;
  net::ip::address addr;
  if (host == "localhost") {
    addr = net::ip::make_address("127.0.0.1");
  } else {
    addr = net::ip::make_address(host, ec);
    if (ec) {
      return Status::Error(
          fmt::format("listen address '{}' is not an IP address; use one like "
                      "127.0.0.1, 0.0.0.0 or ::1",
                      host));
    }
  }
  tcp::endpoint ep(addr, static_cast<unsigned short>(port));
  auto acceptor = std::make_unique<tcp::acceptor>(io_);
  acceptor->open(ep.protocol(), ec);
  if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(ep, ec);
  if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    std::string hint = ec == boost::system::errc::address_in_use
                           ? "; another process (maybe another jenky) uses it: stop it or pick "
                             "another port with --listen"
                           : "";
    return Status::Error(
        fmt::format("cannot listen on {}:{}: {}{}", host, port, ec.message(), hint));
  }
  tcp::endpoint bound = acceptor->local_endpoint();
  net::co_spawn(io_, Accept(*acceptor), net::detached);
  acceptors_.push_back(std::move(acceptor));
  return bound;
}

Result<tcp::endpoint> HttpServer::Adopt(int fd) {
  boost::system::error_code ec;
  auto acceptor = std::make_unique<tcp::acceptor>(io_);
  // The socket's family decides the protocol object Asio needs.
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return Status::Error(fmt::format("socket fd {} from systemd: {}", fd, std::strerror(errno)));
  }
  acceptor->assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
  if (ec) return Status::Error(fmt::format("socket fd {} from systemd: {}", fd, ec.message()));
  tcp::endpoint bound = acceptor->local_endpoint(ec);
  if (ec) return Status::Error(fmt::format("socket fd {} from systemd is not a TCP socket", fd));
  net::co_spawn(io_, Accept(*acceptor), net::detached);
  acceptors_.push_back(std::move(acceptor));
  return bound;
}

void HttpServer::Stop() {
  stopping_ = true;
  for (auto& a : acceptors_) {
    boost::system::error_code ec;
    a->close(ec);
  }
  // Their sessions see the read aborted, close and end.
  for (HttpStream* s : idle_) {
    boost::system::error_code ec;
    s->socket().cancel(ec);
  }
}

void HttpServer::AnswerWhileOutOfDescriptors(tcp::acceptor& acceptor) {
  if (reserve_fd_ < 0) return;
  close(reserve_fd_);
  int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0) {
    Refuse(fd,
           "jenky has run out of file descriptors (see `ulimit -n`, LimitNOFILE=); retry later");
    close(fd);
  }
  reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

net::awaitable<void> HttpServer::Accept(tcp::acceptor& acceptor) {
  if (reserve_fd_ < 0) reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kTuple);
    if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      LogWarning("accept: {}", ec.message());  // (repeats are folded: util/logger.h)
      if (ec == boost::system::errc::too_many_files_open ||
          ec == boost::system::errc::too_many_files_open_in_system) {
        // The connection waiting would wait as long as descriptors are out
        // (a health check among them): answer it now, through the reserve.
        AnswerWhileOutOfDescriptors(acceptor);
      }
      // Back off a little instead of spinning.
      net::steady_timer t(io_, std::chrono::milliseconds(50));
      co_await t.async_wait(kTuple);
      continue;
    }
    if (counts_->connections >= limits_.max_connections) {
      RefuseConnection(socket, fmt::format("the server has its limit of {} open connections "
                                           "([server] max_connections); retry later",
                                           limits_.max_connections));
      continue;
    }
    // Per address, except loopback (a proxy on this machine) and trusted proxies.
    std::string counted_as;
    if (limits_.max_connections_per_address > 0) {
      boost::system::error_code pec;
      net::ip::address peer = socket.remote_endpoint(pec).address();
      if (!pec && !(IsLoopback(peer) && limits_.exempt_loopback)) {
        std::string address = peer.to_string();
        if (!limits_.exempt.Contains(address)) counted_as = std::move(address);
      }
      if (!counted_as.empty() &&
          counts_->per_address[counted_as] >= limits_.max_connections_per_address) {
        int64_t held_back = 0;
        if (refusal_log_.Allow(counted_as, NowMillis(), &held_back)) {
          LogWarning(
              "connection from {} refused: it has {} open ([server] "
              "max_connections_per_address){}",
              counted_as, limits_.max_connections_per_address,
              held_back ? fmt::format(" ({} more refused)", held_back) : "");
        }
        RefuseConnection(socket, fmt::format("this address has its limit of {} open connections "
                                             "([server] max_connections_per_address); retry later",
                                             limits_.max_connections_per_address));
        continue;
      }
    }
    // Not inherited by a re-executed jenky (upgrade): its clients must see EOF.
    fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
    net::co_spawn(io_, Session(std::move(socket), std::move(counted_as)), net::detached);
  }
}

net::awaitable<void> HttpServer::Session(tcp::socket socket, std::string counted_as) {
  ++counts_->connections;
  if (!counted_as.empty()) ++counts_->per_address[counted_as];
  struct Count {
    std::shared_ptr<Counts> counts;
    const std::string& address;
    ~Count() {
      --counts->connections;
      if (!address.empty() && --counts->per_address[address] <= 0)
        counts->per_address.erase(address);
    }
  } count{counts_, counted_as};
  boost::system::error_code peer_ec;
  net::ip::address peer = socket.remote_endpoint(peer_ec).address();
  std::shared_ptr<const TlsContext> tls = tls_;  // this connection's, whatever a reload does
  HttpStream stream(std::move(socket), tls ? tls->NewConn() : nullptr);
  if (tls) {
    std::string first;
    HandshakeResult r = co_await stream.Handshake(limits_.handshake_timeout, &first);
    if (r != HandshakeResult::kOk) {
      std::string why = r == HandshakeResult::kTimeout     ? "no handshake in time"
                        : r == HandshakeResult::kPlainHttp ? "plain HTTP on the HTTPS port"
                        : r == HandshakeResult::kClosed    ? "closed during the handshake"
                                                           : stream.tls_error();
      int64_t held = 0;
      if (tls_log_.Allow("tls", NowMillis(), &held)) {
        LogInfo("TLS handshake with {} failed: {}{}", peer_ec ? std::string("?") : peer.to_string(),
                why, held > 0 ? fmt::format(" ({} more since the last one logged)", held) : "");
      }
      if (r == HandshakeResult::kPlainHttp && LooksLikeHttp(first)) {
        co_await RefusePlainHttp(stream);
      }
      boost::system::error_code ignored;
      stream.socket().close(ignored);
      co_return;
    }
  }
  co_await Serve(stream, peer_ec ? nullptr : &peer);
}

// What nginx and Go's net/http do: a readable answer to the user who typed
// http://, then the close. The rest of the request is read (briefly) before
// closing, so the kernel sends a FIN after the answer, not a reset over it.
net::awaitable<void> HttpServer::RefusePlainHttp(HttpStream& stream) {
  std::string body =
      "This port speaks HTTPS: use https:// in the URL (jenky has [server] tls_cert set).\n";
  std::string answer = fmt::format(
      "HTTP/1.1 400 Bad Request\r\nServer: jenky\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Connection: close\r\nContent-Length: {}\r\n\r\n{}",
      body.size(), body);
  beast::tcp_stream& tcp = stream.tcp_layer();
  tcp.expires_after(limits_.write_timeout);
  auto [ec, n] = co_await net::async_write(tcp, net::buffer(answer), kTuple);
  if (ec) co_return;
  boost::system::error_code ignored;
  tcp.socket().shutdown(tcp::socket::shutdown_send, ignored);
  tcp.expires_after(std::chrono::seconds(2));
  char sink[4096];
  for (;;) {
    auto [rec, rn] = co_await tcp.async_read_some(net::buffer(sink), kTuple);
    if (rec) break;
  }
}

// GCC 12 takes Asio's awaitable frame allocator (recycled, sized delete) for
// a mismatched new/delete pair once enough of this coroutine is inlined: a
// known false positive (GCC PR middle-end/109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
namespace {

// An answer to a request that never reaches the handler: a status, the
// error's code and what was wrong; the connection closes after it.
struct Refusal {
  http::status status;
  std::string code;
  std::string message;
};

net::awaitable<void> SendRefusal(HttpStream& stream, const HttpLimits& limits, Refusal r) {
  Request dummy{http::verb::get, "/", 11};
  dummy.keep_alive(false);
  Exchange ex(dummy, stream, limits);
  ex.set_keep_alive(false);
  co_await ex.SendError(r.status, r.code, r.message);
}

Refusal UrlTooLong(const HttpLimits& limits) {
  return {http::status::uri_too_long, "uri_too_long",
          fmt::format("the request's URL is longer than {} bytes ([server] max_url)",
                      limits.target_bytes)};
}

// What a failed read of a request (EC, from PARSER) is answered with.
Refusal ReadRefusal(const boost::system::error_code& ec,
                    const http::request_parser<http::string_body>& parser, const HttpLimits& limits,
                    uint64_t body_limit) {
  if (ec == http::error::body_limit) {
    return {http::status::payload_too_large, "too_large",
            fmt::format("request body is larger than the limit of {} bytes", body_limit)};
  }
  if (ec == http::error::header_limit) {
    std::string_view target = parser.get().target();
    if (target.empty() || target.size() > limits.target_bytes) {
      return UrlTooLong(limits);  // (empty: the request line alone was too long)
    }
    return {http::status::request_header_fields_too_large, "headers_too_large",
            fmt::format("request headers are larger than {} bytes", limits.header_bytes)};
  }
  return {http::status::bad_request, "bad_request", "malformed HTTP request: " + ec.message()};
}

// A request read whole that is still refused: a Transfer-Encoding whose last
// coding is not chunked leaves the body's end unknown (Beast then reads no
// body, and its bytes would be parsed as the next request: smuggling past a
// proxy that reads it otherwise; RFC 9112 section 6.3: 400 and close), or a
// URL over the limit.
std::optional<Refusal> RequestRefusal(const Request& req, bool chunked, const HttpLimits& limits) {
  if (!chunked && req.find(http::field::transfer_encoding) != req.end()) {
    std::string te(req[http::field::transfer_encoding]);
    return Refusal{http::status::bad_request, "bad_request",
                   fmt::format("Transfer-Encoding '{}' is not supported: send the body with "
                               "Content-Length, or with Transfer-Encoding: chunked",
                               te)};
  }
  if (req.target().size() > limits.target_bytes) return UrlTooLong(limits);
  return std::nullopt;
}

std::string AddressOf(const net::ip::address* remote) {
  return remote ? remote->to_string() : std::string("?");
}

}  // namespace

net::awaitable<boost::system::error_code> HttpServer::ReadRequest(
    HttpStream& stream, beast::flat_buffer& buffer, http::request_parser<http::string_body>& parser,
    uint64_t& body_limit) {
  // The header first: the body's limit depends on the path (hooks' own).
  parser.body_limit(std::max(limits_.body_bytes, limits_.hook_body_bytes));
  auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kTuple);
  if (ec) co_return ec;
  body_limit = IsHookTarget(parser.get().target()) ? limits_.hook_body_bytes : limits_.body_bytes;
  parser.body_limit(body_limit);
  if (parser.content_length() && *parser.content_length() > body_limit) {
    co_return http::error::body_limit;
  }
  std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, kTuple);
  co_return ec;
}

net::awaitable<bool> HttpServer::WaitForRequest(HttpStream& stream, beast::flat_buffer& buffer) {
  if (stopping_) co_return false;
  stream.expires_after(limits_.idle_timeout);
  idle_.insert(&stream);
  auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kTuple);
  idle_.erase(&stream);
  if (ec) co_return false;  // cancelled by Stop, or the client went
  buffer.commit(n);
  co_return true;
}

net::awaitable<void> HttpServer::Serve(HttpStream& stream, const net::ip::address* remote) {
  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(limits_.header_bytes));
    parser.body_limit(limits_.body_bytes);
    // Wait for the start of a request (idle keep-alive), then give the whole
    // request a deadline of its own.
    if (!first && buffer.size() == 0 && !co_await WaitForRequest(stream, buffer)) break;
    first = false;
    stream.expires_after(limits_.read_timeout);
    uint64_t body_limit = limits_.body_bytes;
    boost::system::error_code ec = co_await ReadRequest(stream, buffer, parser, body_limit);
    if (ec == http::error::body_limit && parser.is_header_done() &&
        IsHookTarget(parser.get().target())) {
      // The hook's route records it (the deliveries record) and answers 413.
      Request req = parser.release();
      req.body().clear();
      Exchange ex(req, stream, limits_, nullptr, remote);
      ex.set_body_refused();
      co_await Handle(ex);
      co_await stream.Linger(std::chrono::seconds(2), size_t{64} << 20);
      break;
    }
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::connection_reset) {
      break;
    }
    // A client that does not finish its request in time gets no answer.
    if (ec == beast::error::timeout) break;
    if (ec) {
      Refusal r = ReadRefusal(ec, parser, limits_, body_limit);
      if (!parser.get().target().empty() && r.status != http::status::uri_too_long) {
        LogWarning("{} {} from {} rejected: {}", std::string(parser.get().method_string()),
                   std::string(parser.get().target()), AddressOf(remote), r.message);
      }
      bool unread_body = ec == http::error::body_limit;
      co_await SendRefusal(stream, limits_, std::move(r));
      // The client may still be sending the body: let it see the 413.
      if (unread_body) co_await stream.Linger(std::chrono::seconds(2), size_t{16} << 20);
      break;
    }
    bool chunked = parser.chunked();
    Request req = parser.release();
    if (std::optional<Refusal> no = RequestRefusal(req, chunked, limits_)) {
      if (no->status != http::status::uri_too_long) {
        LogWarning("{} {} from {} rejected: {}", std::string(req.method_string()),
                   std::string(req.target()), AddressOf(remote), no->message);
      }
      co_await SendRefusal(stream, limits_, std::move(*no));
      break;
    }
    Exchange ex(req, stream, limits_, &buffer, remote);
    ex.set_stopping_flag(&stopping_);
    if (!co_await Handle(ex)) break;
    if (ex.stream_taken()) co_return;  // upgraded: the new owner has closed it
    if (!ex.keep_alive() || stopping_) break;
  }
  co_await stream.Close(limits_.write_timeout);
}

net::awaitable<bool> HttpServer::Handle(Exchange& ex) {
  bool failed = false;
  try {
    co_await handler_(ex);
  } catch (const std::exception& e) {
    // A bug in a handler costs this request, never the server.
    LogError("{} {}: internal error: {}", std::string(ex.req().method_string()),
             std::string(ex.req().target()), e.what());
    failed = true;
  }
  if (!failed) co_return true;
  if (!ex.responded()) {
    ex.set_keep_alive(false);
    co_await ex.SendError(http::status::internal_server_error, "internal",
                          "internal error; the server log has the details");
  }
  co_return false;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace jenky
