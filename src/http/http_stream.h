// The byte stream an HTTP session reads and writes: a beast::tcp_stream, with
// TLS (util/tls.h) on top when [server] tls_cert/tls_key are set. One type for
// both, chosen per connection at run time, so the session, the API and
// Beast's HTTP algorithms are compiled once, not once per stream type; the
// plain path is the tcp_stream's own operation behind one branch.
//
// With TLS, reads and writes go through the tcp_stream too, so its deadlines
// (expires_after) bound them exactly as they bound plain ones. Ciphertext
// produced while reading (TLS 1.3 key updates) waits in `pending_` and leaves
// with the next write. Like any Beast stream: at most one read and one write
// in flight, on the loop thread.
//
// Included only by server.cc and api.cc (the files that touch the stream).
#pragma once

#include <memory>
#include <string>

#include <boost/asio/compose.hpp>

#include "net/asio.h"
#include "util/tls.h"

namespace jenky {

enum class HandshakeResult { kOk, kPlainHttp, kTimeout, kClosed, kFailed };

class HttpStream {
 public:
  using executor_type = beast::tcp_stream::executor_type;

  // TLS null: plain HTTP.
  explicit HttpStream(tcp::socket socket, std::unique_ptr<TlsConn> tls = nullptr)
      : tcp_(std::move(socket)), tls_(std::move(tls)) {}
  HttpStream(HttpStream&&) = default;

  executor_type get_executor() { return tcp_.get_executor(); }
  beast::tcp_stream& tcp_layer() { return tcp_; }
  tcp::socket& socket() { return tcp_.socket(); }
  template <class Duration>
  void expires_after(Duration d) {
    tcp_.expires_after(d);
  }
  void expires_never() { tcp_.expires_never(); }
  bool secure() const { return tls_ != nullptr; }
  // Gives the socket and the TLS state to a new owner (the WebSocket hub).
  tcp::socket ReleaseSocket() { return tcp_.release_socket(); }
  std::unique_ptr<TlsConn> ReleaseTls() { return std::move(tls_); }

  // Server side of the TLS handshake, within TIMEOUT. kPlainHttp: the client
  // spoke HTTP without TLS; *FIRST holds what it sent.
  net::awaitable<HandshakeResult> Handshake(std::chrono::milliseconds timeout, std::string* first);
  // close_notify (TLS) and FIN, then close; never waits longer than TIMEOUT.
  net::awaitable<void> Close(std::chrono::milliseconds timeout);
  // A lingering close for plain TCP, after an answer sent before the request
  // was read whole (413): stop sending (the client sees the end of the
  // answer), then read and drop what the client still sends, up to
  // MAX_BYTES or TIMEOUT, so that closing with unread bytes does not reset
  // the connection before the client has read the answer. TLS: nothing.
  net::awaitable<void> Linger(std::chrono::milliseconds timeout, size_t max_bytes);
  // True if the client closed its side (or the connection broke), without
  // consuming request bytes (a follow stream checks this while it waits).
  bool PeerGone();
  // What the TLS layer said about the last failure.
  std::string tls_error() const { return tls_ ? tls_->error() : ""; }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return net::async_initiate<Token, void(boost::system::error_code, size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (!tls_) {
            tcp_.async_read_some(b, std::move(handler));
            return;
          }
          net::mutable_buffer first;
          for (auto it = net::buffer_sequence_begin(b); it != net::buffer_sequence_end(b); ++it) {
            if (net::mutable_buffer(*it).size() > 0) {
              first = *it;
              break;
            }
          }
          net::async_compose<decltype(handler), void(boost::system::error_code, size_t)>(
              ReadOp{*this, first}, handler, tcp_);
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return net::async_initiate<Token, void(boost::system::error_code, size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (!tls_) {
            tcp_.async_write_some(b, std::move(handler));
            return;
          }
          // Encrypted now (into memory), sent by the op; a few records at once.
          size_t taken = 0;
          for (auto it = net::buffer_sequence_begin(b); it != net::buffer_sequence_end(b); ++it) {
            net::const_buffer piece(*it);
            size_t n = std::min(piece.size(), kWriteBatch - taken);
            tls_->Write(static_cast<const char*>(piece.data()), n);
            taken += n;
            if (taken == kWriteBatch) break;
          }
          tls_->TakeOutput(pending_);
          net::async_compose<decltype(handler), void(boost::system::error_code, size_t)>(
              WriteOp{*this, taken}, handler, tcp_);
        },
        token, buffers);
  }

 private:
  static constexpr size_t kWriteBatch = 64 * 1024;
  static constexpr size_t kReadBuffer = 16 * 1024;

  // Decrypts into BUFFER what the TlsConn has, reading ciphertext as needed.
  struct ReadOp {
    HttpStream& s;
    net::mutable_buffer buffer;
    enum { kStart, kReading, kDone } step = kStart;
    size_t result = 0;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, size_t n = 0) {
      if (step == kDone) return self.complete({}, result);
      if (step == kReading) {
        if (ec) return self.complete(ec, 0);
        s.tls_->Feed(s.rbuf_.data(), n);
      }
      bool initial = step == kStart;
      TlsState state;
      size_t got = buffer.size() == 0
                       ? 0
                       : s.tls_->Read(static_cast<char*>(buffer.data()), buffer.size(), &state);
      if (buffer.size() == 0) state = TlsState::kOk;
      if (s.tls_->has_output()) s.tls_->TakeOutput(s.pending_);
      if (state == TlsState::kWantRead) {
        step = kReading;
        s.rbuf_.resize(kReadBuffer);
        return s.tcp_.async_read_some(net::buffer(s.rbuf_), std::move(self));
      }
      boost::system::error_code out_ec;
      if (state == TlsState::kClosed) out_ec = net::error::eof;
      if (state == TlsState::kError) out_ec = net::error::connection_reset;
      if (!initial) return self.complete(out_ec, got);
      // Answered from what was already decrypted: complete through the
      // executor, never inside the initiating call.
      if (out_ec) return self.complete(out_ec, 0);
      step = kDone;
      result = got;
      net::post(s.tcp_.get_executor(), std::move(self));
    }
  };

  struct WriteOp {
    HttpStream& s;
    size_t taken;
    bool started = false;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, size_t = 0) {
      if (!started) {
        started = true;
        s.writing_.swap(s.pending_);
        return net::async_write(s.tcp_, net::buffer(s.writing_), std::move(self));
      }
      s.writing_.clear();
      self.complete(ec, ec ? 0 : taken);
    }
  };

  beast::tcp_stream tcp_;
  std::unique_ptr<TlsConn> tls_;
  std::string pending_;  // ciphertext not yet given to a write
  std::string writing_;  // ciphertext of the write in flight
  std::string rbuf_;     // ciphertext read (TLS only: plain sessions need none)
};

}  // namespace jenky
