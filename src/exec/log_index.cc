#include "exec/log_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>

#include "util/fs.h"

namespace jenky {
namespace {

// Bit I set where P[I] is '\n', for the 64 bytes at P.
inline uint64_t NewlineMask(const char* p) {
#if defined(__SSE2__)
  const __m128i nl = _mm_set1_epi8('\n');
  uint64_t mask = 0;
  for (int i = 0; i < 4; ++i) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    mask |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl)))} << (16 * i);
  }
  return mask;
#else
  uint64_t mask = 0;
  for (int i = 0; i < 64; ++i) mask |= uint64_t{p[i] == '\n'} << i;
  return mask;
#endif
}

// Scans DATA (which starts at byte BASE of the log) for line starts and adds
// index records where due. Shared by the writer and BuildIndex.
//
// Logs can be made of very short lines (`yes` writes two bytes a line), so the
// scan counts newlines 64 bytes at a time and looks at single newlines only in
// the blocks where a record falls due.
void IndexChunk(std::string_view data, int64_t base, int64_t& lines, IndexRecord& last,
                std::vector<IndexRecord>& out) {
  const char* begin = data.data();
  const char* p = begin;
  const char* end = p + data.size();
  auto newline_at = [&](const char* q) {
    ++lines;
    int64_t offset = base + (q + 1 - begin);
    if (lines - last.line >= kIndexLines || offset - last.offset >= kIndexBytes) {
      last = {lines, offset};
      out.push_back(last);
    }
  };
  for (; p + 64 <= end; p += 64) {
    uint64_t mask = NewlineMask(p);
    if (mask == 0) continue;
    int n = __builtin_popcountll(mask);
    int64_t block_end = base + (p + 64 - begin);
    if (lines + n - last.line >= kIndexLines || block_end - last.offset >= kIndexBytes) {
      for (; mask != 0; mask &= mask - 1) newline_at(p + __builtin_ctzll(mask));
    } else {
      lines += n;
    }
  }
  for (; p < end; ++p) {
    if (*p == '\n') newline_at(p);
  }
}

int64_t DecodeInt64(const unsigned char* p) {
  uint64_t u = 0;
  for (int b = 0; b < 8; ++b) u |= static_cast<uint64_t>(p[b]) << (8 * b);
  return static_cast<int64_t>(u);
}

void EncodeInt64(int64_t v, char* p) {
  uint64_t u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((u >> (8 * i)) & 0xff);
}

// Record I of the 16-byte records in FD, or nullopt past the end / on error.
std::optional<TimeRecord> PreadRecord(int fd, int64_t i) {
  unsigned char buf[16];
  if (pread(fd, buf, sizeof buf, i * 16) != 16) return std::nullopt;
  return TimeRecord{DecodeInt64(buf), DecodeInt64(buf + 8)};
}

int64_t NowUnixMillis() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

void EncodeRecords(const std::vector<IndexRecord>& records, std::string& out) {
  out.resize(records.size() * 16);
  char* p = out.data();
  for (const IndexRecord& r : records) {
    for (int64_t v : {r.line, r.offset}) {
      uint64_t u = static_cast<uint64_t>(v);
      for (int i = 0; i < 8; ++i) *p++ = static_cast<char>((u >> (8 * i)) & 0xff);
    }
  }
}

}  // namespace

