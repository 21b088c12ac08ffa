#include "exec/log_index.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <random>

#include "temp_dir.h"
#include "util/fs.h"

namespace jenky {
namespace {

class LogIndexTest : public ::testing::Test {
 protected:
  std::string log() const { return dir_ / "log"; }
  std::string idx() const { return dir_ / "log.idx"; }

  // Line starts the slow way.
  static std::vector<int64_t> LineStarts(const std::string& data) {
    std::vector<int64_t> starts = {0};
    for (size_t i = 0; i < data.size(); ++i) {
      if (data[i] == '\n') starts.push_back(static_cast<int64_t>(i) + 1);
    }
    return starts;
  }

  // The index the format describes, computed the obvious way.
  static std::vector<IndexRecord> ReferenceIndex(const std::string& data) {
    std::vector<IndexRecord> out;
    IndexRecord last{0, 0};
    int64_t lines = 0;
    for (size_t i = 0; i < data.size(); ++i) {
      if (data[i] != '\n') continue;
      ++lines;
      int64_t offset = static_cast<int64_t>(i) + 1;
      if (lines - last.line >= kIndexLines || offset - last.offset >= kIndexBytes) {
        last = {lines, offset};
        out.push_back(last);
      }
    }
    return out;
  }

  static void ExpectSame(const std::vector<IndexRecord>& a, const std::vector<IndexRecord>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].line, b[i].line) << i;
      EXPECT_EQ(a[i].offset, b[i].offset) << i;
    }
  }

  TempDir dir_{"log"};
};

TEST_F(LogIndexTest, DenseShortLinesAreIndexedExactly) {
  // `yes` output: two bytes a line, plus runs of empty lines, in odd chunks.
  std::string data;
  for (int i = 0; i < 300000; ++i) data += (i % 1000 < 7) ? "\n" : "y\n";
  {
    auto w = LogWriter::Open(log(), idx());
    size_t pos = 0, step = 1;
    while (pos < data.size()) {
      size_t n = std::min(step, data.size() - pos);
      ASSERT_TRUE(w->Append(std::string_view(data).substr(pos, n)).ok());
      pos += n;
      step = step * 7 % 10007 + 1;
    }
  }
  ExpectSame(ReadIndex(idx()), ReferenceIndex(data));
  EXPECT_EQ(*OffsetOfLine(log(), idx(), 123457), LineStarts(data)[123457]);
}

TEST_F(LogIndexTest, WriterKeepsBytesAndIndexAcrossOddChunks) {
  // Lines of random length, some longer than kIndexBytes, written in chunks
  // that split lines anywhere.
  std::mt19937 rng(42);
  std::string data;
  for (int i = 0; i < 20000; ++i) {
    int len = (i % 997 == 0) ? 100'000 : static_cast<int>(rng() % 80);
    data.append(len, static_cast<char>('a' + i % 26));
    data.push_back('\n');
  }
  data += "no newline at the end";
  {
    auto w = LogWriter::Open(log(), idx());
    ASSERT_TRUE(w.ok());
    size_t pos = 0;
    while (pos < data.size()) {
      size_t n = std::min<size_t>(1 + rng() % 9000, data.size() - pos);
      ASSERT_TRUE(w->Append(std::string_view(data).substr(pos, n)).ok());
      pos += n;
    }
    EXPECT_EQ(w->size(), static_cast<int64_t>(data.size()));
  }
  EXPECT_EQ(*ReadFile(log()), data);

  ExpectSame(ReadIndex(idx()), ReferenceIndex(data));
  ExpectSame(BuildIndex(data), ReferenceIndex(data));
  // Records are never further apart than the bounds (except for one long line).
  auto starts = LineStarts(data);
  for (int64_t line : {0, 1, 1023, 1024, 1025, 5000, 19999, 20000}) {
    EXPECT_EQ(*OffsetOfLine(log(), idx(), line), starts[line]) << line;
  }
  EXPECT_EQ(*OffsetOfLine(log(), idx(), 999999), static_cast<int64_t>(data.size()));
}

TEST_F(LogIndexTest, TornRecordIsIgnored) {
  std::string data;
  for (int i = 0; i < 5000; ++i) data += "line " + std::to_string(i) + "\n";
  {
    auto w = LogWriter::Open(log(), idx());
    ASSERT_TRUE(w->Append(data).ok());
  }
  auto full = ReadIndex(idx());
  ASSERT_GE(full.size(), 4u);
  truncate(idx().c_str(), static_cast<off_t>(full.size() * 16 - 5));
  EXPECT_EQ(ReadIndex(idx()).size(), full.size() - 1);
  EXPECT_EQ(*OffsetOfLine(log(), idx(), 4999), LineStarts(data)[4999]);
}

