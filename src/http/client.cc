#include "http/client.h"

#include <nlohmann/json.hpp>

#include "net/asio.h"
#include "util/tls.h"

namespace jenky {

// The connection to the server: the socket, with TLS over it for https://.
// Blocking, and a Beast SyncReadStream / SyncWriteStream.
class ClientStream {
 public:
  explicit ClientStream(net::io_context& io) : tcp_(io) {}
  beast::tcp_stream& tcp_layer() { return tcp_; }
  void set_tls(std::unique_ptr<TlsConn> tls) { tls_ = std::move(tls); }

  // Runs the client side of the handshake; false with the reason in *WHY.
  bool Handshake(std::string* why) {
    boost::system::error_code ec;
    for (;;) {
      TlsState state = tls_->Handshake();
      if (!Flush(ec)) break;
      if (state == TlsState::kOk) return true;
      if (state != TlsState::kWantRead) {
        *why = tls_->error();
        return false;
      }
      if (!Fill(ec)) break;
    }
    *why = "the connection closed during the TLS handshake (" + ec.message() +
           "); is the server really speaking HTTPS on this port?";
    return false;
  }

  template <class Buffers>
  size_t read_some(const Buffers& buffers, boost::system::error_code& ec) {
    if (!tls_) return tcp_.socket().read_some(buffers, ec);
    ec = {};
    net::mutable_buffer first;
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
         ++it) {
      if (net::mutable_buffer(*it).size() > 0) {
        first = *it;
        break;
      }
    }
    if (first.size() == 0) return 0;
    for (;;) {
      TlsState state;
      size_t n = tls_->Read(static_cast<char*>(first.data()), first.size(), &state);
      if (!Flush(ec)) return 0;
      if (state == TlsState::kOk) return n;
      if (state == TlsState::kClosed) {
        ec = net::error::eof;
        return 0;
      }
      if (state == TlsState::kError) {
        ec = net::error::connection_reset;
        return 0;
      }
      if (!Fill(ec)) return 0;
    }
  }
  template <class Buffers>
  size_t read_some(const Buffers& buffers) {
    boost::system::error_code ec;
    size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  template <class Buffers>
  size_t write_some(const Buffers& buffers, boost::system::error_code& ec) {
    if (!tls_) return tcp_.socket().write_some(buffers, ec);
    size_t taken = 0;
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
         ++it) {
      net::const_buffer piece(*it);
      tls_->Write(static_cast<const char*>(piece.data()), piece.size());
      taken += piece.size();
    }
    return Flush(ec) ? taken : 0;
  }
  template <class Buffers>
  size_t write_some(const Buffers& buffers) {
    boost::system::error_code ec;
    size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  void Close() {
    boost::system::error_code ec;
    if (tls_) {
      tls_->Shutdown();
      Flush(ec);
    }
    tcp_.socket().shutdown(tcp::socket::shutdown_both, ec);
  }

 private:
  bool Flush(boost::system::error_code& ec) {
    if (!tls_->has_output()) return true;
    std::string out;
    tls_->TakeOutput(out);
    net::write(tcp_.socket(), net::buffer(out), ec);
    return !ec;
  }
  bool Fill(boost::system::error_code& ec) {
    char buf[16 * 1024];
    size_t n = tcp_.socket().read_some(net::buffer(buf), ec);
    if (ec) return false;
    tls_->Feed(buf, n);
    return true;
  }

  beast::tcp_stream tcp_;
  std::unique_ptr<TlsConn> tls_;
};

Client::Client() = default;
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

Result<Client> Client::Create(const std::string& url, std::string token,
                              const std::string& cacert) {
  Client c;
  c.url_ = url;
  c.token_ = std::move(token);
  std::string_view rest = url;
  bool https = rest.rfind("https://", 0) == 0;
  if (!https && rest.rfind("http://", 0) != 0) {
    return Status::Error("server URL '" + url +
                         "' must start with http:// or https://, like "
                         "http://127.0.0.1:8080");
  }
  if (https) {
    // Always verified: against --cacert/JENKY_CACERT, else the system's CAs.
    auto ctx = TlsContext::Client(cacert);
    if (!ctx.ok()) return ctx.status();
    c.tls_ = *ctx;
    c.cacert_ = cacert;
  } else if (!cacert.empty()) {
    return Status::Error("--cacert (or JENKY_CACERT) is for https:// server URLs; " + url +
                         " is plain http://");
  }
  rest.remove_prefix(https ? 8 : 7);
  size_t slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  if (slash != std::string_view::npos) c.prefix_ = std::string(rest.substr(slash));
  while (!c.prefix_.empty() && c.prefix_.back() == '/') c.prefix_.pop_back();
  if (!hostport.empty() && hostport[0] == '[') {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) return Status::Error("bad server URL '" + url + "'");
    c.host_ = std::string(hostport.substr(1, close - 1));
    c.port_ = close + 2 <= hostport.size() ? std::string(hostport.substr(close + 2))
                                           : (https ? "443" : "80");
  } else {
    size_t colon = hostport.rfind(':');
    c.host_ = std::string(hostport.substr(0, colon));
    c.port_ = colon == std::string_view::npos ? (https ? "443" : "80")
                                              : std::string(hostport.substr(colon + 1));
  }
  if (c.host_.empty() || c.port_.empty()) return Status::Error("bad server URL '" + url + "'");
  return c;
}

