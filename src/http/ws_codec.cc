#include "http/ws_codec.h"

#include <zlib.h>

#include <cstring>
#include <memory>

#include "util/hash.h"
#include "util/utf8.h"

namespace jenky {
namespace {

constexpr char kGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr unsigned char kDeflateTail[] = {0x00, 0x00, 0xff, 0xff};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits S at SEP, outside double quotes.
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"') quoted = !quoted;
    if (s[i] == sep && !quoted) {
      parts.push_back(Trim(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  parts.push_back(Trim(s.substr(start)));
  return parts;
}

bool ParseWindowBits(std::string_view v, int& bits) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 2) return false;
  bits = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    bits = bits * 10 + (c - '0');
  }
  return bits >= 8 && bits <= 15;
}

// One zlib deflate stream per thread, reset for every message.
struct Deflater {
  z_stream z{};
  bool ok = false;
  Deflater() {
    // Level 5: most of level 9's ratio on log text at a fraction of its CPU.
    ok = deflateInit2(&z, 5, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~Deflater() {
    if (ok) deflateEnd(&z);
  }
};

}  // namespace

std::string WsAcceptKey(std::string_view client_key) {
  std::string text(client_key);
  text += kGuid;
  return Base64Encode(Sha1(text));
}

bool WsValidClientKey(std::string_view key) {
  // 16 bytes encode to 22 characters and "==".
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (char c : key.substr(0, 22)) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string> WsNegotiateDeflate(std::string_view offer) {
  for (std::string_view ext : Split(offer, ',')) {
    std::vector<std::string_view> params = Split(ext, ';');
    if (params.empty() || params[0] != "permessage-deflate") continue;
    bool acceptable = true;
    int server_bits = 0;
    std::vector<std::string_view> seen;
    for (size_t i = 1; i < params.size() && acceptable; ++i) {
      std::string_view p = params[i];
      size_t eq = p.find('=');
      std::string_view name = Trim(p.substr(0, eq));
      std::string_view value = eq == std::string_view::npos ? "" : Trim(p.substr(eq + 1));
      for (std::string_view s : seen) acceptable &= s != name;  // a repeated parameter
      seen.push_back(name);
      int bits = 0;
      if (name == "server_no_context_takeover" || name == "client_no_context_takeover") {
        acceptable &= value.empty();
      } else if (name == "server_max_window_bits") {
        // zlib cannot compress raw deflate with a 256-byte window.
        acceptable &= ParseWindowBits(value, bits) && bits >= 9;
        server_bits = bits;
      } else if (name == "client_max_window_bits") {
        // Any window is fine: every client message is inflated with 32 KiB.
        acceptable &= value.empty() || ParseWindowBits(value, bits);
      } else {
        acceptable = false;
      }
    }
    if (!acceptable) continue;
    std::string answer =
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
    if (server_bits) answer += "; server_max_window_bits=" + std::to_string(server_bits);
    return answer;
  }
  return std::nullopt;
}

void WsAppendFrame(std::string& out, WsOpcode op, std::string_view payload, bool compressed) {
  unsigned char head[10];
  size_t n = 0;
  head[n++] = static_cast<unsigned char>(0x80 | (compressed ? 0x40 : 0) | static_cast<int>(op));
  uint64_t len = payload.size();
  if (len < 126) {
    head[n++] = static_cast<unsigned char>(len);
  } else if (len <= 0xFFFF) {
    head[n++] = 126;
    head[n++] = static_cast<unsigned char>(len >> 8);
    head[n++] = static_cast<unsigned char>(len);
  } else {
    head[n++] = 127;
    for (int shift = 56; shift >= 0; shift -= 8)
      head[n++] = static_cast<unsigned char>(len >> shift);
  }
  out.reserve(out.size() + n + payload.size());
  out.append(reinterpret_cast<char*>(head), n);
  out.append(payload);
}

std::string WsCloseFrame(uint16_t code, std::string_view reason) {
  std::string payload;
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xFF);
  // A control frame carries at most 125 bytes; cut the reason at a character.
  reason = reason.substr(0, 123);
  payload.append(reason.substr(0, CompleteUtf8Prefix(reason)));
  std::string frame;
  WsAppendFrame(frame, WsOpcode::kClose, payload);
  return frame;
}

std::string WsDeflate(std::string_view message) {
  thread_local Deflater d;
  std::string out;
  if (!d.ok) return out;
  deflateReset(&d.z);
  out.resize(deflateBound(&d.z, message.size()) + 16);
  d.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
  d.z.avail_in = static_cast<uInt>(message.size());
  d.z.next_out = reinterpret_cast<Bytef*>(out.data());
  d.z.avail_out = static_cast<uInt>(out.size());
  deflate(&d.z, Z_SYNC_FLUSH);
  out.resize(out.size() - d.z.avail_out);
  // Z_SYNC_FLUSH ends with an empty stored block, 00 00 ff ff, which the
  // receiver adds back (RFC 7692 section 7.2.1).
  if (out.size() >= 4 && std::memcmp(out.data() + out.size() - 4, kDeflateTail, 4) == 0) {
    out.resize(out.size() - 4);
  }
  return out;
}

std::optional<std::string> WsInflate(std::string_view data, size_t max_bytes) {
  z_stream z{};
  if (inflateInit2(&z, -15) != Z_OK) return std::nullopt;
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&z, inflateEnd);
  std::string input(data);
  input.append(reinterpret_cast<const char*>(kDeflateTail), 4);
  std::string out;
  char buf[4096];
  z.next_in = reinterpret_cast<Bytef*>(input.data());
  z.avail_in = static_cast<uInt>(input.size());
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > max_bytes) return std::nullopt;
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // all input consumed
    if (rc != Z_OK) return std::nullopt;
    if (z.avail_in == 0 && z.avail_out != 0) break;
  }
  return out;
}

