#include "exec/fleet_state.h"

#include <sys/stat.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "util/fs.h"
#include "util/json.h"

namespace jenky {

namespace {
constexpr const char* kNames[] = {"pending", "preparing", "prepared",    "switching",
                                  "healthy", "failed",    "rolled back", "skipped"};
}  // namespace

const char* HostStatusName(HostStatus s) { return kNames[static_cast<int>(s)]; }

std::optional<HostStatus> ParseHostStatus(std::string_view name) {
  for (int i = 0; i < 8; ++i) {
    if (name == kNames[i]) return static_cast<HostStatus>(i);
  }
  return std::nullopt;
}

bool IsFinalHostStatus(HostStatus s) {
  return s == HostStatus::kHealthy || s == HostStatus::kFailed || s == HostStatus::kRolledBack ||
         s == HostStatus::kSkipped;
}

std::string HostsDir(const std::string& run_dir) { return run_dir + "/hosts"; }
std::string HostDir(const std::string& run_dir, const std::string& host) {
  return HostsDir(run_dir) + "/" + host;
}
std::string HostLogPath(const std::string& run_dir, const std::string& host) {
  return HostDir(run_dir, host) + "/log";
}

std::string EncodeHostState(const HostState& s) {
  nlohmann::json j = {{"name", s.name},
                      {"address", s.address},
                      {"status", HostStatusName(s.status)},
                      {"reason", s.reason},
                      {"release", s.release},
                      {"started_at", s.started_at},
                      {"finished_at", s.finished_at}};
  return DumpJson(j) + "\n";
}

Result<HostState> DecodeHostState(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string() || !j.contains("status") ||
      !j["status"].is_string()) {
    return Status::Error("not a host state: " + text.substr(0, 200));
  }
  HostState s;
  s.name = j["name"];
  auto status = ParseHostStatus(j["status"].get<std::string>());
  if (!status) return Status::Error("unknown host status " + j["status"].get<std::string>());
  s.status = *status;
  s.address = j.value("address", "");
  s.reason = j.value("reason", "");
  s.release = j.value("release", "");
  s.started_at = j.value("started_at", int64_t{0});
  s.finished_at = j.value("finished_at", int64_t{0});
  return s;
}

Status WriteHostState(const std::string& run_dir, const HostState& s) {
  std::string dir = HostDir(run_dir, s.name);
  mkdir(HostsDir(run_dir).c_str(), 0755);
  mkdir(dir.c_str(), 0755);
  return WriteFileAtomic(dir + "/status.json", EncodeHostState(s), 0644);
}

Status WriteHostOrder(const std::string& run_dir, const std::vector<std::string>& names) {
  mkdir(HostsDir(run_dir).c_str(), 0755);
  std::string text;
  for (const auto& n : names) text += n + "\n";
  return WriteFileAtomic(HostsDir(run_dir) + "/order", text, 0644);
}

std::vector<HostState> ReadHostStates(const std::string& run_dir) {
  std::vector<HostState> out;
  auto order = ReadFile(HostsDir(run_dir) + "/order");
  if (!order.ok()) return out;
  std::istringstream in(*order);
  for (std::string name; std::getline(in, name);) {
    if (name.empty()) continue;
    auto text = ReadFile(HostDir(run_dir, name) + "/status.json");
    Result<HostState> s = text.ok() ? DecodeHostState(*text) : Result<HostState>(text.status());
    if (s.ok()) {
      out.push_back(*s);
    } else {
      HostState pending;
      pending.name = name;
      out.push_back(pending);
    }
  }
  return out;
}

std::string FleetFailureReason(const std::vector<HostState>& hosts, const std::string& stop) {
  int failed = 0, rolled_back = 0, skipped = 0, healthy = 0;
  std::string failures;
  for (const auto& h : hosts) {
    switch (h.status) {
      case HostStatus::kHealthy: ++healthy; break;
      case HostStatus::kRolledBack: ++rolled_back; break;
      case HostStatus::kSkipped: ++skipped; break;
      default:  // failed, or (a driver that died) never finished
        ++failed;
        failures += (failures.empty() ? "" : "; ") + h.name + ": " +
                    (h.reason.empty() ? HostStatusName(h.status) : h.reason);
    }
  }
  if (healthy == static_cast<int>(hosts.size())) return "";
  std::string out;
  size_t n = hosts.size();
  if (failed > 0) {
    out = std::to_string(failed) + " of " + std::to_string(n) +
          (n == 1 ? " host failed: " : " hosts failed: ") + failures;
  } else if (!stop.empty()) {
    out = stop;
  } else {
    out = std::to_string(n - healthy) + " of " + std::to_string(n) + " hosts not deployed";
  }
  std::string rest;
  if (rolled_back > 0) rest = std::to_string(rolled_back) + " rolled back";
  if (skipped > 0) rest += (rest.empty() ? "" : ", ") + std::to_string(skipped) + " skipped";
  if (!rest.empty()) {
    out += "; " + rest;
    if (failed > 0 && !stop.empty()) out += " (" + stop + ")";
  }
  return out;
}

std::string FleetReasonPath(const std::string& run_dir) { return HostsDir(run_dir) + "/reason"; }

std::string ReadFleetReason(const std::string& run_dir) {
  auto text = ReadFile(FleetReasonPath(run_dir));
  if (!text.ok()) return "";
  std::string s = *text;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace jenky
