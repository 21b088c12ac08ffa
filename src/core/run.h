// A run: one execution of a project's script, from trigger to final status.
// The same struct is kept in memory for active runs, stored in SQLite, and
// rendered as the SPEC.md JSON form.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace jenky {

enum class RunStatus {
  kQueued,
  kRunning,
  kSucceeded,
  kFailed,
  kCancelled,
  kTimedOut,
  kInterrupted
};

const char* RunStatusName(RunStatus s);
std::optional<RunStatus> ParseRunStatus(std::string_view name);
bool IsFinished(RunStatus s);

// `jenky deploy --follow` / `logs --follow` exit codes (SPEC.md).
int ExitCodeFor(RunStatus s);

// kPoll: a new head seen by `[projects.X.poll]`; kSchedule: a `schedule` fired.
enum class TriggerKind { kManual, kApi, kCli, kWebhook, kPoll, kSchedule };
const char* TriggerKindName(TriggerKind k);
std::optional<TriggerKind> ParseTriggerKind(std::string_view name);

struct Trigger {
  TriggerKind kind = TriggerKind::kApi;
  std::string provider;  // webhook provider, "" otherwise
  std::string ref;       // "refs/heads/main"
  std::string branch;    // "main"
  std::string commit;
  std::string actor;     // pusher, or the token name that clicked
  std::string delivery;  // webhook delivery id
  // A RunActionName (core/run_action.h): "deploy", or "rollback" to release
  // ROLLBACK_TO (0 = the previous one).
  std::string action = "deploy";
  int64_t rollback_to = 0;
  // The deploy inputs as the script gets them (JENKY_INPUT_<NAME>), every
  // declared one, defaults filled in (config/inputs_config.h).
  std::vector<std::pair<std::string, std::string>> inputs;
  // From a webhook payload: the repository's web address and the head
  // commit's message ("" when unknown).
  std::string repo_url;
  std::string message;
};

// The tag a trigger's ref names ("v1.2" for refs/tags/v1.2), "" for others.
std::string TagOf(const Trigger& t);

// What a run used, as far as the kernel counted it (docs/run_dir.md,
// exit.json): each field is there only where this host could measure it.
struct RunResources {
  std::optional<double> cpu_seconds;         // user + system, every process of the run
  std::optional<int64_t> memory_peak_bytes;  // cgroup memory.peak
  std::optional<int64_t> processes_peak;     // cgroup pids.peak, else the most seen at once
  bool operator==(const RunResources&) const = default;
};

nlohmann::json ResourcesToJson(const RunResources& r);
// nullopt unless J is an object; unknown and ill-typed fields are ignored.
std::optional<RunResources> ResourcesFromJson(const nlohmann::json& j);

struct Run {
  int64_t id = 0;
  std::string project;
  RunStatus status = RunStatus::kQueued;
  Trigger trigger;
  int64_t created_at = 0;  // unix ms
  int64_t started_at = 0;  // 0 = not yet
  int64_t finished_at = 0;
  std::optional<int> exit_code;
  std::string reason;  // why it ended the way it did, "" if plainly
  int64_t log_bytes = 0;
  std::string recipe;                     // recipe name, "" for a script
  std::string script_sha256;              // of the exact text that ran
  bool log_pruned = false;                // keep_runs removed its log
  std::optional<RunResources> resources;  // once finished, where measured
};

nlohmann::json RunToJson(const Run& run);
// DumpJson(RunToJson(RUN)), the same bytes, written straight into text: a
// listing of runs is mostly this, and building the JSON tree first took
// most of its time.
std::string RunJsonText(const Run& run);
// Inverse of RunToJson, for the CLI. Unknown fields are ignored.
Run RunFromJson(const nlohmann::json& j);

}  // namespace jenky
