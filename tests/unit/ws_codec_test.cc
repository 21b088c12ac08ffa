#include "http/ws_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace jenky {
namespace {

// A client frame as RFC 6455 section 5.2 lays it out, masked with MASK.
std::string ClientFrame(uint8_t first_byte, std::string_view payload, bool masked = true,
                        const char mask[4] = "\x37\xfa\x21\x3d") {
  std::string f;
  f += static_cast<char>(first_byte);
  uint8_t m = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    f += static_cast<char>(m | payload.size());
  } else if (payload.size() <= 0xFFFF) {
    f += static_cast<char>(m | 126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xFF);
  } else {
    f += static_cast<char>(m | 127);
    for (int shift = 56; shift >= 0; shift -= 8)
      f += static_cast<char>((payload.size() >> shift) & 0xFF);
  }
  if (masked) f.append(mask, 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    f += masked ? static_cast<char>(payload[i] ^ mask[i & 3]) : payload[i];
  }
  return f;
}

std::vector<WsEvent> Parse(std::string_view bytes, size_t max = 4096, bool deflate = false) {
  WsFrameParser p(max, deflate);
  std::vector<WsEvent> out;
  p.Feed(bytes, out);
  return out;
}

TEST(WsCodecTest, AcceptKeyMatchesTheRfcExample) {
  // RFC 6455 section 1.3.
  EXPECT_EQ(WsAcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsCodecTest, ClientKeyMustBeBase64OfSixteenBytes) {
  EXPECT_TRUE(WsValidClientKey("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_FALSE(WsValidClientKey(""));
  EXPECT_FALSE(WsValidClientKey("dGhlIHNhbXBsZSBub25jZQ"));    // no padding
  EXPECT_FALSE(WsValidClientKey("dGhlIHNhbXBsZSBub25jZQ=!"));  // not base64
  EXPECT_FALSE(WsValidClientKey("dGhlIHNhbXBsZSBub25j*Q=="));
}

TEST(WsCodecTest, DeflateIsAcceptedWithoutContextTakeover) {
  auto a = WsNegotiateDeflate("permessage-deflate; client_max_window_bits");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  EXPECT_TRUE(WsNegotiateDeflate("permessage-deflate"));
  EXPECT_TRUE(WsNegotiateDeflate("permessage-deflate; client_max_window_bits=\"10\""));
}

TEST(WsCodecTest, DeflateOffersWeCannotHonourAreDeclined) {
  EXPECT_FALSE(WsNegotiateDeflate("x-webkit-deflate-frame"));
  EXPECT_FALSE(WsNegotiateDeflate("permessage-deflate; unknown_param"));
  EXPECT_FALSE(WsNegotiateDeflate("permessage-deflate; server_max_window_bits=8"));
  EXPECT_FALSE(WsNegotiateDeflate("permessage-deflate; server_max_window_bits=16"));
  EXPECT_FALSE(
      WsNegotiateDeflate("permessage-deflate; client_no_context_takeover; "
                         "client_no_context_takeover"));
  EXPECT_FALSE(WsNegotiateDeflate("permessage-deflate; server_no_context_takeover=1"));
}

TEST(WsCodecTest, DeflateTakesTheFirstAcceptableOffer) {
  auto a = WsNegotiateDeflate(
      "permessage-deflate; server_max_window_bits=8, "
      "permessage-deflate; server_max_window_bits=10");
  ASSERT_TRUE(a);
  EXPECT_NE(a->find("server_max_window_bits=10"), std::string::npos);
}

TEST(WsCodecTest, ServerFramesUseTheShortestLength) {
  for (size_t n : {0, 1, 125, 126, 65535, 65536, 70000}) {
    std::string f;
    WsAppendFrame(f, WsOpcode::kText, std::string(n, 'x'));
    size_t header = n < 126 ? 2 : n <= 0xFFFF ? 4 : 10;
    ASSERT_EQ(f.size(), header + n) << n;
    EXPECT_EQ(static_cast<uint8_t>(f[0]), 0x81);
    EXPECT_EQ(static_cast<uint8_t>(f[1]) & 0x80, 0) << "server frames are not masked";
  }
  std::string c;
  WsAppendFrame(c, WsOpcode::kText, "abc", true);
  EXPECT_EQ(static_cast<uint8_t>(c[0]), 0xC1) << "RSV1 marks a compressed message";
}

TEST(WsCodecTest, CloseFrameCarriesCodeAndAShortenedReason) {
  std::string f = WsCloseFrame(1008, std::string(200, 'r'));
  ASSERT_EQ(static_cast<uint8_t>(f[0]), 0x88);
  EXPECT_EQ(static_cast<uint8_t>(f[1]), 125);
  EXPECT_EQ(static_cast<uint8_t>(f[2]), 1008 >> 8);
  EXPECT_EQ(static_cast<uint8_t>(f[3]), 1008 & 0xFF);
  // A reason is never cut inside a character.
  std::string euro = WsCloseFrame(1000, std::string(122, 'a') + "\xE2\x82\xAC");
  EXPECT_EQ(euro.size(), 2u + 2 + 122);
}

TEST(WsCodecTest, ParsesTheRfcMaskedHello) {
  // RFC 6455 section 5.7: a single-frame masked text message.
  std::string bytes("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  auto ev = Parse(bytes);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, WsEvent::Kind::kText);
  EXPECT_EQ(ev[0].payload, "Hello");
}

TEST(WsCodecTest, BytesArrivingOneAtATimeGiveTheSameMessages) {
  std::string bytes = ClientFrame(0x01, "pi") + ClientFrame(0x89, "x") + ClientFrame(0x80, "ng") +
                      ClientFrame(0x81, std::string(300, 'y'));
  WsFrameParser p(4096, false);
  std::vector<WsEvent> out;
  for (char c : bytes) p.Feed(std::string_view(&c, 1), out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].kind, WsEvent::Kind::kPing) << "a control frame may come inside a message";
  EXPECT_EQ(out[0].payload, "x");
  EXPECT_EQ(out[1].kind, WsEvent::Kind::kText);
  EXPECT_EQ(out[1].payload, "ping");
  EXPECT_EQ(out[2].payload, std::string(300, 'y'));
  EXPECT_EQ(p.buffered(), 0u);
}

TEST(WsCodecTest, UnmaskedClientFramesAreAProtocolError) {
  auto ev = Parse(ClientFrame(0x81, "ping", false));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, WsEvent::Kind::kError);
  EXPECT_EQ(ev[0].close_code, 1002);
}

TEST(WsCodecTest, MessagesOverTheLimitAreRefusedBeforeTheyAreBuffered) {
  // A header claiming 2^40 bytes: refused from the header alone.
  std::string header("\x82\xFF\x00\x00\x01\x00\x00\x00\x00\x00", 10);
  WsFrameParser p(4096, false);
  std::vector<WsEvent> out;
  p.Feed(header, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].close_code, 1009);
  EXPECT_TRUE(p.failed());
  // Fragments adding up past the limit, too.
  auto ev =
      Parse(ClientFrame(0x01, std::string(3000, 'a')) + ClientFrame(0x80, std::string(3000, 'a')));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].close_code, 1009);
}

