// The WebSocket wire format (RFC 6455) and permessage-deflate (RFC 7692),
// without sockets: the handshake's accept key and extension negotiation,
// server frames (unmasked) built into shared buffers, and an incremental
// parser of client frames. The log hub (log_hub.h) does the I/O; this file is
// pure so that it is unit-tested and fuzzed byte by byte.
//
// Compression is negotiated without context takeover in both directions, so
// every message is compressed on its own: one compressed frame is shared by
// every viewer that negotiated deflate, and no viewer keeps a zlib stream
// (which would cost tens of KiB each) between messages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jenky {

enum class WsOpcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Close codes jenky sends (RFC 6455 section 7.4.1).
enum class WsClose : uint16_t {
  kNormal = 1000,
  kGoingAway = 1001,
  kProtocolError = 1002,
  kInvalidData = 1007,
  kPolicy = 1008,
  kTooBig = 1009,
  kInternalError = 1011,
  // The server is stopping or restarting (RFC 6455 registry): reconnect,
  // to the next server. Sent on stop and on upgrade.
  kServiceRestart = 1012,
};

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key.
std::string WsAcceptKey(std::string_view client_key);
// True when KEY is what RFC 6455 asks for: base64 of 16 bytes.
bool WsValidClientKey(std::string_view key);

// The Sec-WebSocket-Extensions response accepting permessage-deflate, or
// nullopt when OFFER (the request's header) does not offer it in a form we
// can accept.
std::optional<std::string> WsNegotiateDeflate(std::string_view offer);

// Appends a whole unfragmented server frame: header, then PAYLOAD.
void WsAppendFrame(std::string& out, WsOpcode op, std::string_view payload,
                   bool compressed = false);
// A close frame with CODE and REASON (cut to fit a control frame).
std::string WsCloseFrame(uint16_t code, std::string_view reason);

// Compresses one message for permessage-deflate without context takeover
// (the trailing 00 00 ff ff removed, RFC 7692 section 7.2.1). Reuses one
// zlib stream per thread.
std::string WsDeflate(std::string_view message);
// Decompresses one client message; nullopt when it is not valid deflate data
// or inflates to more than MAX_BYTES.
std::optional<std::string> WsInflate(std::string_view data, size_t max_bytes);

// What a client sent: a whole message or a control frame.
struct WsEvent {
  enum class Kind { kText, kBinary, kPing, kPong, kClose, kError };
  Kind kind;
  std::string payload;      // message or control payload (inflated, unmasked)
  uint16_t close_code = 0;  // kClose: the code the client sent (1005 if none); kError: ours
  std::string reason;       // kClose: the client's reason; kError: what was wrong
};

// Parses the frames of one client connection as bytes arrive. Enforces what
// a server must: masked frames, no reserved bits but RSV1 on the first frame
// of a message when deflate was negotiated, control frames of at most 125
// bytes and never fragmented, continuations only inside a message, text as
// valid UTF-8, and messages of at most MAX_MESSAGE bytes (before and after
// inflating). After an error (a kError event) it accepts nothing more.
class WsFrameParser {
 public:
  WsFrameParser(size_t max_message, bool deflate) : max_message_(max_message), deflate_(deflate) {}

  // Consumes DATA, appending every complete message or control frame to OUT.
  void Feed(std::string_view data, std::vector<WsEvent>& out);
  bool failed() const { return failed_; }
  // Bytes held for an incomplete frame or message (bounded by max_message).
  size_t buffered() const { return pending_.size() + message_.size(); }

 private:
  // Parses one frame at the start of pending_; false when it is incomplete.
  bool ParseFrame(std::vector<WsEvent>& out);
  // What is wrong with a frame whose first two bytes are B0 B1 (RFC 6455
  // section 5.2 and this parser's state), or null.
  const char* HeaderProblem(uint8_t b0, uint8_t b1) const;
  // A whole control frame (ping, pong, close) as its event.
  bool ControlFrame(WsOpcode op, std::string payload, std::vector<WsEvent>& out);
  void Fail(WsClose code, std::string reason, std::vector<WsEvent>& out);
  void FinishMessage(std::vector<WsEvent>& out);

  size_t max_message_;
  bool deflate_;
  bool failed_ = false;
  std::string pending_;  // bytes of a frame not yet complete
  std::string message_;  // payload of a fragmented message so far
  bool in_message_ = false;
  WsOpcode message_op_ = WsOpcode::kText;
  bool message_compressed_ = false;
};

}  // namespace jenky
