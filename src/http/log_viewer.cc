#include "http/log_viewer.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <boost/asio/post.hpp>

#include "server/engine.h"

namespace jenky {
namespace {

constexpr size_t kBytesPerTurn = 256 * 1024;  // a viewer yields the loop after this much
constexpr auto kCloseGrace = std::chrono::seconds(5);

bool SendableCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}

}  // namespace

void LogViewer::Start(std::string handshake, std::string leftover) {
  control_ = std::move(handshake);
  if (o_.project.empty()) {
    LogFeed* feed = hub_.FeedFor(o_.run_id, o_.host);
    current_run_ = o_.run_id;
    if (!feed->run) {
      Close(static_cast<uint16_t>(WsClose::kInternalError), "the run vanished");
    } else {
      if (!o_.raw) control_ += *feed->RunFrame(deflate_);
      Attach(feed, o_.offset);
    }
  } else {
    auto last = hub_.engine_.LastRun(o_.project);
    current_run_ = last.ok() && last->has_value() ? (*last)->id : 0;
    if (o_.after_run > 0 && current_run_ <= o_.after_run) {
      current_run_ = o_.after_run;  // ?after=: that run is seen; wait for a newer one
      WaitForNextRun();
    } else if (current_run_ == 0) {
      if (!o_.raw) control_ += *LogTextFrame(LogRunMessage("run", nullptr), deflate_);
      WaitForNextRun();
    } else {
      LogFeed* feed = hub_.FeedFor(current_run_);
      if (!o_.raw) control_ += *feed->RunFrame(deflate_);
      Attach(feed, 0);
    }
  }
  if (!leftover.empty()) Handle(leftover);
  // Records that came with the upgrade request may hold more already.
  if (tls_ && phase_ != Phase::kClosed && !ReadTls()) return Drop();
  if (phase_ == Phase::kClosed) return;
  Read();
  Pump();
}

void LogViewer::Attach(LogFeed* feed, int64_t offset) {
  Detach();
  feed_ = feed;
  feed_index_ = feed->viewers.size();
  feed->viewers.push_back(this);
  offset_ = offset;
  live_ = false;
  sent_state_ = feed->state;
  phase_ = Phase::kStreaming;
}

void LogViewer::Detach() {
  if (!feed_) return;
  auto& list = feed_->viewers;
  list[feed_index_] = list.back();
  list[feed_index_]->feed_index_ = feed_index_;
  list.pop_back();
  // A pass in progress may skip the viewer moved into this place.
  if (feed_->cursor > 0) feed_->again = true;
  if (list.empty()) hub_.ReleaseFeedLater({feed_->run_id, feed_->host});
  feed_ = nullptr;
}

void LogViewer::WaitForNextRun() {
  Detach();
  phase_ = Phase::kBetweenRuns;
  hub_.waiting_[o_.project].push_back(this);
  // A run may have started while this one was streamed out.
  net::post(hub_.io_, [self = shared_from_this()] {
    if (self->phase_ == Phase::kBetweenRuns) self->hub_.OnNewRun(self->o_.project);
  });
}

void LogViewer::SwitchTo(int64_t run_id) {
  LogFeed* feed = hub_.FeedFor(run_id);
  current_run_ = run_id;
  if (!o_.raw) control_ += *feed->RunFrame(deflate_);
  Attach(feed, 0);
  Pump();
}

void LogViewer::Read() {
  socket_.async_read_some(
      net::buffer(rbuf_),
      [self = shared_from_this()](boost::system::error_code ec, size_t n) { self->OnRead(ec, n); });
}

void LogViewer::OnRead(boost::system::error_code ec, size_t n) {
  if (phase_ == Phase::kClosed) return;
  if (ec) return Drop();  // EOF, reset or closed: nothing more to say to it
  if (tls_) {
    tls_->Feed(rbuf_.data(), n);
    if (!ReadTls()) return Drop();  // close_notify or a broken record
  } else {
    Handle(std::string_view(rbuf_.data(), n));
  }
  if (phase_ == Phase::kClosed) return;
  Pump();
  if (phase_ != Phase::kClosed) Read();
}

bool LogViewer::ReadTls() {
  char plain[2048];
  for (;;) {
    TlsState state;
    size_t n = tls_->Read(plain, sizeof plain, &state);
    if (tls_->has_output()) tls_->TakeOutput(wire_);  // e.g. a key update's answer
    if (state == TlsState::kWantRead) return true;
    if (state != TlsState::kOk) return false;
    Handle(std::string_view(plain, n));
    if (phase_ == Phase::kClosed) return true;
  }
}

