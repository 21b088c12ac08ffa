// RunSpec: what the server tells a supervisor about the run it is to own
// (supervisor.h), and its wire form: one line of JSON on the supervisor's
// stdin. A value; any thread. Text travels as JSON strings, any other bytes
// (an environment value may hold anything but NUL) as {"hex": "..."}, so the
// run gets them unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace jenky {

struct RunSpec {
  std::string run_dir;
  int64_t run_id = 0;
  std::string project;
  std::vector<std::string> argv;  // shell and the script file
  std::vector<std::string> env;   // KEY=VALUE, complete
  std::string workdir;
  int64_t timeout_ms = 0;
  int64_t kill_grace_ms = 10'000;
  // The log is cut at this many bytes and the script's tree stopped; the run
  // fails. 0 = no limit. The log then ends with one line saying so.
  int64_t max_log_bytes = 0;
  std::vector<std::string> secrets;  // values masked in the log (masker.h)
  // run_dir is the stage this spare supervisor made (run_dir.h), renamed by
  // the server: its files are made and open already.
  bool staged = false;
  // The server started the spare's warm shell on this run already, through
  // the descriptors it gave the spare (WarmFds): the script runs.
  bool warm_started = false;
  // The project's limits for the run's cgroup (memory.max, pids.max);
  // 0 = none. A run that has them and cannot have them applied fails.
  int64_t memory_max = 0;
  int64_t tasks_max = 0;
};

// One line of JSON, ending in a newline.
std::string EncodeRunSpec(const RunSpec& spec);
// Fails saying what is wrong: not a JSON object, a field missing or of the
// wrong type, bad hex, an empty argv.
Result<RunSpec> DecodeRunSpec(const std::string& text);

// Reads FD up to the end of the first line (its newline included) or EOF:
// the RunSpec is one line, so its end is known without waiting for EOF.
// "" when FD had nothing (or failed at once).
std::string ReadRunSpecLine(int fd);

}  // namespace jenky
