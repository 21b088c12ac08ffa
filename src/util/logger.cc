#include "util/logger.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "util/systemd.h"
#include "util/time.h"

namespace jenky {
namespace {

bool StderrIsJournal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (!js) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st;
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

// "run=42 project=taowai rest" -> fields JENKY_RUN_ID=42, JENKY_PROJECT=taowai,
// so `journalctl -u jenky JENKY_RUN_ID=42` finds a run's events.
std::vector<std::pair<std::string, std::string>> RunFields(std::string_view line) {
  std::vector<std::pair<std::string, std::string>> fields;
  if (line.rfind("run=", 0) == 0) {
    size_t sp = line.find(' ');
    fields.emplace_back("JENKY_RUN_ID", std::string(line.substr(4, sp - 4)));
    line.remove_prefix(sp == std::string_view::npos ? line.size() : sp + 1);
  }
  if (line.rfind("project=", 0) == 0) {
    size_t sp = line.find(' ');
    fields.emplace_back("JENKY_PROJECT", std::string(line.substr(8, sp - 8)));
  }
  return fields;
}

void WriteLine(LogLevel level, std::string_view line) {
  static const bool journal = StderrIsJournal();
  // Under journald, send entries with fields; fall back to the stream.
  if (journal && JournalSend(static_cast<int>(level), line, RunFields(line))) return;
  std::string out;
  out.reserve(line.size() + 12);
  if (journal) {
    out += fmt::format("<{}>", static_cast<int>(level));
  } else if (level == LogLevel::kError) {
    out += "error: ";
  } else if (level == LogLevel::kWarning) {
    out += "warning: ";
  }
  out += line;
  out += '\n';
  // One write so concurrent lines never interleave; stderr is unbuffered anyway.
  ssize_t ignored = write(STDERR_FILENO, out.data(), out.size());
  (void)ignored;
}

}  // namespace

std::vector<std::string> RepeatFilter::Take(LogLevel level, std::string_view line, int64_t now_ms) {
  std::vector<std::string> out;
  if (line == last_ && level == last_level_ && now_ms - last_written_ms_ < kRepeatWindowMs) {
    ++repeats_;
    return out;
  }
  if (repeats_ > 0) {
    out.push_back(fmt::format("(the previous message was repeated {} more time{})", repeats_,
                              repeats_ == 1 ? "" : "s"));
  }
  out.emplace_back(line);
  last_.assign(line);
  last_level_ = level;
  last_written_ms_ = now_ms;
  repeats_ = 0;
  return out;
}

void LogLine(LogLevel level, std::string_view line) {
  static std::mutex mu;
  static RepeatFilter filter;
  std::vector<std::string> lines;
  {
    std::lock_guard lock(mu);
    lines = filter.Take(level, line, NowMillis());
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    WriteLine(i + 1 < lines.size() ? LogLevel::kInfo : level, lines[i]);
  }
}

std::string RunTag(int64_t run_id, std::string_view project) {
  return fmt::format("run={} project={} ", run_id, project);
}

}  // namespace jenky