void LogViewer::Handle(std::string_view bytes) {
  heard_ = Clock::now();
  ping_sent_ = false;
  std::vector<WsEvent> events;
  parser_.Feed(bytes, events);
  for (WsEvent& e : events) {
    switch (e.kind) {
      case WsEvent::Kind::kText:
        if (e.payload == "ping") pong_wanted_ = true;
        break;
      case WsEvent::Kind::kPing:
        if (phase_ != Phase::kClosing) WsAppendFrame(control_, WsOpcode::kPong, e.payload);
        break;
      case WsEvent::Kind::kClose:
        if (phase_ == Phase::kClosing) return Drop();  // the answer to our close
        Close(SendableCloseCode(e.close_code) ? e.close_code : 1000, "");
        return;  // nothing may follow a close frame
      case WsEvent::Kind::kError: Close(e.close_code, e.reason); return;
      case WsEvent::Kind::kBinary:
      case WsEvent::Kind::kPong: break;
    }
  }
}

void LogViewer::Close(uint16_t code, std::string_view reason) {
  if (phase_ == Phase::kClosing || phase_ == Phase::kClosed) return;
  if (phase_ == Phase::kBetweenRuns) {
    auto& list = hub_.waiting_[o_.project];
    list.erase(std::remove(list.begin(), list.end(), this), list.end());
  }
  Detach();
  phase_ = Phase::kClosing;
  closing_ = Clock::now();
  control_ += WsCloseFrame(code, reason);
}

void LogViewer::Drop() {
  if (phase_ == Phase::kClosed) return;
  if (phase_ == Phase::kBetweenRuns) {
    auto& list = hub_.waiting_[o_.project];
    list.erase(std::remove(list.begin(), list.end(), this), list.end());
  }
  Detach();
  phase_ = Phase::kClosed;
  boost::system::error_code ignored;
  socket_.close(ignored);  // pending waits complete (aborted) and let go of this
  hub_.Remove(this);
}

bool LogViewer::SendSome(const char* data, size_t size, size_t* pos) {
  while (*pos < size) {
    ssize_t n = send(fd_, data + *pos, size - *pos, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      *pos += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      WaitWritable();
      return false;
    }
    Drop();  // EPIPE, ECONNRESET: the peer is gone
    return false;
  }
  return true;
}

void LogViewer::WaitWritable() {
  writing_ = true;
  blocked_ = Clock::now();
  socket_.async_wait(tcp::socket::wait_write,
                     [self = shared_from_this()](boost::system::error_code ec) {
                       self->writing_ = false;
                       if (ec || self->phase_ == Phase::kClosed) return;
                       self->Pump();
                     });
}

bool LogViewer::EncryptNext() {
  if (out_) {
    tls_->Write(out_->data() + out_pos_, out_->size() - out_pos_);
    out_.reset();
    out_pos_ = 0;
  } else if (control_pos_ < control_.size()) {
    tls_->Write(control_.data() + control_pos_, control_.size() - control_pos_);
    control_.clear();
    control_pos_ = 0;
  } else {
    return false;
  }
  tls_->TakeOutput(wire_);
  return true;
}

bool LogViewer::SendPending() {
  if (tls_) {
    // Ciphertext first, in the order it was made; then the next frame.
    for (;;) {
      if (wire_pos_ < wire_.size() && !SendSome(wire_.data(), wire_.size(), &wire_pos_)) {
        return false;
      }
      wire_pos_ = 0;
      wire_.clear();
      if (wire_.capacity() > 4096) std::string().swap(wire_);  // idle viewers stay small
      if (!EncryptNext()) return true;
    }
  }
  if (out_) {
    if (!SendSome(out_->data(), out_->size(), &out_pos_)) return false;
    out_.reset();
    out_pos_ = 0;
  }
  if (control_pos_ < control_.size()) {
    if (!SendSome(control_.data(), control_.size(), &control_pos_)) return false;
    control_.clear();
    control_pos_ = 0;
  }
  return true;
}

