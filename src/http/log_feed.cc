#include "http/log_feed.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "exec/log_index.h"
#include "http/run_hosts.h"
#include "http/ws_codec.h"
#include "server/engine.h"
#include "util/json.h"
#include "util/utf8.h"

namespace jenky {
namespace {

constexpr size_t kChunk = 64 * 1024;    // log bytes in one message at most
constexpr size_t kCachedChunks = 4;     // encoded chunks a feed keeps for sharing
constexpr size_t kCompressAbove = 128;  // smaller messages gain nothing from deflate

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

// The newlines in the first END bytes of the file FD (-1: none).
int64_t CountNewlines(int fd, int64_t end) {
  int64_t lines = 0;
  char buf[16384];
  for (int64_t at = 0; fd >= 0 && at < end;) {
    ssize_t n = pread(fd, buf, static_cast<size_t>(std::min<int64_t>(end - at, sizeof buf)), at);
    if (n <= 0) break;
    lines += std::count(buf, buf + n, '\n');
    at += n;
  }
  return lines;
}

}  // namespace

// One text message as a ready frame, deflated when the viewer negotiated it
// and it is worth it.
std::shared_ptr<const std::string> LogTextFrame(std::string_view payload, bool deflate) {
  auto frame = std::make_shared<std::string>();
  if (deflate && payload.size() > kCompressAbove) {
    WsAppendFrame(*frame, WsOpcode::kText, WsDeflate(payload), true);
  } else {
    WsAppendFrame(*frame, WsOpcode::kText, payload);
  }
  return frame;
}

std::string LogRunMessage(const char* type, const Run* run, const nlohmann::json& hosts) {
  nlohmann::json j = {{"type", type}, {"run", run ? RunToJson(*run) : nlohmann::json(nullptr)}};
  if (run && !hosts.is_null()) j["run"]["hosts"] = hosts;
  return DumpJson(j);
}

int64_t LogFeed::LineOf(int64_t offset) const {
  for (const Chunk& c : chunks) {
    if (c.next == offset) return c.line + std::count(c.bytes.begin(), c.bytes.end(), '\n');
  }
  if (!host.empty()) return CountNewlines(fd, offset);
  auto line = LineAtOffset(path, path + ".idx", offset);
  return line.ok() ? *line : 0;
}

void AppendLineTimes(const std::string& log_path, const LogFeed::Chunk& chunk, std::string& out) {
  int64_t last = chunk.line + std::count(chunk.bytes.begin(), chunk.bytes.end(), '\n');
  fmt::format_to(std::back_inserter(out), R"("line":{},"times":[)", chunk.line);
  bool first = true;
  for (const TimeRecord& r : ReadTimes(log_path + ".times", chunk.line, last)) {
    fmt::format_to(std::back_inserter(out), "{}[{},{}]", first ? "" : ",", r.line, r.unix_ms);
    first = false;
  }
  out += "]";
}

LogFeed::~LogFeed() {
  if (fd >= 0) close(fd);
}

void LogFeed::Refresh(Engine& engine) {
  if (std::shared_ptr<LogTail> tail = engine.Tail(run_id)) {
    size = host.empty() ? tail->size : FileSize(path);
    complete = false;
  } else {
    size = FileSize(path);
    complete = true;
  }
  auto found = engine.GetRun(run_id);
  std::optional<RunStatus> was = run ? std::optional<RunStatus>(run->status) : std::nullopt;
  nlohmann::json had = std::move(hosts);
  hosts = nlohmann::json();
  if (found.ok() && found->has_value()) {
    run = **found;
    // A fleet run's hosts, read from its directory: each host's change of
    // state is a line of the log, so this refresh sees it.
    hosts = HostsJson(engine.LogPath(run_id));
  } else {
    run.reset();
  }
  if ((run ? std::optional<RunStatus>(run->status) : std::nullopt) != was || hosts != had) ++state;
  for (auto& f : status_frames) f.reset();
  for (auto& f : run_frames) f.reset();
}

std::shared_ptr<const std::string> LogFeed::StatusFrame(bool deflate) {
  auto& f = status_frames[deflate];
  if (!f) f = LogTextFrame(LogRunMessage("status", run ? &*run : nullptr, hosts), deflate);
  return f;
}

std::shared_ptr<const std::string> LogFeed::RunFrame(bool deflate) {
  auto& f = run_frames[deflate];
  if (!f) f = LogTextFrame(LogRunMessage("run", run ? &*run : nullptr, hosts), deflate);
  return f;
}

LogFeed::Read LogFeed::FrameAt(int64_t offset, bool raw, bool deflate,
                               std::shared_ptr<const std::string>* frame, int64_t* next) {
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
    int64_t line = LineOf(offset);
    if (chunks.size() == kCachedChunks) chunks.pop_front();
    chunks.push_back(Chunk{offset, offset + static_cast<int64_t>(keep), std::move(data), line, {}});
    chunk = &chunks.back();
  }
  auto& f = chunk->frames[raw * 2 + deflate];
  if (!f) {
    if (raw) {
      f = LogTextFrame(SanitizeUtf8(chunk->bytes), deflate);
    } else {
      std::string msg = fmt::format(R"({{"type":"log","run":{},)", run_id);
      if (!host.empty()) {
        msg += R"("host":")";
        AppendJsonEscapedUtf8(host, msg);
        msg += "\",";
      }
      fmt::format_to(std::back_inserter(msg), R"("offset":{},"next":{},"data":")", chunk->offset,
                     chunk->next);
      AppendJsonEscapedUtf8(chunk->bytes, msg);
      msg += "\",";
      AppendLineTimes(path, *chunk, msg);
      msg += "}";
      f = LogTextFrame(msg, deflate);
    }
  }
  *frame = f;
  *next = chunk->next;
  return Read::kFrame;
}

}  // namespace jenky
