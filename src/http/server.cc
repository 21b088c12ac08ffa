#include "http/server.h"
#include "util/json.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "util/logger.h"
#include "util/url.h"

namespace jenky {

namespace {
constexpr auto kTuple = net::as_tuple(net::use_awaitable);
}  // namespace

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

Exchange::Exchange(Request& req, beast::tcp_stream& stream, const HttpLimits& limits,
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
  res.version(req_.version());
  res.keep_alive(keep_alive_);
  res.set(http::field::server, "jenky");
  res.set(http::field::date, HttpDate());
  for (const auto& [k, v] : extra_headers_) res.set(k, v);
  res.prepare_payload();
  stream_.expires_after(limits_.write_timeout);
  auto [ec, n] = co_await http::async_write(stream_, res, kTuple);
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
  nlohmann::json j = {{"error", {{"code", code}, {"message", message}}}};
  co_await SendJson(status, DumpJson(j));
}

HttpServer::HttpServer(net::io_context& io, Handler handler, HttpLimits limits)
    : io_(io), handler_(std::move(handler)), limits_(limits) {}

HttpServer::~HttpServer() { Stop(); }

Result<tcp::endpoint> HttpServer::Listen(const std::string& host, int port) {
  boost::system::error_code ec;
  net::ip::address addr;
  if (host == "localhost") {
    addr = net::ip::make_address("127.0.0.1");
  } else {
    addr = net::ip::make_address(host, ec);
    if (ec) {
      return Status::Error(fmt::format("listen address '{}' is not an IP address; use one like "
                                       "127.0.0.1, 0.0.0.0 or ::1", host));
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
    return Status::Error(fmt::format("cannot listen on {}:{}: {}{}", host, port, ec.message(), hint));
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
  for (auto& a : acceptors_) {
    boost::system::error_code ec;
    a->close(ec);
  }
}

net::awaitable<void> HttpServer::Accept(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kTuple);
    if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // EMFILE and friends: back off a little instead of spinning.
      LogWarning("accept: {}", ec.message());
      net::steady_timer t(io_, std::chrono::milliseconds(50));
      co_await t.async_wait(kTuple);
      continue;
    }
    if (connections_ >= limits_.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    // Not inherited by a re-executed jenky (upgrade): its clients must see EOF.
    fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
    net::co_spawn(io_, Session(std::move(socket)), net::detached);
  }
}

net::awaitable<void> HttpServer::Session(tcp::socket socket) {
  ++connections_;
  struct Count {
    int& n;
    ~Count() { --n; }
  } count{connections_};
  boost::system::error_code peer_ec;
  net::ip::address peer = socket.remote_endpoint(peer_ec).address();
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(limits_.header_bytes));
    parser.body_limit(limits_.body_bytes);
    // Wait for the start of a request (idle keep-alive), then give the whole
    // request a deadline of its own.
    if (!first && buffer.size() == 0) {
      stream.expires_after(limits_.idle_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kTuple);
      if (ec) break;
      buffer.commit(n);
    }
    first = false;
    stream.expires_after(limits_.read_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kTuple);
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::connection_reset) {
      break;
    }
    if (ec) {
      http::status status = http::status::bad_request;
      std::string code = "bad_request";
      std::string message = "malformed HTTP request: " + ec.message();
      if (ec == http::error::body_limit) {
        status = http::status::payload_too_large;
        code = "too_large";
        message = fmt::format("request body is larger than the limit of {} bytes", limits_.body_bytes);
      } else if (ec == http::error::header_limit) {
        status = http::status::request_header_fields_too_large;
        code = "headers_too_large";
        message = fmt::format("request headers are larger than {} bytes", limits_.header_bytes);
      } else if (ec == beast::error::timeout) {
        break;  // a client that does not finish its request in time gets no answer
      }
      if (!parser.get().target().empty()) {  // the start line was read
        boost::system::error_code rep_ec;
        auto peer = stream.socket().remote_endpoint(rep_ec);
        LogWarning("{} {} from {} rejected: {}", std::string(parser.get().method_string()),
                   std::string(parser.get().target()),
                   rep_ec ? std::string("?") : peer.address().to_string(), message);
      }
      Request dummy{http::verb::get, "/", 11};
      dummy.keep_alive(false);
      Exchange ex(dummy, stream, limits_);
      ex.set_keep_alive(false);
      co_await ex.SendError(status, code, message);
      break;
    }
    Request req = parser.release();
    Exchange ex(req, stream, limits_, &buffer, peer_ec ? nullptr : &peer);
    bool failed = false;
    try {
      co_await handler_(ex);
    } catch (const std::exception& e) {
      // A bug in a handler costs this request, never the server.
      LogError("{} {}: internal error: {}", std::string(req.method_string()),
               std::string(req.target()), e.what());
      failed = true;
    }
    if (failed) {
      if (ex.responded()) break;
      ex.set_keep_alive(false);
      co_await ex.SendError(http::status::internal_server_error, "internal",
                            "internal error; the server log has the details");
      break;
    }
    if (ex.stream_taken()) co_return;  // upgraded: the new owner has closed it
    if (!ex.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
}

}  // namespace jenky
