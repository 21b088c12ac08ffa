#include "core/run.h"

#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "core/run_action.h"
#include "util/json.h"
#include "util/time.h"
#include "util/utf8.h"

namespace jenky {

namespace {
struct StatusName {
  RunStatus status;
  const char* name;
};
constexpr StatusName kStatusNames[] = {
    {RunStatus::kQueued, "queued"},           {RunStatus::kRunning, "running"},
    {RunStatus::kSucceeded, "succeeded"},     {RunStatus::kFailed, "failed"},
    {RunStatus::kCancelled, "cancelled"},     {RunStatus::kTimedOut, "timed_out"},
    {RunStatus::kInterrupted, "interrupted"},
};
struct KindName {
  TriggerKind kind;
  const char* name;
};
constexpr KindName kKindNames[] = {
    {TriggerKind::kManual, "manual"}, {TriggerKind::kApi, "api"},
    {TriggerKind::kCli, "cli"},       {TriggerKind::kWebhook, "webhook"},
    {TriggerKind::kPoll, "poll"},     {TriggerKind::kSchedule, "schedule"},
};

nlohmann::json TimeOrNull(int64_t ms) {
  if (ms == 0) return nullptr;
  return FormatRfc3339(ms);
}
nlohmann::json StringOrNull(const std::string& s) {
  if (s.empty()) return nullptr;
  return s;
}
int64_t ParseTimeOrZero(const nlohmann::json& j) {
  // The CLI only needs ordering and durations; parse the fixed RFC 3339 form.
  if (!j.is_string()) return 0;
  struct tm tm = {};
  int ms = 0;
  const std::string& s = j.get_ref<const std::string&>();
  if (sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
             &tm.tm_min, &tm.tm_sec, &ms) < 6) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}
std::string StringOr(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}
}  // namespace

const char* RunStatusName(RunStatus s) {
  for (const auto& n : kStatusNames) {
    if (n.status == s) return n.name;
  }
  return "unknown";
}

std::optional<RunStatus> ParseRunStatus(std::string_view name) {
  for (const auto& n : kStatusNames) {
    if (name == n.name) return n.status;
  }
  return std::nullopt;
}

bool IsFinished(RunStatus s) { return s != RunStatus::kQueued && s != RunStatus::kRunning; }

int ExitCodeFor(RunStatus s) {
  switch (s) {
    case RunStatus::kSucceeded: return 0;
    case RunStatus::kFailed: return 1;
    case RunStatus::kCancelled: return 3;
    case RunStatus::kTimedOut: return 4;
    case RunStatus::kInterrupted: return 5;
    case RunStatus::kQueued:
    case RunStatus::kRunning: return 6;
  }
  return 6;
}

const char* TriggerKindName(TriggerKind k) {
  for (const auto& n : kKindNames) {
    if (n.kind == k) return n.name;
  }
  return "api";
}

std::optional<TriggerKind> ParseTriggerKind(std::string_view name) {
  for (const auto& n : kKindNames) {
    if (name == n.name) return n.kind;
  }
  return std::nullopt;
}

nlohmann::json ResourcesToJson(const RunResources& r) {
  nlohmann::json j = nlohmann::json::object();
  // Milliseconds are as precise as the figure deserves.
  if (r.cpu_seconds)
    j["cpu_seconds"] = static_cast<double>(std::llround(*r.cpu_seconds * 1000)) / 1000;
  if (r.memory_peak_bytes) j["memory_peak_bytes"] = *r.memory_peak_bytes;
  if (r.processes_peak) j["processes_peak"] = *r.processes_peak;
  return j;
}

std::optional<RunResources> ResourcesFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  RunResources r;
  if (auto it = j.find("cpu_seconds"); it != j.end() && it->is_number()) {
    r.cpu_seconds = it->get<double>();
  }
  if (auto it = j.find("memory_peak_bytes"); it != j.end() && it->is_number_integer()) {
    r.memory_peak_bytes = it->get<int64_t>();
  }
  if (auto it = j.find("processes_peak"); it != j.end() && it->is_number_integer()) {
    r.processes_peak = it->get<int64_t>();
  }
  return r;
}

std::string TagOf(const Trigger& t) {
  return t.ref.rfind("refs/tags/", 0) == 0 ? t.ref.substr(10) : "";
}