void LogViewer::Pump() {
  if (phase_ == Phase::kClosed || writing_) return;
  size_t sent = 0;
  for (;;) {
    size_t before = out_ ? out_->size() : 0;
    if (!SendPending()) return;
    sent += before;
    if (phase_ == Phase::kClosing) {
      if (tls_ && !close_notify_) {
        close_notify_ = true;  // after our close frame, before the FIN
        tls_->Shutdown();
        tls_->TakeOutput(wire_);
        continue;
      }
      if (!shut_) {
        shut_ = true;
        shutdown(fd_, SHUT_WR);  // our close is out; the peer's answer (or EOF) ends it
      }
      return;
    }
    if (pong_wanted_) {
      pong_wanted_ = false;
      WsAppendFrame(control_, WsOpcode::kText, R"({"type":"pong"})");
      continue;
    }
    if (phase_ != Phase::kStreaming) return;
    if (sent >= kBytesPerTurn) {
      // A viewer catching up on a long log takes turns with everyone else.
      if (!pump_posted_) {
        pump_posted_ = true;
        net::post(hub_.io_, [self = shared_from_this()] {
          self->pump_posted_ = false;
          self->Pump();
        });
      }
      return;
    }
    if (!Produce()) return;
  }
}

bool LogViewer::Produce() {
  LogFeed& f = *feed_;
  if (!f.run) {
    Close(static_cast<uint16_t>(WsClose::kInternalError), "the run vanished");
    return true;
  }
  if (offset_ < f.size) {
    if (live_ && f.size - offset_ > o_.max_lag_bytes) {
      Close(static_cast<uint16_t>(WsClose::kPolicy),
            fmt::format("too slow: over {} KiB behind the live log; reconnect with ?offset={}",
                        o_.max_lag_bytes >> 10, offset_));
      return true;
    }
    int64_t next = offset_;
    switch (f.FrameAt(offset_, o_.raw, deflate_, &out_, &next)) {
      case LogFeed::Read::kFrame:
        out_pos_ = 0;
        offset_ = next;
        return true;
      case LogFeed::Read::kError:
        // Out of descriptors, or the log vanished: say so rather than hang.
        Close(static_cast<uint16_t>(WsClose::kInternalError),
              fmt::format("cannot read the log: {}; retry with ?offset={}", std::strerror(errno),
                          offset_));
        return true;
      case LogFeed::Read::kWait: break;
    }
  } else if (!f.complete) {
    live_ = true;
  }
  // Caught up (or waiting for the rest of a character).
  bool done = f.complete && offset_ >= f.size;
  // Every change of state (the run's status, a fleet host's) is sent; a
  // finished run always ends with its status.
  if (f.state != sent_state_ || done) {
    sent_state_ = f.state;
    if (!o_.raw) {
      out_ = f.StatusFrame(deflate_);
      out_pos_ = 0;
    }
    if (done) {
      if (o_.project.empty()) {
        Close(static_cast<uint16_t>(WsClose::kNormal), "run finished");
      } else {
        WaitForNextRun();
      }
    }
    return true;
  }
  return false;
}

bool LogViewer::StartBatch() {
  if (phase_ != Phase::kStreaming || writing_ || out_ || control_pos_ < control_.size() ||
      pong_wanted_ || pump_posted_ || wire_pos_ < wire_.size()) {
    return false;
  }
  if (!Produce()) return false;  // nothing new
  if (out_ && tls_) {
    wire_.clear();
    wire_pos_ = 0;
    EncryptNext();  // on the loop thread: the helpers only send
  }
  if (out_ || !wire_.empty()) return true;
  Pump();  // it decided to close: send that at once
  return false;
}

void LogViewer::FinishBatch(size_t sent, int error) {
  if (error) return Drop();
  if (tls_) {
    wire_pos_ = sent;
  } else {
    out_pos_ = sent;
  }
  Pump();  // the rest of a frame the socket had no room for, or what comes next
}

void LogViewer::Tick(Clock::time_point now) {
  if (phase_ == Phase::kClosed) return;
  if (phase_ == Phase::kClosing) {
    if (now - closing_ > kCloseGrace) Drop();
    return;
  }
  if (now - heard_ > o_.idle_timeout || (writing_ && now - blocked_ > o_.idle_timeout)) {
    return Drop();  // gone without a FIN, or not reading at all
  }
  if (!ping_sent_ && now - heard_ > o_.idle_timeout / 2) {
    ping_sent_ = true;
    WsAppendFrame(control_, WsOpcode::kPing, "");
    Pump();
  }
}

}  // namespace jenky
