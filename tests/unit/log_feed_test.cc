// The feed of one run's log: the frames its WebSocket viewers share.
#include "http/log_feed.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "exec/log_index.h"
#include "temp_dir.h"
#include "util/fs.h"

namespace jenky {
namespace {

// The payload of one unmasked, uncompressed server frame.
std::string Payload(const std::string& frame) {
  EXPECT_GE(frame.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(frame[0]), 0x81u);  // FIN, text
  size_t len = static_cast<unsigned char>(frame[1]) & 0x7f;
  size_t at = 2;
  if (len == 126) {
    len = (static_cast<unsigned char>(frame[2]) << 8) | static_cast<unsigned char>(frame[3]);
    at = 4;
  } else if (len == 127) {
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(frame[2 + i]);
    at = 10;
  }
  EXPECT_EQ(frame.size(), at + len);
  return frame.substr(at);
}

class LogFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path();
    feed_.run_id = 7;
    feed_.path = root_ + "/log";
  }

  void Log(const std::string& bytes, bool complete) {
    ASSERT_TRUE(WriteFile(feed_.path, bytes, 0640).ok());
    feed_.size = static_cast<int64_t>(bytes.size());
    feed_.complete = complete;
  }

  LogFeed::Read At(int64_t offset, bool raw, std::string* payload, int64_t* next) {
    std::shared_ptr<const std::string> frame;
    LogFeed::Read r = feed_.FrameAt(offset, raw, false, &frame, next);
    if (r == LogFeed::Read::kFrame) *payload = Payload(*frame);
    return r;
  }

  TempDir tmp_{"feed"};
  std::string root_;
  LogFeed feed_;
};

TEST_F(LogFeedTest, ALogChunkIsOneJsonMessageWithItsOffsets) {
  Log("hello \"world\"\n", false);
  std::string payload;
  int64_t next = 0;
  ASSERT_EQ(At(0, false, &payload, &next), LogFeed::Read::kFrame);
  EXPECT_EQ(next, 14);
  // (A log without log.times, from an older jenky: no times, the line still.)
  EXPECT_EQ(
      payload,
      R"({"type":"log","run":7,"offset":0,"next":14,"data":"hello \"world\"\n","line":0,"times":[]})");
  ASSERT_EQ(At(6, true, &payload, &next), LogFeed::Read::kFrame);
  EXPECT_EQ(payload, "\"world\"\n");  // raw: the bytes as they are
}

TEST_F(LogFeedTest, ARunningLogIsNotCutInsideACharacter) {
  Log("caf\xc3", false);  // the é's second byte is not written yet
  std::string payload;
  int64_t next = 0;
  ASSERT_EQ(At(0, true, &payload, &next), LogFeed::Read::kFrame);
  EXPECT_EQ(payload, "caf");
  EXPECT_EQ(next, 3);
  EXPECT_EQ(At(3, true, &payload, &next), LogFeed::Read::kWait);  // only the start of one
  // Once the run is over, what is there is sent, made valid.
  feed_.chunks.clear();
  feed_.complete = true;
  ASSERT_EQ(At(3, true, &payload, &next), LogFeed::Read::kFrame);
  EXPECT_EQ(next, 4);
  EXPECT_EQ(payload, "\xef\xbf\xbd");  // U+FFFD
}

TEST_F(LogFeedTest, ViewersAtTheSameOffsetShareOneFrame) {
  Log("line\n", false);
  std::shared_ptr<const std::string> a, b, raw;
  int64_t next = 0;
  ASSERT_EQ(feed_.FrameAt(0, false, false, &a, &next), LogFeed::Read::kFrame);
  ASSERT_EQ(feed_.FrameAt(0, false, false, &b, &next), LogFeed::Read::kFrame);
  ASSERT_EQ(feed_.FrameAt(0, true, false, &raw, &next), LogFeed::Read::kFrame);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_NE(a.get(), raw.get());
  EXPECT_EQ(feed_.chunks.size(), 1u);  // read once
}

TEST_F(LogFeedTest, NothingPastTheEndAndAnErrorForALogThatIsGone) {
  Log("x", false);
  std::string payload;
  int64_t next = 0;
  EXPECT_EQ(At(1, false, &payload, &next), LogFeed::Read::kWait);
  LogFeed gone;
  gone.path = root_ + "/no-such-log";
  gone.size = 10;
  std::shared_ptr<const std::string> frame;
  EXPECT_EQ(gone.FrameAt(0, false, false, &frame, &next), LogFeed::Read::kError);
}

TEST_F(LogFeedTest, AChunkIsAtMost64KiB) {
  Log(std::string(100 * 1024, 'a'), true);
  std::string payload;
  int64_t next = 0;
  ASSERT_EQ(At(0, true, &payload, &next), LogFeed::Read::kFrame);
  EXPECT_EQ(next, 64 * 1024);
  ASSERT_EQ(At(next, true, &payload, &next), LogFeed::Read::kFrame);
  EXPECT_EQ(next, 100 * 1024);
}

TEST(LogRunMessage, SaysTheTypeAndTheRunOrNull) {
  EXPECT_EQ(LogRunMessage("status", nullptr), R"({"run":null,"type":"status"})");
}

TEST_F(LogFeedTest, AMessageCarriesItsFirstLineAndTheTimesOfTheLinesInIt) {
  {
    auto w = LogWriter::Open(feed_.path, feed_.path + ".idx");
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->Append("one\ntw", 1000).ok());
    ASSERT_TRUE(w->Append("o\nthree\n", 2000).ok());
  }
  feed_.size = 14;
  feed_.complete = true;
  std::string payload;
  int64_t next = 0;
  // From byte 5 (inside line 1): the line, the record in force there, line 2's.
  ASSERT_EQ(At(5, false, &payload, &next), LogFeed::Read::kFrame);
  EXPECT_EQ(
      payload,
      R"({"type":"log","run":7,"offset":5,"next":14,"data":"wo\nthree\n","line":1,"times":[[0,1000],[2,2000]]})");
}

}  // namespace
}  // namespace jenky

namespace jenky {
namespace {

// A fleet host's own log (?host=NAME): its messages say whose it is, and,
// without a line index of its own, a resumed chunk's line is counted.
TEST_F(LogFeedTest, AHostsLogSaysItsHostAndCountsItsLines) {
  feed_.host = "web-1";
  Log("one\ntwo\nthree\n", false);
  std::string payload;
  int64_t next = 0;
  ASSERT_EQ(At(0, false, &payload, &next), LogFeed::Read::kFrame);
  EXPECT_EQ(
      payload,
      R"({"type":"log","run":7,"host":"web-1","offset":0,"next":14,"data":"one\ntwo\nthree\n","line":0,"times":[]})");
  LogFeed fresh;  // a viewer resuming at byte 8 ("three"), nothing cached
  fresh.run_id = 7;
  fresh.host = "web-1";
  fresh.path = feed_.path;
  fresh.size = 14;
  std::shared_ptr<const std::string> frame;
  ASSERT_EQ(fresh.FrameAt(8, false, false, &frame, &next), LogFeed::Read::kFrame);
  EXPECT_NE(Payload(*frame).find(R"("offset":8,"next":14,"data":"three\n","line":2,)"),
            std::string::npos)
      << Payload(*frame);
}

}  // namespace
}  // namespace jenky
