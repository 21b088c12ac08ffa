#include "http/log_hub.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "http/ws_codec.h"
#include "util/json.h"
#include "util/utf8.h"

namespace jenky {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kChunk = 64 * 1024;         // log bytes in one message at most
constexpr size_t kCachedChunks = 4;          // encoded chunks a feed keeps for sharing
constexpr size_t kBytesPerTurn = 256 * 1024;  // a viewer yields the loop after this much
constexpr size_t kMaxClientMessage = 4096;
constexpr size_t kCompressAbove = 128;  // smaller messages gain nothing from deflate
constexpr auto kCloseGrace = std::chrono::seconds(5);
constexpr size_t kSlice = 1024;  // viewers flushed in one turn of the loop

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

// One text message as a ready frame, deflated when the viewer negotiated it
// and it is worth it.
std::shared_ptr<const std::string> TextFrame(std::string_view payload, bool deflate) {
  auto frame = std::make_shared<std::string>();
  if (deflate && payload.size() > kCompressAbove) {
    WsAppendFrame(*frame, WsOpcode::kText, WsDeflate(payload), true);
  } else {
    WsAppendFrame(*frame, WsOpcode::kText, payload);
  }
  return frame;
}

std::string RunMessage(const char* type, const Run* run) {
  nlohmann::json j = {{"type", type}, {"run", run ? RunToJson(*run) : nlohmann::json(nullptr)}};
  return DumpJson(j);
}

bool SendableCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}

}  // namespace

// The log of one run as its viewers see it, and the frames they share.
struct LogHub::Feed {
  struct Chunk {
    int64_t offset = 0;
    int64_t next = 0;
    std::string bytes;
    std::shared_ptr<const std::string> frames[4];  // [raw * 2 + deflate]
  };
  enum class Read { kFrame, kWait, kError };

  int64_t run_id = 0;
  std::string path;
  int fd = -1;  // one descriptor of the log for all of the run's viewers
  int64_t size = 0;
  bool complete = false;   // the run is over: its log is whole on disk
  std::optional<Run> run;  // as of the last refresh
  std::vector<Viewer*> viewers;
  // Flushes go over the viewers in slices (kSlice), each slice a turn of the
  // loop: growth that arrives meanwhile reaches the slices not yet sent, so
  // a viewer waits at most about one pass for a line, not two.
  bool slice_posted = false;
  size_t cursor = 0;   // next viewer of the pass in progress
  bool again = false;  // grew (or lost viewers) during the pass: one more
  std::deque<Chunk> chunks;
  std::shared_ptr<const std::string> status_frames[2];  // [deflate], for `run` as it is
  std::shared_ptr<const std::string> run_frames[2];

  ~Feed() {
    if (fd >= 0) close(fd);
  }

  void Refresh(Engine& engine) {
    if (std::shared_ptr<LogTail> tail = engine.Tail(run_id)) {
      size = tail->size;
      complete = false;
    } else {
      size = FileSize(path);
      complete = true;
    }
    auto found = engine.GetRun(run_id);
    if (found.ok() && found->has_value()) {
      run = **found;
    } else {
      run.reset();
    }
    for (auto& f : status_frames) f.reset();
    for (auto& f : run_frames) f.reset();
  }

  std::shared_ptr<const std::string> StatusFrame(bool deflate) {
    auto& f = status_frames[deflate];
    if (!f) f = TextFrame(RunMessage("status", run ? &*run : nullptr), deflate);
    return f;
  }

  std::shared_ptr<const std::string> RunFrame(bool deflate) {
    auto& f = run_frames[deflate];
    if (!f) f = TextFrame(RunMessage("run", run ? &*run : nullptr), deflate);
    return f;
  }

