#include "util/logger.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

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

}  // namespace

void LogLine(LogLevel level, std::string_view line) {
  static const bool journal = StderrIsJournal();
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

std::string RunTag(int64_t run_id, std::string_view project) {
  return fmt::format("run={} project={} ", run_id, project);
}

}  // namespace jenky
