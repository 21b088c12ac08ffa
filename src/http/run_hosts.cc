#include "http/run_hosts.h"

#include "exec/fleet_state.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/time.h"

namespace jenky {
namespace {

std::string RunDirOf(const std::string& log_path) {
  return log_path.substr(0, log_path.rfind('/'));
}

nlohmann::json Time(int64_t ms) { return ms ? nlohmann::json(FormatRfc3339(ms)) : nullptr; }

}  // namespace

nlohmann::json RunJsonWithHosts(const Run& r, const std::string& log_path) {
  nlohmann::json j = RunToJson(r);
  nlohmann::json hosts = HostsJson(log_path);
  if (!hosts.is_null()) j["hosts"] = std::move(hosts);
  return j;
}

nlohmann::json ListedRunJson(const Run& r, const ProjectConfig* project,
                             const std::string& log_path) {
  return project && !project->fleet ? RunToJson(r) : RunJsonWithHosts(r, log_path);
}

std::string ListedRunText(const Run& r, const ProjectConfig* project, const std::string& log_path) {
  return project && !project->fleet ? RunJsonText(r) : DumpJson(RunJsonWithHosts(r, log_path));
}

nlohmann::json HostsJson(const std::string& log_path) {
  std::vector<HostState> hosts = ReadHostStates(RunDirOf(log_path));
  if (hosts.empty()) return nullptr;
  nlohmann::json out = nlohmann::json::array();
  for (const HostState& h : hosts) {
    out.push_back({{"name", h.name},
                   {"address", h.address},
                   {"status", HostStatusName(h.status)},
                   {"reason", h.reason},
                   {"release", h.release},
                   {"started_at", Time(h.started_at)},
                   {"finished_at", Time(h.finished_at)}});
  }
  return out;
}

std::string HostLogOf(const std::string& log_path, const std::string& host,
                      const std::vector<std::string>& planned) {
  std::vector<HostState> states = ReadHostStates(RunDirOf(log_path));
  for (const HostState& h : states) {
    if (h.name == host) return HostLogFile(log_path, host);
  }
  if (!states.empty()) return "";
  for (const std::string& name : planned) {
    if (name == host) return HostLogFile(log_path, host);
  }
  return "";
}

std::string HostLogFile(const std::string& log_path, const std::string& host) {
  return HostLogPath(RunDirOf(log_path), host);
}

}  // namespace jenky
