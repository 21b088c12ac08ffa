// The log of one run as its WebSocket viewers see it (log_hub.h): one
// descriptor of the log file for all of them, the run's size and state as of
// the last Refresh, and the last few chunks of the log each encoded once per
// format (JSON or raw, plain or deflated) into a ready frame that every viewer
// at that offset sends as it is.
//
// Ownership and threads: the hub owns each feed (one per run that has
// viewers) and frees it once the last viewer left; the viewers listed are the
// hub's too. Loop-thread only, like the hub and the engine it reads from.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/run.h"

namespace jenky {

class Engine;     // server/engine.h
class LogViewer;  // http/log_viewer.h

// The log of one run as its viewers see it, and the frames they share.
struct LogFeed {
  struct Chunk {
    int64_t offset = 0;
    int64_t next = 0;
    std::string bytes;
    int64_t line = 0;                              // 0-based line of the byte at OFFSET
    std::shared_ptr<const std::string> frames[4];  // [raw * 2 + deflate]
  };
  enum class Read { kFrame, kWait, kError };

  int64_t run_id = 0;
  std::string host;  // a fleet host's own log ("": the run's): no index, no times
  std::string path;
  int fd = -1;  // one descriptor of the log for all of the run's viewers
  int64_t size = 0;
  bool complete = false;   // the run is over: its log is whole on disk
  std::optional<Run> run;  // as of the last refresh
  // A fleet run's hosts (run_hosts.h) as of the last refresh, in the run's
  // JSON of the run/status messages; null for other runs.
  nlohmann::json hosts;
  // Changes with the run's status or any host's state: a viewer that has
  // sent an older one sends a status message (with the hosts) again.
  int64_t state = 0;
  std::vector<LogViewer*> viewers;  // (log_viewer.h)
  // Flushes go over the viewers in slices (kSlice, log_hub.cc), each slice a turn of the
  // loop: growth that arrives meanwhile reaches the slices not yet sent, so
  // a viewer waits at most about one pass for a line, not two.
  bool slice_posted = false;
  size_t cursor = 0;   // next viewer of the pass in progress
  bool again = false;  // grew (or lost viewers) during the pass: one more
  std::deque<Chunk> chunks;
  std::shared_ptr<const std::string> status_frames[2];  // [deflate], for `run` as it is
  std::shared_ptr<const std::string> run_frames[2];

  ~LogFeed();

  // Takes the run's size and state from ENGINE (its tail while it runs,
  // the file once it is over; a host's log is sized by its file, whole once
  // the run is over: its driver has exited) and drops the status/run frames made for the
  // old state.
  void Refresh(Engine& engine);

  // {"type":"status"|"run","run":...} for `run` as it is, made once per
  // state and format.
  std::shared_ptr<const std::string> StatusFrame(bool deflate);
  std::shared_ptr<const std::string> RunFrame(bool deflate);

  // kFrame: *FRAME is the message for the log bytes from OFFSET (at most
  // 64 KiB of them, never ending inside a character unless the log is
  // complete there; a JSON message also carries the first line's number and
  // the times of the lines that start in it, docs/spec-extensions.md) and
  // *NEXT the offset after them; kWait: nothing to send there yet; kError:
  // the log cannot be read.
  Read FrameAt(int64_t offset, bool raw, bool deflate, std::shared_ptr<const std::string>* frame,
               int64_t* next);

  // The 0-based line of byte OFFSET: from the cached chunk that ends there,
  // else from the line index (a host's log has none: its newlines are counted).
  int64_t LineOf(int64_t offset) const;
};

// `"line":L,"times":[[line,unix_ms],...]` for CHUNK of the log at LOG_PATH:
// the time records (log_index.h) of the lines that start in it, and the one
// in force at its first line.
void AppendLineTimes(const std::string& log_path, const LogFeed::Chunk& chunk, std::string& out);

// One text message as a ready frame, deflated when DEFLATE (the viewer
// negotiated it) and it is worth it.
std::shared_ptr<const std::string> LogTextFrame(std::string_view payload, bool deflate);

// {"type": TYPE, "run": RUN as JSON (with HOSTS as "hosts" unless null), or null}.
std::string LogRunMessage(const char* type, const Run* run,
                          const nlohmann::json& hosts = nlohmann::json());

}  // namespace jenky
