// A fleet run's per-host state on disk (docs/run_dir.md, "hosts/"):
// runs/ID/hosts/NAME/status.json, written atomically by the run's fleet
// driver (fleet_driver.h) at each change, and runs/ID/hosts/NAME/log, that
// host's output alone (masked). The server reads them for the run's JSON
// and `GET /api/v1/runs/{id}/log?host=NAME`; they live in the run's
// directory so a restarted server finds them as they were.
//
// Values and file functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace jenky {

enum class HostStatus {
  kPending,
  kPreparing,
  kPrepared,
  kSwitching,
  kHealthy,
  kFailed,
  kRolledBack,
  kSkipped,
};
const char* HostStatusName(HostStatus s);  // "pending" ... "rolled back", "skipped"
std::optional<HostStatus> ParseHostStatus(std::string_view name);
// Whether S is where a host ends (healthy, failed, rolled back, skipped).
bool IsFinalHostStatus(HostStatus s);

struct HostState {
  std::string name;
  std::string address;
  HostStatus status = HostStatus::kPending;
  std::string reason;       // why it failed, was rolled back or skipped; "" otherwise
  std::string release;      // the release directory's name (the run's id)
  int64_t started_at = 0;   // unix ms; 0 = not started
  int64_t finished_at = 0;  // unix ms; 0 = not finished
};

std::string HostsDir(const std::string& run_dir);  // RUN_DIR/hosts
std::string HostDir(const std::string& run_dir, const std::string& host);
std::string HostLogPath(const std::string& run_dir, const std::string& host);

std::string EncodeHostState(const HostState& s);  // one JSON object
Result<HostState> DecodeHostState(const std::string& text);

Status WriteHostState(const std::string& run_dir, const HostState& s);
// Every host of the run, in the order the driver listed them (hosts/order);
// empty for a run that is not a fleet run.
std::vector<HostState> ReadHostStates(const std::string& run_dir);
// The hosts' order, written once when the driver starts.
Status WriteHostOrder(const std::string& run_dir, const std::vector<std::string>& names);

// Why a fleet run whose hosts are not all healthy failed, in one line that
// names each failed host and its reason: "2 of 5 hosts failed: web3:
// switch: health check ...; web4: ...; 1 rolled back, 2 skipped (STOP)".
// STOP is why the rollout stopped ("" if it did not). "" when every host is
// healthy.
std::string FleetFailureReason(const std::vector<HostState>& hosts, const std::string& stop);
// RUN_DIR/hosts/reason: that line, written by the driver as it ends; the
// run's supervisor makes it the run's `reason` (ReadFleetReason: "" if none).
std::string FleetReasonPath(const std::string& run_dir);
std::string ReadFleetReason(const std::string& run_dir);

}  // namespace jenky