nlohmann::json RunToJson(const Run& r) {
  nlohmann::json trigger = {
      {"kind", TriggerKindName(r.trigger.kind)},
      {"provider", StringOrNull(r.trigger.provider)},
      {"ref", StringOrNull(r.trigger.ref)},
      {"branch", StringOrNull(r.trigger.branch)},
      {"commit", StringOrNull(r.trigger.commit)},
      {"actor", StringOrNull(r.trigger.actor)},
      {"delivery", StringOrNull(r.trigger.delivery)},
      {"repository", StringOrNull(r.trigger.repo_url)},
      {"message", StringOrNull(r.trigger.message)},
  };
  nlohmann::json inputs = nlohmann::json::object();
  for (const auto& [name, value] : r.trigger.inputs) inputs[name] = value;
  nlohmann::json action = r.trigger.action;
  nlohmann::json j = {
      {"id", r.id},
      {"project", r.project},
      {"status", RunStatusName(r.status)},
      {"trigger", std::move(trigger)},
      {"created_at", TimeOrNull(r.created_at)},
      {"started_at", TimeOrNull(r.started_at)},
      {"finished_at", TimeOrNull(r.finished_at)},
      {"exit_code", r.exit_code ? nlohmann::json(*r.exit_code) : nlohmann::json(nullptr)},
      {"reason", StringOrNull(r.reason)},
      {"log_bytes", r.log_bytes},
      {"log_url", "/api/v1/runs/" + std::to_string(r.id) + "/log"},
      {"recipe", StringOrNull(r.recipe)},
      {"script_sha256", StringOrNull(r.script_sha256)},
      {"log_pruned", r.log_pruned},
      {"action", std::move(action)},
      {"rollback_to",
       r.trigger.rollback_to ? nlohmann::json(r.trigger.rollback_to) : nlohmann::json(nullptr)},
  };
  j["inputs"] = std::move(inputs);
  // Only where it was measured (a finished run, on a host that counts).
  if (r.resources) j["resources"] = ResourcesToJson(*r.resources);
  return j;
}

namespace {

// A JSON string as nlohmann's dump writes one of valid UTF-8 (ensure_ascii
// off): the same escapes as the log's messages.
void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  AppendJsonEscapedUtf8(s, out);
  out += '"';
}

void AppendStringOrNull(std::string& out, const std::string& s) {
  if (s.empty()) out += "null";
  else AppendJsonString(out, s);
}

void AppendTimeOrNull(std::string& out, int64_t ms) {
  if (ms == 0) out += "null";
  else AppendJsonString(out, FormatRfc3339(ms));
}

// Whether RunJsonText can write R itself: nlohmann replaces invalid UTF-8
// in its own way, which that one copies only for valid text.
bool AllValidUtf8(const Run& r) {
  const Trigger& t = r.trigger;
  for (const std::string* s :
       {&r.project, &t.provider, &t.ref, &t.branch, &t.commit, &t.actor, &t.delivery, &t.repo_url,
        &t.message, &r.reason, &r.recipe, &r.script_sha256, &t.action}) {
    if (!IsValidUtf8(*s)) return false;
  }
  for (const auto& [name, value] : t.inputs) {
    if (!IsValidUtf8(name) || !IsValidUtf8(value)) return false;
  }
  return true;
}

// ,"NAME": (no comma for the first key of an object)
void AppendKey(std::string& out, std::string_view name) {
  if (out.back() != '{') out += ',';
  out += '"';
  out += name;
  out += "\":";
}

// ,"NAME":VALUE with an empty VALUE as null.
void AppendStringOrNullField(std::string& out, std::string_view name, const std::string& value) {
  AppendKey(out, name);
  AppendStringOrNull(out, value);
}

// The "trigger" object of RunJsonText, its keys in nlohmann's order.
void AppendTriggerJson(std::string& out, const Trigger& t) {
  out += '{';
  AppendStringOrNullField(out, "actor", t.actor);
  AppendStringOrNullField(out, "branch", t.branch);
  AppendStringOrNullField(out, "commit", t.commit);
  AppendStringOrNullField(out, "delivery", t.delivery);
  AppendKey(out, "kind");
  AppendJsonString(out, TriggerKindName(t.kind));
  AppendStringOrNullField(out, "message", t.message);
  AppendStringOrNullField(out, "provider", t.provider);
  AppendStringOrNullField(out, "ref", t.ref);
  AppendStringOrNullField(out, "repository", t.repo_url);
  out += '}';
}

}  // namespace