  // The message for the log bytes from OFFSET: at most kChunk of them, and
  // never ending inside a character unless the log is complete there.
  Read FrameAt(int64_t offset, bool raw, bool deflate, std::shared_ptr<const std::string>* frame,
               int64_t* next) {
    Chunk* chunk = nullptr;
    for (Chunk& c : chunks) {
      if (c.offset == offset) chunk = &c;
    }
    if (!chunk) {
      if (fd < 0) fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Read::kError;
      size_t want = static_cast<size_t>(std::min<int64_t>(size - offset, kChunk));
      std::string data(want, '\0');
      ssize_t n = pread(fd, data.data(), want, offset);
      if (n < 0) return Read::kError;
      if (n == 0) return Read::kWait;
      data.resize(n);
      bool at_end = complete && offset + n == size;
      size_t keep = at_end ? data.size() : CompleteUtf8Prefix(data);
      if (keep == 0) return Read::kWait;  // only the start of a character so far
      data.resize(keep);
      if (chunks.size() == kCachedChunks) chunks.pop_front();
      chunks.push_back(Chunk{offset, offset + static_cast<int64_t>(keep), std::move(data), {}});
      chunk = &chunks.back();
    }
    auto& f = chunk->frames[raw * 2 + deflate];
    if (!f) {
      if (raw) {
        f = TextFrame(SanitizeUtf8(chunk->bytes), deflate);
      } else {
        std::string msg = fmt::format(R"({{"type":"log","run":{},"offset":{},"next":{},"data":")",
                                      run_id, chunk->offset, chunk->next);
        AppendJsonEscapedUtf8(chunk->bytes, msg);
        msg += "\"}";
        f = TextFrame(msg, deflate);
      }
    }
    *frame = f;
    *next = chunk->next;
    return Read::kFrame;
  }
};

class LogHub::Viewer : public std::enable_shared_from_this<LogHub::Viewer> {
 public:
  enum class Phase { kStreaming, kBetweenRuns, kClosing, kClosed };

  Viewer(LogHub& hub, tcp::socket socket, std::unique_ptr<TlsConn> tls, LogSocketOptions o,
         bool deflate)
      : hub_(hub), socket_(std::move(socket)), fd_(socket_.native_handle()), tls_(std::move(tls)),
        o_(std::move(o)), deflate_(deflate), parser_(kMaxClientMessage, deflate),
        heard_(Clock::now()) {}

  void Start(std::string handshake, std::string leftover);
  void Pump();
  // Sends a close frame after what is in flight; no more log after it.
  void Close(uint16_t code, std::string_view reason);
  // Ends the connection now (a dead or misbehaving peer).
  void Drop();
  void Tick(Clock::time_point now);
  void SwitchTo(int64_t run_id);
  // Batched fan-out (LogHub::Flush): when the viewer is idle and has a frame
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
  Feed* feed() const { return feed_; }
  const LogSocketOptions& options() const { return o_; }
  int64_t current_run() const { return current_run_; }
  int64_t offset() const { return offset_; }
  size_t index = 0;  // in hub_.viewers_