Result<LogWriter> LogWriter::Open(const std::string& log_path, const std::string& index_path) {
  LogWriter w;
  w.log_path_ = log_path;
  w.log_fd_ = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (w.log_fd_ < 0) return PosixError("open " + log_path, errno);
  w.index_fd_ = open(index_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (w.index_fd_ < 0) return PosixError("open " + index_path, errno);
  const std::string times_path = log_path + ".times";
  w.times_fd_ = open(times_path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (w.times_fd_ < 0) return PosixError("open " + times_path, errno);
  struct stat st;
  if (fstat(w.log_fd_, &st) == 0 && st.st_size > 0) {
    // Reopened after a restart of the writer: continue the index where it was.
    auto data = ReadFile(log_path);
    if (!data.ok()) return data.status();
    std::vector<IndexRecord> records;
    IndexChunk(*data, 0, w.lines_, w.last_, records);
    w.size_ = static_cast<int64_t>(data->size());
    w.written_back_ = w.size_;
    w.at_line_start_ = data->back() == '\n';
    struct stat ts;
    if (fstat(w.times_fd_, &ts) == 0 && ts.st_size >= 16) {
      if (auto last = PreadRecord(w.times_fd_, ts.st_size / 16 - 1))
        w.last_time_ms_ = last->unix_ms;
    }
  }
  return w;
}

LogWriter::LogWriter(LogWriter&& o) noexcept
    : log_fd_(o.log_fd_),
      index_fd_(o.index_fd_),
      times_fd_(o.times_fd_),
      log_path_(std::move(o.log_path_)),
      at_line_start_(o.at_line_start_),
      last_time_ms_(o.last_time_ms_),
      size_(o.size_),
      written_back_(o.written_back_),
      lines_(o.lines_),
      last_(o.last_) {
  o.log_fd_ = o.index_fd_ = o.times_fd_ = -1;
}

LogWriter::~LogWriter() {
  if (log_fd_ >= 0) close(log_fd_);
  if (index_fd_ >= 0) close(index_fd_);
  if (times_fd_ >= 0) close(times_fd_);
}

Status LogWriter::Append(std::string_view data) { return Append(data, NowUnixMillis()); }

Status LogWriter::Append(std::string_view data, int64_t unix_ms) {
  if (data.empty()) return Status::Ok();
  // The first line that starts in DATA, if any, gets its time before its
  // bytes reach the log (a reader never sees a line without its time).
  int64_t first = -1;
  if (at_line_start_) {
    first = lines_;
  } else if (const void* nl = std::memchr(data.data(), '\n', data.size())) {
    if (static_cast<const char*>(nl) + 1 < data.data() + data.size()) first = lines_ + 1;
  }
  if (first >= 0 && unix_ms != last_time_ms_) {
    char rec[16];
    EncodeInt64(first, rec);
    EncodeInt64(unix_ms, rec + 8);
    if (Status s = WriteAll(times_fd_, std::string_view(rec, 16), log_path_ + ".times"); !s.ok()) {
      return s;
    }
    last_time_ms_ = unix_ms;
  }
  at_line_start_ = data.back() == '\n';
  if (Status s = WriteAll(log_fd_, data, log_path_); !s.ok()) return s;
  pending_.clear();
  IndexChunk(data, size_, lines_, last_, pending_);
  size_ += static_cast<int64_t>(data.size());
  if (size_ - written_back_ >= kWritebackBytes) {
    // Only a hint: an error here shows again, and is reported, at Sync.
    sync_file_range(log_fd_, written_back_, size_ - written_back_, SYNC_FILE_RANGE_WRITE);
    written_back_ = size_;
  }
  if (!pending_.empty()) {
    std::string bytes;
    EncodeRecords(pending_, bytes);
    if (Status s = WriteAll(index_fd_, bytes, log_path_ + ".idx"); !s.ok()) return s;
  }
  return Status::Ok();
}

Status LogWriter::Sync() {
  if (fdatasync(log_fd_) != 0) return PosixError("fdatasync " + log_path_, errno);
  fdatasync(index_fd_);
  fdatasync(times_fd_);
  return Status::Ok();
}

std::vector<IndexRecord> ReadIndex(const std::string& index_path) {
  std::vector<IndexRecord> out;
  auto data = ReadFile(index_path);
  if (!data.ok()) return out;
  size_t n = data->size() / 16;  // a torn last record is ignored
  out.reserve(n);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(data->data());
  for (size_t i = 0; i < n; ++i) {
    out.push_back({DecodeInt64(p), DecodeInt64(p + 8)});
    p += 16;
  }
  return out;
}

Result<int64_t> OffsetOfLine(const std::string& log_path, const std::string& index_path,
                             int64_t line) {
  std::vector<IndexRecord> index = ReadIndex(index_path);
  IndexRecord start{0, 0};
  auto it = std::upper_bound(index.begin(), index.end(), line,
                             [](int64_t l, const IndexRecord& r) { return l < r.line; });
  if (it != index.begin()) start = *std::prev(it);
  if (start.line == line) return start.offset;

  int fd = open(log_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError("open " + log_path, errno);
  int64_t offset = start.offset;
  int64_t current = start.line;
  char buf[65536];
  for (;;) {
    ssize_t n = pread(fd, buf, sizeof buf, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return PosixError("read " + log_path, err);
    }
    if (n == 0) break;
    const char* p = buf;
    const char* end = buf + n;
    while (p < end) {
      const void* nl = std::memchr(p, '\n', end - p);
      if (!nl) {
        p = end;
        break;
      }
      p = static_cast<const char*>(nl) + 1;
      if (++current == line) {
        close(fd);
        return offset + (p - buf);
      }
    }
    offset += n;
  }
  close(fd);
  return offset;
}

Result<int64_t> LineAtOffset(const std::string& log_path, const std::string& index_path,
                             int64_t offset) {
  std::vector<IndexRecord> index = ReadIndex(index_path);
  IndexRecord start{0, 0};
  auto it = std::upper_bound(index.begin(), index.end(), offset,
                             [](int64_t o, const IndexRecord& r) { return o < r.offset; });
  if (it != index.begin()) start = *std::prev(it);
  int fd = open(log_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError("open " + log_path, errno);
  int64_t line = start.line;
  int64_t at = start.offset;
  char buf[65536];
  while (at < offset) {
    size_t want = static_cast<size_t>(std::min<int64_t>(sizeof buf, offset - at));
    ssize_t n = pread(fd, buf, want, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    line += std::count(buf, buf + n, '\n');
    at += n;
  }
  close(fd);
  return line;
}

std::vector<TimeRecord> ReadTimes(const std::string& times_path, int64_t from_line,
                                  int64_t to_line) {
  std::vector<TimeRecord> out;
  int fd = open(times_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  struct stat st;
  int64_t n = fstat(fd, &st) == 0 ? st.st_size / 16 : 0;  // a torn last record is ignored
  // The first record after FROM_LINE; the one before it is in force there.
  int64_t lo = 0;
  int64_t hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    auto r = PreadRecord(fd, mid);
    if (r && r->line <= from_line) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  unsigned char buf[4096];
  for (int64_t i = std::max<int64_t>(0, lo - 1); i < n;) {
    ssize_t got = pread(fd, buf, static_cast<size_t>(std::min<int64_t>(n - i, 256) * 16), i * 16);
    if (got < 16) break;
    bool past = false;
    for (ssize_t k = 0; k + 16 <= got && !past; k += 16, ++i) {
      TimeRecord r{DecodeInt64(buf + k), DecodeInt64(buf + k + 8)};
      past = r.line > to_line;
      if (!past) out.push_back(r);
    }
    if (past) break;
  }
  close(fd);
  return out;
}

std::vector<IndexRecord> BuildIndex(std::string_view data) {
  std::vector<IndexRecord> out;
  int64_t lines = 0;
  IndexRecord last{0, 0};
  IndexChunk(data, 0, lines, last, out);
  return out;
}

}  // namespace jenky
