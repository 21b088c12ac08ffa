// One WebSocket viewer of a run's log (log_hub.h): a small state machine,
// not a coroutine. Its socket, its byte offset in one run's log, the frame it
// is sending (shared with every viewer at that offset, or its own) and a few
// flags, about 1 KiB in all. It streams its run (or, for a project stream,
// each new run of the project in turn), answers pings and closes, and sends
// with non-blocking send(): a full socket keeps its place in the frame and
// waits to drain, then catches up from the file at its own pace.
//
// Lifecycle: made by LogHub::Accept, which owns it (a shared_ptr in the
// hub's list); Start sends the handshake and the first frames; Close sends a
// close frame after what is in flight, Drop ends it at once; either way it
// leaves the hub's list (LogHub::Remove) and its feed, and is freed on the
// next turn of the loop. Loop-thread only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/run.h"
#include "http/log_feed.h"
#include "http/log_hub.h"
#include "http/ws_codec.h"
#include "util/tls.h"

namespace jenky {

class LogViewer : public std::enable_shared_from_this<LogViewer> {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Phase { kStreaming, kBetweenRuns, kClosing, kClosed };

  LogViewer(LogHub& hub, tcp::socket socket, std::unique_ptr<TlsConn> tls, LogSocketOptions o,
            bool deflate)
      : hub_(hub),
        socket_(std::move(socket)),
        fd_(socket_.native_handle()),
        tls_(std::move(tls)),
        o_(std::move(o)),
        deflate_(deflate),
        parser_(kMaxClientMessage, deflate),
        heard_(Clock::now()) {}

  void Start(std::string handshake, std::string leftover);
  void Pump();
  // Sends a close frame after what is in flight; no more log after it.
  void Close(uint16_t code, std::string_view reason);
  // Ends the connection now (a dead or misbehaving peer).
  void Drop();
  void Tick(Clock::time_point now);
  void SwitchTo(int64_t run_id);
  // Batched fan-out (LogHub::FlushSlice): when the viewer is idle and has a frame
  // to send, StartBatch makes it the viewer's frame in flight and returns
  // true; FinishBatch takes the result of sending it and carries on.
  bool StartBatch();
  void FinishBatch(size_t sent, int error);
  int fd() const { return fd_; }
  // The bytes StartBatch put in flight: the shared frame, or (TLS) its ciphertext.
  std::string_view batch_bytes() const {
    return tls_ ? std::string_view(wire_) : std::string_view(*out_);
  }

  Phase phase() const { return phase_; }
  LogFeed* feed() const { return feed_; }
  const LogSocketOptions& options() const { return o_; }
  int64_t current_run() const { return current_run_; }
  int64_t offset() const { return offset_; }
  size_t index = 0;  // in hub_.viewers_

 private:
  static constexpr size_t kMaxClientMessage = 4096;  // bytes of one message from the peer
  void Read();
  void OnRead(boost::system::error_code ec, size_t n);
  void Handle(std::string_view bytes);
  // TLS: decrypts what the peer sent and handles it; false if it closed.
  bool ReadTls();
  // TLS: encrypts the next frame or control bytes into wire_.
  bool EncryptNext();
  // Sends what is pending; false when the socket is full (a write wait is
  // armed) or the viewer was dropped.
  bool SendPending();
  bool SendSome(const char* data, size_t size, size_t* pos);
  void WaitWritable();
  // Decides the next frame; false when there is nothing to send for now.
  bool Produce();
  void Attach(LogFeed* feed, int64_t offset);
  void Detach();
  void WaitForNextRun();

  LogHub& hub_;
  tcp::socket socket_;
  int fd_;
  // TLS only: the connection's state, and ciphertext not yet taken by the socket.
  std::unique_ptr<TlsConn> tls_;
  std::string wire_;
  size_t wire_pos_ = 0;
  bool close_notify_ = false;
  LogSocketOptions o_;
  bool deflate_;
  WsFrameParser parser_;
  Phase phase_ = Phase::kStreaming;
  LogFeed* feed_ = nullptr;
  size_t feed_index_ = 0;
  int64_t offset_ = 0;
  int64_t current_run_ = 0;
  int64_t sent_state_ = 0;                  // the feed's state as of the last run/status message
  bool live_ = false;                       // has caught up with a running log at least once
  std::shared_ptr<const std::string> out_;  // a shared frame being sent
  size_t out_pos_ = 0;
  std::string control_;  // handshake, pongs, pings, close: before the next frame
  size_t control_pos_ = 0;
  bool pong_wanted_ = false;
  bool ping_sent_ = false;
  bool writing_ = false;  // waiting for the socket to drain
  bool pump_posted_ = false;
  bool shut_ = false;
  Clock::time_point heard_;    // last bytes from the peer
  Clock::time_point blocked_;  // since when a write waits
  Clock::time_point closing_;  // since when our close frame is queued
  std::array<char, 512> rbuf_;
};

}  // namespace jenky
