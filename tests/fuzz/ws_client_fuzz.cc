// libFuzzer target: the WebSocket client-message path (src/http/ws_codec.h):
// what a viewer sends is parsed by WsFrameParser (masking, fragmentation,
// control frames, the size limit, permessage-deflate inflate), as the log
// hub does with kMaxClientMessage.
//
// Input: one flags byte, then the bytes a client sends.
//   bit 0    permessage-deflate was negotiated
//   bits 1-7 the size of the reads the bytes arrive in (1..127; a socket
//            hands the parser any split of the stream)
//
// Beyond the sanitizers, it checks the parser's contract: the same stream
// gives the same events whether it arrives whole or in small reads; nothing
// follows an error; messages are within the limit, text is UTF-8, control
// payloads fit a control frame; what is buffered stays bounded. It also
// drives the other functions that see client bytes: the handshake's key
// check and accept key, the extension offer, and inflate with a limit
// (whose output deflates and inflates back to itself).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/ws_codec.h"
#include "util/utf8.h"

namespace {

// As src/http/log_hub.cc: a viewer sends "ping" or nothing.
constexpr size_t kMaxMessage = 4096;

bool Same(const jenky::WsEvent& a, const jenky::WsEvent& b) {
  return a.kind == b.kind && a.payload == b.payload && a.close_code == b.close_code &&
         a.reason == b.reason;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace jenky;
  if (size == 0) return 0;
  bool deflate = data[0] & 1;
  size_t read_size = (data[0] >> 1) == 0 ? 1 : (data[0] >> 1);
  std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::vector<WsEvent> whole;
  WsFrameParser a(kMaxMessage, deflate);
  a.Feed(stream, whole);

  std::vector<WsEvent> pieces;
  WsFrameParser b(kMaxMessage, deflate);
  for (size_t i = 0; i < stream.size(); i += read_size) {
    b.Feed(stream.substr(i, read_size), pieces);
    // At most one incomplete frame (header + payload) and one message.
    if (b.buffered() > 2 * kMaxMessage + 14 + read_size) __builtin_trap();
  }

  if (whole.size() != pieces.size() || a.failed() != b.failed()) __builtin_trap();
  for (size_t i = 0; i < whole.size(); ++i) {
    const WsEvent& e = whole[i];
    if (!Same(e, pieces[i])) __builtin_trap();
    if (e.kind == WsEvent::Kind::kError && i + 1 != whole.size()) __builtin_trap();
    if (e.payload.size() > kMaxMessage) __builtin_trap();
    if (e.kind == WsEvent::Kind::kText && !IsValidUtf8(e.payload)) __builtin_trap();
    bool control = e.kind == WsEvent::Kind::kPing || e.kind == WsEvent::Kind::kPong ||
                   e.kind == WsEvent::Kind::kClose;
    if (control && e.payload.size() + e.reason.size() > 125) __builtin_trap();
  }
  if (a.failed() != (!whole.empty() && whole.back().kind == WsEvent::Kind::kError)) {
    __builtin_trap();
  }

  // The handshake and inflate see client bytes too.
  if (WsValidClientKey(stream)) (void)WsAcceptKey(stream);
  (void)WsNegotiateDeflate(stream);
  if (auto inflated = WsInflate(stream, kMaxMessage)) {
    if (inflated->size() > kMaxMessage) __builtin_trap();
    auto again = WsInflate(WsDeflate(*inflated), kMaxMessage);
    if (!again || *again != *inflated) __builtin_trap();
  }
  return 0;
}