namespace {

Status ConnectError(const std::string& url, const boost::system::error_code& ec) {
  return Status::Error("cannot reach jenky at " + url + ": " + ec.message() +
                       " (is `jenky serve` running? set --server or JENKY_SERVER)");
}

}  // namespace

template <>
Status Client::Connect(ClientStream& stream) const {
  tcp::resolver resolver(stream.tcp_layer().get_executor());
  boost::system::error_code ec;
  auto endpoints = resolver.resolve(host_, port_, ec);
  if (ec) return ConnectError(url_, ec);
  stream.tcp_layer().expires_after(std::chrono::seconds(30));
  stream.tcp_layer().connect(endpoints, ec);
  if (ec) return ConnectError(url_, ec);
  if (tls_) {
    stream.set_tls(tls_->NewConn(host_));
    std::string why;
    if (!stream.Handshake(&why)) {
      std::string hint;
      if (why.rfind("certificate verify failed", 0) == 0) {
        hint = cacert_.empty()
                   ? "; if the server's certificate is self-signed or from a private CA, pass that "
                     "CA's certificate with --cacert FILE (or JENKY_CACERT)"
                   : "; the server's certificate is not signed by the CA in " + cacert_ +
                         " (or not issued for " + host_ + ")";
      }
      return Status::Error("TLS with " + url_ + " failed: " + why + hint);
    }
  }
  return Status::Ok();
}

Result<ClientResponse> Client::Request(const std::string& method, const std::string& target,
                                       const std::string& body) {
  net::io_context io;
  ClientStream stream(io);
  if (Status s = Connect(stream); !s.ok()) return s;
  boost::system::error_code ec;
  http::request<http::string_body> req{http::string_to_verb(method), prefix_ + target, 11};
  req.set(http::field::host, host_);
  req.set(http::field::user_agent, "jenky-cli/" JENKY_VERSION);
  if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
  if (method == "POST") {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  http::write(stream, req, ec);
  if (ec) return ConnectError(url_, ec);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  http::read(stream, buffer, parser, ec);
  if (ec) return ConnectError(url_, ec);
  ClientResponse out;
  out.status = parser.get().result_int();
  out.body = parser.get().body();
  out.content_type = std::string(parser.get()[http::field::content_type]);
  stream.Close();
  return out;
}

Result<ClientResponse> Client::Get(const std::string& target) { return Request("GET", target, ""); }

Result<ClientResponse> Client::Post(const std::string& target, const std::string& json_body) {
  return Request("POST", target, json_body);
}

Result<int> Client::Stream(const std::string& target,
                           const std::function<void(std::string_view)>& on_data,
                           std::string* error_body) {
  net::io_context io;
  ClientStream stream(io);
  if (Status s = Connect(stream); !s.ok()) return s;
  boost::system::error_code ec;
  http::request<http::empty_body> req{http::verb::get, prefix_ + target, 11};
  req.set(http::field::host, host_);
  req.set(http::field::user_agent, "jenky-cli/" JENKY_VERSION);
  if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
  http::write(stream, req, ec);
  if (ec) return ConnectError(url_, ec);

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  // No deadline while streaming: a deploy may be silent for a long time; the
  // server ends the stream when the run ends.
  stream.tcp_layer().expires_never();
  http::read_header(stream, buffer, parser, ec);
  if (ec) return ConnectError(url_, ec);
  int status = parser.get().result_int();
  char buf[65536];
  while (!parser.is_done()) {
    parser.get().body().data = buf;
    parser.get().body().size = sizeof buf;
    // read_some returns as soon as some of the body arrived: a live log is
    // printed as it is written, not when a buffer fills.
    http::read_some(stream, buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    size_t n = sizeof buf - parser.get().body().size;
    if (n > 0) {
      if (status / 100 == 2) on_data(std::string_view(buf, n));
      else if (error_body) error_body->append(buf, n);
    }
    if (ec)
      return Status::Error("connection to " + url_ + " lost: " + ec.message(),
                           StatusCode::kDisconnected);
  }
  return status;
}

std::string ErrorMessage(const ClientResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    return j["error"].value("message", r.body);
  }
  return r.body.empty() ? "HTTP " + std::to_string(r.status) : r.body;
}

}  // namespace jenky