 private:
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
  void Attach(Feed* feed, int64_t offset);
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
  Feed* feed_ = nullptr;
  size_t feed_index_ = 0;
  int64_t offset_ = 0;
  int64_t current_run_ = 0;
  std::optional<RunStatus> sent_status_;
  bool live_ = false;  // has caught up with a running log at least once
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

void LogHub::Viewer::Start(std::string handshake, std::string leftover) {
  control_ = std::move(handshake);
  if (o_.project.empty()) {
    Feed* feed = hub_.FeedFor(o_.run_id);
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
      if (!o_.raw) control_ += *TextFrame(RunMessage("run", nullptr), deflate_);
      WaitForNextRun();
    } else {
      Feed* feed = hub_.FeedFor(current_run_);
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

void LogHub::Viewer::Attach(Feed* feed, int64_t offset) {
  Detach();
  feed_ = feed;
  feed_index_ = feed->viewers.size();
  feed->viewers.push_back(this);
  offset_ = offset;
  live_ = false;
  sent_status_ = feed->run ? std::optional<RunStatus>(feed->run->status) : std::nullopt;
  phase_ = Phase::kStreaming;
}

void LogHub::Viewer::Detach() {
  if (!feed_) return;
  auto& list = feed_->viewers;
  list[feed_index_] = list.back();
  list[feed_index_]->feed_index_ = feed_index_;
  list.pop_back();
  // A pass in progress may skip the viewer moved into this place.
  if (feed_->cursor > 0) feed_->again = true;
  if (list.empty()) hub_.ReleaseFeedLater(feed_->run_id);
  feed_ = nullptr;
}

void LogHub::Viewer::WaitForNextRun() {
  Detach();
  phase_ = Phase::kBetweenRuns;
  hub_.waiting_[o_.project].push_back(this);
  // A run may have started while this one was streamed out.
  net::post(hub_.io_, [self = shared_from_this()] {
    if (self->phase_ == Phase::kBetweenRuns) self->hub_.OnNewRun(self->o_.project);
  });
}

void LogHub::Viewer::SwitchTo(int64_t run_id) {
  Feed* feed = hub_.FeedFor(run_id);
  current_run_ = run_id;
  if (!o_.raw) control_ += *feed->RunFrame(deflate_);
  Attach(feed, 0);
  Pump();
}

void LogHub::Viewer::Read() {
  socket_.async_read_some(net::buffer(rbuf_), [self = shared_from_this()](
                                                   boost::system::error_code ec, size_t n) {
    self->OnRead(ec, n);
  });
}

void LogHub::Viewer::OnRead(boost::system::error_code ec, size_t n) {
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

bool LogHub::Viewer::ReadTls() {
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

void LogHub::Viewer::Handle(std::string_view bytes) {
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
      case WsEvent::Kind::kError:
        Close(e.close_code, e.reason);
        return;
      case WsEvent::Kind::kBinary:
      case WsEvent::Kind::kPong:
        break;
    }
  }
}

void LogHub::Viewer::Close(uint16_t code, std::string_view reason) {
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

void LogHub::Viewer::Drop() {
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

bool LogHub::Viewer::SendSome(const char* data, size_t size, size_t* pos) {
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

void LogHub::Viewer::WaitWritable() {
  writing_ = true;
  blocked_ = Clock::now();
  socket_.async_wait(tcp::socket::wait_write,
                     [self = shared_from_this()](boost::system::error_code ec) {
                       self->writing_ = false;
                       if (ec || self->phase_ == Phase::kClosed) return;
                       self->Pump();
                     });
}

bool LogHub::Viewer::EncryptNext() {
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

bool LogHub::Viewer::SendPending() {
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

void LogHub::Viewer::Pump() {
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

bool LogHub::Viewer::Produce() {
  Feed& f = *feed_;
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
      case Feed::Read::kFrame:
        out_pos_ = 0;
        offset_ = next;
        return true;
      case Feed::Read::kError:
        // Out of descriptors, or the log vanished: say so rather than hang.
        Close(static_cast<uint16_t>(WsClose::kInternalError),
              fmt::format("cannot read the log: {}; retry with ?offset={}", std::strerror(errno),
                          offset_));
        return true;
      case Feed::Read::kWait:
        break;
    }
  } else if (!f.complete) {
    live_ = true;
  }
  // Caught up (or waiting for the rest of a character).
  bool done = f.complete && offset_ >= f.size;
  // Every change of state is sent; a finished run always ends with its status.
  if (f.run->status != sent_status_ || done) {
    sent_status_ = f.run->status;
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

bool LogHub::Viewer::StartBatch() {
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

void LogHub::Viewer::FinishBatch(size_t sent, int error) {
  if (error) return Drop();
  if (tls_) {
    wire_pos_ = sent;
  } else {
    out_pos_ = sent;
  }
  Pump();  // the rest of a frame the socket had no room for, or what comes next
}

void LogHub::Viewer::Tick(Clock::time_point now) {
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

LogHub::LogHub(net::io_context& io, Engine& engine)
    : io_(io), engine_(engine), sweep_(std::make_unique<net::steady_timer>(io)),
      pool_(std::clamp(static_cast<int>(std::thread::hardware_concurrency()) - 1, 0, 3)) {
  engine_.SetLogListener([this](int64_t id) { OnLog(id); });
  engine_.SetNewRunListener([this](const std::string& project) { OnNewRun(project); });
}

LogHub::~LogHub() {
  engine_.SetLogListener(nullptr);
  engine_.SetNewRunListener(nullptr);
  for (auto& v : std::vector<std::shared_ptr<Viewer>>(viewers_)) v->Drop();
}

std::optional<WsRefusal> LogHub::Check(const Request& req, const LogSocketOptions& o) const {
  auto header = [&](http::field f) {
    auto it = req.find(f);
    return it == req.end() ? std::string() : std::string(it->value());
  };
  if (header(http::field::sec_websocket_version) != "13") {
    return WsRefusal{426, "upgrade_required", "this server speaks WebSocket version 13 (RFC 6455)",
                     {{"Sec-WebSocket-Version", "13"}}};
  }
  if (!WsValidClientKey(header(http::field::sec_websocket_key))) {
    return WsRefusal{400, "bad_request",
                     "Sec-WebSocket-Key must be the base64 of 16 random bytes (RFC 6455)", {}};
  }
  const ServerConfig& server = engine_.config().server;
  if (shutting_down_) {
    return WsRefusal{503, "unavailable", "jenky is restarting; reconnect in a moment",
                     {{"Retry-After", "1"}}};
  }
  if (viewers_.size() >= static_cast<size_t>(server.ws_max_viewers)) {
    return WsRefusal{503, "too_many_viewers",
                     fmt::format("{} WebSocket viewers are connected, the most [server] "
                                 "ws_max_viewers allows; try again later",
                                 viewers_.size()),
                     {{"Retry-After", "5"}}};
  }
  if (o.project.empty()) {
    auto it = feeds_.find(o.run_id);
    size_t of_run = it == feeds_.end() ? 0 : it->second->viewers.size();
    if (of_run >= static_cast<size_t>(server.ws_max_viewers_per_run)) {
      return WsRefusal{503, "too_many_viewers",
                       fmt::format("run {} has {} viewers, the most [server] "
                                   "ws_max_viewers_per_run allows; try again later",
                                   o.run_id, of_run),
                       {{"Retry-After", "5"}}};
    }
  }
  return std::nullopt;
}

void LogHub::Accept(tcp::socket socket, std::unique_ptr<TlsConn> tls, std::string leftover,
                    const Request& req, LogSocketOptions o) {
  boost::system::error_code ec;
  socket.non_blocking(true, ec);
  socket.set_option(tcp::no_delay(true), ec);  // whole frames; never wait for an ACK
  std::optional<std::string> deflate;
  if (auto it = req.find(http::field::sec_websocket_extensions); it != req.end()) {
    deflate = WsNegotiateDeflate(std::string_view(it->value().data(), it->value().size()));
  }
  auto key = req.find(http::field::sec_websocket_key);
  std::string handshake = fmt::format(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: {}\r\nServer: jenky\r\n",
      WsAcceptKey(std::string_view(key->value().data(), key->value().size())));
  if (deflate) handshake += "Sec-WebSocket-Extensions: " + *deflate + "\r\n";
  handshake += "\r\n";
  auto v = std::make_shared<Viewer>(*this, std::move(socket), std::move(tls), std::move(o),
                                    deflate.has_value());
  v->index = viewers_.size();
  viewers_.push_back(v);
  ArmSweep();
  v->Start(std::move(handshake), std::move(leftover));
}

void LogHub::Shutdown() {
  shutting_down_ = true;
  for (auto& v : std::vector<std::shared_ptr<Viewer>>(viewers_)) {
    std::string reason = "jenky is restarting; reconnect";
    if (v->phase() == Viewer::Phase::kStreaming && v->options().project.empty()) {
      reason += fmt::format(" with ?offset={}", v->offset());
    }
    v->Close(static_cast<uint16_t>(WsClose::kServiceRestart), reason);
    v->Pump();
  }
}

LogHub::Feed* LogHub::FeedFor(int64_t run_id) {
  auto& slot = feeds_[run_id];
  if (!slot) {
    slot = std::make_unique<Feed>();
    slot->run_id = run_id;
    slot->path = engine_.LogPath(run_id);
    slot->Refresh(engine_);
  }
  return slot.get();
}

void LogHub::ReleaseFeedLater(int64_t run_id) {
  net::post(io_, [this, run_id] {
    auto it = feeds_.find(run_id);
    if (it != feeds_.end() && it->second->viewers.empty()) feeds_.erase(it);
  });
}

void LogHub::OnLog(int64_t run_id) {
  auto it = feeds_.find(run_id);
  if (it == feeds_.end()) return;
  Feed& feed = *it->second;
  if (feed.slice_posted || feed.cursor > 0) {
    feed.again = true;  // the slices still to come see it; those sent get another pass
    return;
  }
  // Posted, not run now: growth that arrives meanwhile joins this flush.
  feed.slice_posted = true;
  net::post(io_, [this, run_id] { FlushSlice(run_id); });
}

void LogHub::FlushSlice(int64_t run_id) {
  auto it = feeds_.find(run_id);
  if (it == feeds_.end()) return;
  Feed& feed = *it->second;
  feed.slice_posted = false;
  feed.Refresh(engine_);
  // A copy: pumping may close viewers or move them to another run. Dropped
  // viewers stay allocated (graveyard_) until the next turn of the loop.
  size_t end = std::min(feed.viewers.size(), feed.cursor + kSlice);
  std::vector<Viewer*> viewers(feed.viewers.begin() + std::min(feed.cursor, end),
                               feed.viewers.begin() + end);
  feed.cursor = end;
  // Viewers that are idle get their next frame (mostly the same shared one)
  // in one batch, sent on every core (send_pool.h); the others pump alone.
  std::vector<Viewer*> batched;
  std::vector<SendPool::Job> jobs;
  for (Viewer* v : viewers) {
    if (v->feed() != &feed) continue;
    if (v->StartBatch()) {
      batched.push_back(v);
      std::string_view bytes = v->batch_bytes();
      jobs.push_back(SendPool::Job{v->fd(), bytes.data(), bytes.size()});
    } else {
      v->Pump();
    }
  }
  pool_.SendAll(jobs);
  for (size_t i = 0; i < batched.size(); ++i) batched[i]->FinishBatch(jobs[i].sent, jobs[i].error);
  // (The feed outlives this turn: an emptied feed is released later.)
  if (feed.cursor >= feed.viewers.size()) {
    feed.cursor = 0;  // the pass is over
    if (!feed.again) return;
    feed.again = false;
  }
  feed.slice_posted = true;
  net::post(io_, [this, run_id] { FlushSlice(run_id); });
}

void LogHub::OnNewRun(const std::string& project) {
  auto it = waiting_.find(project);
  if (it == waiting_.end() || it->second.empty()) return;
  auto latest = engine_.LastRun(project);
  if (!latest.ok() || !latest->has_value()) return;
  int64_t id = (*latest)->id;
  std::vector<Viewer*> waiting = std::move(it->second);
  it->second.clear();
  for (Viewer* v : waiting) {
    if (v->phase() != Viewer::Phase::kBetweenRuns) continue;
    if (id > v->current_run()) {
      v->SwitchTo(id);
    } else {
      waiting_[project].push_back(v);
    }
  }
}

void LogHub::Remove(Viewer* v) {
  size_t i = v->index;
  graveyard_.push_back(std::move(viewers_[i]));
  if (i + 1 != viewers_.size()) {
    viewers_[i] = std::move(viewers_.back());
    viewers_[i]->index = i;
  }
  viewers_.pop_back();
  if (graveyard_.size() == 1) {
    net::post(io_, [this] { graveyard_.clear(); });
  }
}

void LogHub::ArmSweep() {
  if (sweep_armed_) return;
  sweep_armed_ = true;
  sweep_->expires_after(std::chrono::seconds(1));
  sweep_->async_wait([this](boost::system::error_code ec) {
    sweep_armed_ = false;
    if (ec) return;
    Sweep();
  });
}

void LogHub::Sweep() {
  auto now = Clock::now();
  for (auto& v : std::vector<std::shared_ptr<Viewer>>(viewers_)) v->Tick(now);
  if (!viewers_.empty()) ArmSweep();
}

}  // namespace jenky