TEST(WsCodecTest, BrokenFramingIsRejected) {
  struct Case {
    std::string bytes;
    uint16_t code;
    const char* why;
  } cases[] = {
      {ClientFrame(0x80, "x"), 1002, "continuation outside a message"},
      {ClientFrame(0x01, "a") + ClientFrame(0x81, "b"), 1002, "new message inside a message"},
      {ClientFrame(0x89, std::string(126, 'p')), 1002, "control frame over 125 bytes"},
      {ClientFrame(0x09, "p"), 1002, "fragmented control frame"},
      {ClientFrame(0x83, "x"), 1002, "reserved opcode"},
      {ClientFrame(0xA1, "x"), 1002, "RSV2 set"},
      {ClientFrame(0xC1, "x"), 1002, "RSV1 without deflate"},
      {ClientFrame(0x81, "\xC3\x28"), 1007, "text that is not UTF-8"},
      {ClientFrame(0x88, "\x03"), 1002, "close with a 1-byte payload"},
      {ClientFrame(0x88, std::string("\x03\xE8\xFF", 3)), 1007, "close reason not UTF-8"},
  };
  for (const Case& c : cases) {
    auto ev = Parse(c.bytes);
    ASSERT_FALSE(ev.empty()) << c.why;
    EXPECT_EQ(ev.back().kind, WsEvent::Kind::kError) << c.why;
    EXPECT_EQ(ev.back().close_code, c.code) << c.why;
  }
}

TEST(WsCodecTest, CloseFramesGiveCodeAndReason) {
  auto ev = Parse(ClientFrame(0x88, std::string("\x03\xE8") + "bye"));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, WsEvent::Kind::kClose);
  EXPECT_EQ(ev[0].close_code, 1000);
  EXPECT_EQ(ev[0].reason, "bye");
  auto bare = Parse(ClientFrame(0x88, ""));
  ASSERT_EQ(bare.size(), 1u);
  EXPECT_EQ(bare[0].close_code, 1005);
}

TEST(WsCodecTest, CompressedMessagesAreInflated) {
  std::string text = "ping";
  std::string compressed = WsDeflate(text);
  auto ev = Parse(ClientFrame(0xC1, compressed), 4096, true);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, WsEvent::Kind::kText);
  EXPECT_EQ(ev[0].payload, "ping");
}

TEST(WsCodecTest, DeflateRoundTripsLogText) {
  std::string log;
  for (int i = 0; i < 2000; ++i) log += "\x1b[32m step " + std::to_string(i) + " ok\x1b[0m\n";
  std::string z = WsDeflate(log);
  EXPECT_LT(z.size(), log.size() / 4);
  auto back = WsInflate(z, 1 << 20);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, log);
  // Each message stands alone (no context takeover): the same input twice
  // compresses the same.
  EXPECT_EQ(WsDeflate(log), z);
}

TEST(WsCodecTest, InflateStopsAtTheLimit) {
  std::string bomb = WsDeflate(std::string(1 << 20, 'a'));
  EXPECT_FALSE(WsInflate(bomb, 4096));
  auto ev = Parse(ClientFrame(0xC1, bomb), 4096, true);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].close_code, 1009);
  EXPECT_FALSE(WsInflate("not deflate at all \xff\xff", 4096));
}

}  // namespace
}  // namespace jenky