void WsFrameParser::Feed(std::string_view data, std::vector<WsEvent>& out) {
  if (failed_) return;
  pending_.append(data);
  while (!failed_ && ParseFrame(out)) {
  }
}

void WsFrameParser::Fail(WsClose code, std::string reason, std::vector<WsEvent>& out) {
  failed_ = true;
  pending_.clear();
  message_.clear();
  WsEvent e{WsEvent::Kind::kError, {}, static_cast<uint16_t>(code), std::move(reason)};
  out.push_back(std::move(e));
}

const char* WsFrameParser::HeaderProblem(uint8_t b0, uint8_t b1) const {
  auto op = static_cast<WsOpcode>(b0 & 0x0F);
  bool fin = b0 & 0x80, rsv1 = b0 & 0x40, control = static_cast<int>(op) >= 0x8;
  if (b0 & 0x30) return "reserved bits set";
  switch (op) {
    case WsOpcode::kContinuation:
    case WsOpcode::kText:
    case WsOpcode::kBinary:
    case WsOpcode::kClose:
    case WsOpcode::kPing:
    case WsOpcode::kPong: break;
    default: return "unknown opcode";
  }
  if (!(b1 & 0x80)) return "client frames must be masked";
  if (control && (!fin || (b1 & 0x7F) > 125)) {
    return "control frames must be whole and at most 125 bytes";
  }
  if (rsv1 && (!deflate_ || control || op == WsOpcode::kContinuation)) {
    return "compressed frame where none may be";
  }
  if (op == WsOpcode::kContinuation && !in_message_) return "continuation frame outside a message";
  if ((op == WsOpcode::kText || op == WsOpcode::kBinary) && in_message_) {
    return "new message before the previous one ended";
  }
  return nullptr;
}

bool WsFrameParser::ControlFrame(WsOpcode op, std::string payload, std::vector<WsEvent>& out) {
  WsEvent e{WsEvent::Kind::kPing, std::move(payload), 0, {}};
  if (op == WsOpcode::kPong) e.kind = WsEvent::Kind::kPong;
  if (op == WsOpcode::kClose) {
    e.kind = WsEvent::Kind::kClose;
    if (e.payload.size() == 1) {
      Fail(WsClose::kProtocolError, "close frame with a 1-byte payload", out);
      return false;
    }
    e.close_code = 1005;  // "no status received"
    if (e.payload.size() >= 2) {
      e.close_code = static_cast<uint16_t>((static_cast<unsigned char>(e.payload[0]) << 8) |
                                           static_cast<unsigned char>(e.payload[1]));
      e.reason = e.payload.substr(2);
      if (!IsValidUtf8(e.reason)) {
        Fail(WsClose::kInvalidData, "close reason is not UTF-8", out);
        return false;
      }
    }
    e.payload.clear();
  }
  out.push_back(std::move(e));
  return true;
}

bool WsFrameParser::ParseFrame(std::vector<WsEvent>& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(pending_.data());
  size_t have = pending_.size();
  if (have < 2) return false;
  if (const char* problem = HeaderProblem(p[0], p[1])) {
    Fail(WsClose::kProtocolError, problem, out);
    return false;
  }
  bool fin = p[0] & 0x80;
  bool rsv1 = p[0] & 0x40;
  auto op = static_cast<WsOpcode>(p[0] & 0x0F);
  uint64_t len = p[1] & 0x7F;
  size_t pos = 2;
  if (len == 126) {
    if (have < 4) return false;
    len = (uint64_t{p[2]} << 8) | p[3];
    pos = 4;
  } else if (len == 127) {
    if (have < 10) return false;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
    pos = 10;
  }
  // Refuse before buffering: a frame can claim up to 2^63 bytes.
  if (len > max_message_ || message_.size() + len > max_message_) {
    Fail(WsClose::kTooBig, "message too big: at most " + std::to_string(max_message_) + " bytes",
         out);
    return false;
  }
  if (have < pos + 4 + len) return false;
  unsigned char mask[4];
  std::memcpy(mask, p + pos, 4);
  pos += 4;
  std::string payload(pending_.data() + pos, len);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] ^= static_cast<char>(mask[i & 3]);
  pending_.erase(0, pos + len);

  if (static_cast<int>(op) >= 0x8) return ControlFrame(op, std::move(payload), out);
  if (op != WsOpcode::kContinuation) {
    in_message_ = true;
    message_op_ = op;
    message_compressed_ = rsv1;
  }
  message_ += payload;
  if (fin) FinishMessage(out);
  return !failed_;
}

void WsFrameParser::FinishMessage(std::vector<WsEvent>& out) {
  in_message_ = false;
  std::string body = std::move(message_);
  message_.clear();
  if (message_compressed_) {
    auto inflated = WsInflate(body, max_message_);
    if (!inflated) {
      Fail(WsClose::kTooBig,
           "compressed message is invalid or inflates past " + std::to_string(max_message_) +
               " bytes",
           out);
      return;
    }
    body = std::move(*inflated);
  }
  bool text = message_op_ == WsOpcode::kText;
  if (text && !IsValidUtf8(body)) {
    Fail(WsClose::kInvalidData, "text message is not UTF-8", out);
    return;
  }
  out.push_back(
      WsEvent{text ? WsEvent::Kind::kText : WsEvent::Kind::kBinary, std::move(body), 0, {}});
}

}  // namespace jenky