std::string RunJsonText(const Run& r) {
  if (!AllValidUtf8(r)) return DumpJson(RunToJson(r));
  const Trigger& t = r.trigger;
  std::string out;
  out.reserve(640 + t.message.size());
  auto key = [&out](std::string_view name) { AppendKey(out, name); };
  // The keys in nlohmann's order (std::map: sorted).
  out += '{';
  key("action");
  AppendJsonString(out, t.action);
  key("created_at");
  AppendTimeOrNull(out, r.created_at);
  key("exit_code");
  out += r.exit_code ? std::to_string(*r.exit_code) : "null";
  key("finished_at");
  AppendTimeOrNull(out, r.finished_at);
  key("id");
  out += std::to_string(r.id);
  key("inputs");
  out += '{';
  std::map<std::string_view, std::string_view> inputs;  // sorted; the last of a name wins
  for (const auto& [name, value] : t.inputs) inputs[name] = value;
  for (const auto& [name, value] : inputs) {
    if (out.back() != '{') out += ',';
    AppendJsonString(out, name);
    out += ':';
    AppendJsonString(out, value);
  }
  out += '}';
  key("log_bytes");
  out += std::to_string(r.log_bytes);
  key("log_pruned");
  out += r.log_pruned ? "true" : "false";
  key("log_url");
  AppendJsonString(out, "/api/v1/runs/" + std::to_string(r.id) + "/log");
  key("project");
  AppendJsonString(out, r.project);
  AppendStringOrNullField(out, "reason", r.reason);
  AppendStringOrNullField(out, "recipe", r.recipe);
  if (r.resources) {
    key("resources");
    out += DumpJson(ResourcesToJson(*r.resources));  // (doubles: nlohmann's own way)
  }
  key("rollback_to");
  out += t.rollback_to ? std::to_string(t.rollback_to) : "null";
  AppendStringOrNullField(out, "script_sha256", r.script_sha256);
  key("started_at");
  AppendTimeOrNull(out, r.started_at);
  key("status");
  AppendJsonString(out, RunStatusName(r.status));
  key("trigger");
  AppendTriggerJson(out, t);
  out += '}';
  return out;
}

Run RunFromJson(const nlohmann::json& j) {
  Run r;
  r.id = j.value("id", int64_t{0});
  r.project = StringOr(j, "project");
  r.status = ParseRunStatus(StringOr(j, "status")).value_or(RunStatus::kInterrupted);
  if (auto it = j.find("trigger"); it != j.end() && it->is_object()) {
    const auto& t = *it;
    r.trigger.kind = ParseTriggerKind(StringOr(t, "kind")).value_or(TriggerKind::kApi);
    r.trigger.provider = StringOr(t, "provider");
    r.trigger.ref = StringOr(t, "ref");
    r.trigger.branch = StringOr(t, "branch");
    r.trigger.commit = StringOr(t, "commit");
    r.trigger.actor = StringOr(t, "actor");
    r.trigger.delivery = StringOr(t, "delivery");
    r.trigger.repo_url = StringOr(t, "repository");
    r.trigger.message = StringOr(t, "message");
  }
  if (auto it = j.find("inputs"); it != j.end() && it->is_object()) {
    for (const auto& [name, value] : it->items()) {
      if (value.is_string()) r.trigger.inputs.emplace_back(name, value.get<std::string>());
    }
  }
  r.created_at = ParseTimeOrZero(j.value("created_at", nlohmann::json()));
  r.started_at = ParseTimeOrZero(j.value("started_at", nlohmann::json()));
  r.finished_at = ParseTimeOrZero(j.value("finished_at", nlohmann::json()));
  if (auto it = j.find("exit_code"); it != j.end() && it->is_number_integer()) {
    r.exit_code = it->get<int>();
  }
  r.reason = StringOr(j, "reason");
  r.log_bytes = j.value("log_bytes", int64_t{0});
  r.recipe = StringOr(j, "recipe");
  r.script_sha256 = StringOr(j, "script_sha256");
  r.log_pruned = j.value("log_pruned", false);
  r.trigger.action = j.value("action", RunActionName(RunAction::kDeploy));
  if (auto it = j.find("rollback_to"); it != j.end() && it->is_number_integer()) {
    r.trigger.rollback_to = it->get<int64_t>();
  }
  if (auto it = j.find("resources"); it != j.end()) r.resources = ResourcesFromJson(*it);
  return r;
}

}  // namespace jenky
