#include "http/client.h"

#include <nlohmann/json.hpp>

#include "http/net.h"

namespace jenky {

Result<Client> Client::Create(const std::string& url, std::string token) {
  Client c;
  c.url_ = url;
  c.token_ = std::move(token);
  std::string_view rest = url;
  if (rest.rfind("https://", 0) == 0) {
    return Status::Error("https:// server URLs are not supported by this jenky client; reach the "
                         "server over http:// on the machine or through an SSH tunnel");
  }
  if (rest.rfind("http://", 0) != 0) {
    return Status::Error("server URL '" + url + "' must start with http://, like http://127.0.0.1:8080");
  }
  rest.remove_prefix(7);
  size_t slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  if (slash != std::string_view::npos) c.prefix_ = std::string(rest.substr(slash));
  while (!c.prefix_.empty() && c.prefix_.back() == '/') c.prefix_.pop_back();
  if (!hostport.empty() && hostport[0] == '[') {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) return Status::Error("bad server URL '" + url + "'");
    c.host_ = std::string(hostport.substr(1, close - 1));
    c.port_ = close + 2 <= hostport.size() ? std::string(hostport.substr(close + 2)) : "80";
  } else {
    size_t colon = hostport.rfind(':');
    c.host_ = std::string(hostport.substr(0, colon));
    c.port_ = colon == std::string_view::npos ? "80" : std::string(hostport.substr(colon + 1));
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
Status Client::Connect(beast::tcp_stream& stream) const {
  tcp::resolver resolver(stream.get_executor());
  boost::system::error_code ec;
  auto endpoints = resolver.resolve(host_, port_, ec);
  if (ec) return ConnectError(url_, ec);
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(endpoints, ec);
  if (ec) return ConnectError(url_, ec);
  return Status::Ok();
}

Result<ClientResponse> Client::Request(const std::string& method, const std::string& target,
                                       const std::string& body) {
  net::io_context io;
  beast::tcp_stream stream(io);
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
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
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
  beast::tcp_stream stream(io);
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
  stream.expires_never();
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
    if (ec) return Status::Error("connection to " + url_ + " lost: " + ec.message(), "disconnected");
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