TEST_F(LogIndexTest, ReopenedWriterContinuesTheIndex) {
  std::string a(3000, 'x'), b;
  for (int i = 0; i < 3000; ++i) b += "y\n";
  {
    auto w = LogWriter::Open(log(), idx());
    ASSERT_TRUE(w->Append(a + "\n" + b).ok());
  }
  {
    auto w = LogWriter::Open(log(), idx());
    EXPECT_EQ(w->lines(), 3001);
    ASSERT_TRUE(w->Append(b).ok());
  }
  std::string all = *ReadFile(log());
  auto records = ReadIndex(idx());
  auto expected = BuildIndex(all);
  ASSERT_EQ(records.size(), expected.size());
  EXPECT_EQ(records.back().offset, expected.back().offset);
}

}  // namespace
}  // namespace jenky

namespace jenky {
namespace {

class LogTimesTest : public ::testing::Test {
 protected:
  std::string log() const { return dir_ / "log"; }
  std::string idx() const { return dir_ / "log.idx"; }
  std::string times() const { return dir_ / "log.times"; }
  TempDir dir_{"times"};
};

TEST_F(LogTimesTest, EachLineGetsTheTimeItsFirstByteWasCaptured) {
  {
    auto w = LogWriter::Open(log(), idx());
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->Append("one\ntw", 1000).ok());     // lines 0 and 1 start at 1000
    ASSERT_TRUE(w->Append("o\nthree\n", 2000).ok());  // line 2 starts at 2000
    ASSERT_TRUE(w->Append("four", 3000).ok());        // line 3 at 3000
    ASSERT_TRUE(w->Append(" more\n", 4000).ok());     // continues line 3: no record
    ASSERT_TRUE(w->Append("five\n", 4000).ok());      // line 4 at 4000
    ASSERT_TRUE(w->Append("six\n", 4000).ok());       // the same millisecond: no record
  }
  auto all = ReadTimes(times(), 0, INT64_MAX);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].line, 0);
  EXPECT_EQ(all[0].unix_ms, 1000);
  EXPECT_EQ(all[1].line, 2);
  EXPECT_EQ(all[1].unix_ms, 2000);
  EXPECT_EQ(all[2].line, 3);
  EXPECT_EQ(all[2].unix_ms, 3000);
  EXPECT_EQ(all[3].line, 4);
  EXPECT_EQ(all[3].unix_ms, 4000);
}

TEST_F(LogTimesTest, ARangeStartsWithTheRecordInForceAtItsFirstLine) {
  {
    auto w = LogWriter::Open(log(), idx());
    ASSERT_TRUE(w.ok());
    for (int i = 0; i < 2000; ++i) ASSERT_TRUE(w->Append("line\n", 10000 + i).ok());
  }
  auto some = ReadTimes(times(), 500, 502);
  ASSERT_EQ(some.size(), 3u);
  EXPECT_EQ(some[0].line, 500);
  EXPECT_EQ(some[0].unix_ms, 10500);
  EXPECT_EQ(some[2].line, 502);
  EXPECT_TRUE(ReadTimes(dir_ / "missing.times", 0, 10).empty());
}

TEST_F(LogTimesTest, AReopenedWriterContinuesTheLineTimes) {
  {
    auto w = LogWriter::Open(log(), idx());
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->Append("a\nb", 1000).ok());
  }
  {
    auto w = LogWriter::Open(log(), idx());
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->Append("c\nd\n", 2000).ok());  // "bc" continues line 1; line 2 starts
  }
  auto all = ReadTimes(times(), 0, INT64_MAX);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].line, 2);
  EXPECT_EQ(all[1].unix_ms, 2000);
}

TEST_F(LogTimesTest, LineAtOffsetCountsTheNewlinesBeforeIt) {
  std::string data;
  for (int i = 0; i < 5000; ++i) data += std::string(static_cast<size_t>(i % 50), 'x') + "\n";
  {
    auto w = LogWriter::Open(log(), idx());
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->Append(data, 1).ok());
  }
  for (int64_t offset : {int64_t{0}, int64_t{1}, int64_t{77}, int64_t{65536}, int64_t{100000},
                         static_cast<int64_t>(data.size())}) {
    auto line = LineAtOffset(log(), idx(), offset);
    ASSERT_TRUE(line.ok());
    EXPECT_EQ(*line, std::count(data.begin(), data.begin() + offset, '\n')) << offset;
  }
}

}  // namespace
}  // namespace jenky
