#include "http/http_stream.h"

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace jenky {
namespace {
constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr char kTlsHandshakeRecord = 0x16;
}  // namespace

net::awaitable<HandshakeResult> HttpStream::Handshake(std::chrono::milliseconds timeout,
                                                      std::string* first) {
  tcp_.expires_after(timeout);
  rbuf_.resize(kReadBuffer);
  bool first_read = true;
  for (;;) {
    TlsState state = tls_->Handshake();
    if (tls_->has_output()) {
      tls_->TakeOutput(pending_);
      auto [ec, n] = co_await net::async_write(tcp_, net::buffer(pending_), kTuple);
      pending_.clear();
      if (ec)
        co_return ec == beast::error::timeout ? HandshakeResult::kTimeout
                                              : HandshakeResult::kClosed;
    }
    if (state == TlsState::kOk) break;
    if (state != TlsState::kWantRead) co_return HandshakeResult::kFailed;
    auto [ec, n] = co_await tcp_.async_read_some(net::buffer(rbuf_), kTuple);
    if (ec == beast::error::timeout) co_return HandshakeResult::kTimeout;
    if (ec) co_return HandshakeResult::kClosed;
    if (first_read && n > 0 && rbuf_[0] != kTlsHandshakeRecord) {
      // Not a ClientHello: someone typed http:// for this port.
      first->assign(rbuf_.data(), n);
      co_return HandshakeResult::kPlainHttp;
    }
    first_read = false;
    tls_->Feed(rbuf_.data(), n);
  }
  rbuf_.clear();
  rbuf_.shrink_to_fit();
  co_return HandshakeResult::kOk;
}

net::awaitable<void> HttpStream::Close(std::chrono::milliseconds timeout) {
  boost::system::error_code ignored;
  if (tls_ && tls_->handshake_done() && tcp_.socket().is_open()) {
    tls_->Shutdown();
    tls_->TakeOutput(pending_);
    tcp_.expires_after(timeout);
    co_await net::async_write(tcp_, net::buffer(pending_), kTuple);
    pending_.clear();
  }
  if (tcp_.socket().is_open()) tcp_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  tcp_.close();
}

net::awaitable<void> HttpStream::Linger(std::chrono::milliseconds timeout, size_t max_bytes) {
  if (tls_ || !tcp_.socket().is_open()) co_return;
  boost::system::error_code ignored;
  tcp_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  tcp_.expires_after(timeout);
  std::vector<char> scratch(64 * 1024);
  for (size_t dropped = 0; dropped < max_bytes;) {
    auto [ec, n] = co_await tcp_.async_read_some(net::buffer(scratch), kTuple);
    if (ec) break;  // the client closed, or the time is up
    dropped += n;
  }
}

bool HttpStream::PeerGone() {
  int fd = tcp_.socket().native_handle();
  if (!tls_) {
    char probe;
    ssize_t r = recv(fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }
  // TLS: the client's bytes are records, so read them (into the TlsConn,
  // where a pipelined request stays) and look at what they say.
  char buf[4096];
  for (;;) {
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r == 0) return true;
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return true;
      break;
    }
    tls_->Feed(buf, static_cast<size_t>(r));
  }
  TlsState state = tls_->Peek();
  if (tls_->has_output()) tls_->TakeOutput(pending_);
  return state == TlsState::kClosed || state == TlsState::kError;
}

}  // namespace jenky
