// A run's log on disk: `log` holds the bytes exactly as the script wrote them;
// `log.idx` is a sparse line index so a viewer can start at line N or byte N
// without reading everything before it.
//
// log.idx format (docs/log_format.md): a sequence of 16-byte records, each two
// little-endian int64: (line, offset) = the 0-based number of a line and the
// byte offset where it starts. Line 0 at offset 0 is implied. A record is
// written at the first line start after kIndexLines lines or kIndexBytes bytes
// since the previous record, so finding any line reads at most about
// kIndexBytes of log plus one line. A torn last record (crash mid-write) is
// ignored by readers.
//
// log.times (docs/run_dir.md): 16-byte records, each two little-endian int64:
// (line, unix_ms) = line LINE, and every line after it up to the next
// record's, had its first byte captured by the supervisor at UNIX_MS. A
// record is written only when a line starts in an Append and the clock has
// moved on since the last record, and it is written *before* the bytes it
// describes, so whoever reads the log sees the times of every line in it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace jenky {

constexpr int64_t kIndexLines = 1024;
constexpr int64_t kIndexBytes = 64 * 1024;

struct IndexRecord {
  int64_t line;
  int64_t offset;
};

struct TimeRecord {
  int64_t line;
  int64_t unix_ms;
};

// Appends to a log and its index. Single writer (the supervisor). Each Append
// is written through to the files before it returns (no user-space buffer), so
// a reader or a crash of any other process sees every byte appended so far.
//
// Every kWritebackBytes the writer asks the kernel to start writing the log's
// new pages to disk (sync_file_range, without waiting): the disk works while
// the script still writes, and the fdatasync at the end of a run waits only
// for the last few MiB instead of the whole log.
constexpr int64_t kWritebackBytes = 8 << 20;

class LogWriter {
 public:
  // Also opens LOG_PATH.times (the line times, above).
  static Result<LogWriter> Open(const std::string& log_path, const std::string& index_path);
  LogWriter(LogWriter&& other) noexcept;
  LogWriter& operator=(LogWriter&&) = delete;
  ~LogWriter();

  // DATA as captured now (the realtime clock), or at UNIX_MS (tests).
  Status Append(std::string_view data);
  Status Append(std::string_view data, int64_t unix_ms);
  Status Sync();  // fdatasync both files
  int64_t size() const { return size_; }
  int64_t lines() const { return lines_; }
  // The files were renamed with their directory: LOG_PATH names them in errors.
  void Renamed(std::string log_path) { log_path_ = std::move(log_path); }

 private:
  LogWriter() = default;
  int log_fd_ = -1;
  int index_fd_ = -1;
  int times_fd_ = -1;
  std::string log_path_;
  bool at_line_start_ = true;  // the next byte starts a line
  int64_t last_time_ms_ = -1;  // of the last time record written
  int64_t size_ = 0;
  int64_t written_back_ = 0;  // writeback was started for the bytes before this
  int64_t lines_ = 0;         // newlines seen = number of the line being written
  IndexRecord last_{0, 0};
  std::vector<IndexRecord> pending_;  // records of the current Append
};

// Index records from INDEX_PATH (missing file = none).
std::vector<IndexRecord> ReadIndex(const std::string& index_path);

// Byte offset where 0-based LINE starts in LOG_PATH, using the index; the log
// size if the log has fewer lines.
Result<int64_t> OffsetOfLine(const std::string& log_path, const std::string& index_path,
                             int64_t line);

// Byte OFFSET's 0-based line in LOG_PATH (the newlines before it), using
// the index.
Result<int64_t> LineAtOffset(const std::string& log_path, const std::string& index_path,
                             int64_t offset);

// The time records of TIMES_PATH that say when lines FROM_LINE..TO_LINE
// (inclusive) started: the last record at or before FROM_LINE, then every
// record up to TO_LINE. Missing file (a run from an older jenky) = none.
std::vector<TimeRecord> ReadTimes(const std::string& times_path, int64_t from_line,
                                  int64_t to_line);

// For tests and recovery: the records LogWriter would have written for DATA.
std::vector<IndexRecord> BuildIndex(std::string_view data);

}  // namespace jenky
