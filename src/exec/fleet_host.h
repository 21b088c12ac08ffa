// One host of a fleet run, as the fleet driver (fleet_driver.h) works on it:
// its ssh connection, its upload, its remote steps (fleet_remote.h), its
// output and its state file (fleet_state.h).
//
// Threads: the driver gives each host to one worker thread at a time; a
// HostLink is used by that thread only, except `state()` which the driver
// reads between phases. FleetOutput is shared and locks itself.
#pragma once

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <semaphore>
#include <string>
#include <utility>
#include <vector>

#include "config/fleet_types.h"
#include "exec/fleet_remote.h"
#include "exec/fleet_state.h"
#include "exec/masker.h"
#include "exec/ssh.h"

namespace jenky {

// The run's merged log (the driver's stdout, which the supervisor masks
// and writes to the run's log) gets every line as "[HOST] line"; each
// host's own log gets its lines unprefixed and masked.
class FleetOutput {
 public:
  explicit FleetOutput(std::vector<std::string> secrets) : secrets_(std::move(secrets)) {}
  ~FleetOutput();
  // Opens RUN_DIR/hosts/HOST/log for appending.
  void AddHost(const std::string& run_dir, const std::string& host);
  // One whole line (no newline) from HOST ("" = the driver itself).
  void Line(const std::string& host, std::string_view line);
  // TEXT with every secret masked (for a host's reason).
  std::string Mask(std::string_view text) const;

 private:
  struct HostLog {
    FILE* file = nullptr;
    std::unique_ptr<SecretMasker> masker;
  };
  std::mutex mu_;
  std::vector<std::string> secrets_;
  std::vector<std::pair<std::string, HostLog>> logs_;
};

// What every host of a run shares.
struct FleetContext {
  std::string run_dir;
  std::string release;  // the run's id
  std::string deploy_dir;
  std::string shell;
  std::string workdir;
  std::vector<std::string> upload;
  bool upload_flat = false;  // each under its base name (FleetConfig::upload_flat)
  int keep_releases = 5;
  SshSetup ssh;
  FleetOutput* out = nullptr;
  // Exported to every step of every host (the project's env and secrets,
  // JENKY_*), before the host's own env and JENKY_HOST.
  std::vector<std::pair<std::string, std::string>> env;
  std::atomic<bool>* cancelled = nullptr;
  // New ssh connections at once (sshd drops more past MaxStartups 10).
  std::counting_semaphore<64>* connect_gate = nullptr;
  int64_t kill_grace_ms = 10'000;
};

class HostLink {
 public:
  HostLink(const FleetContext& ctx, HostConfig host);

  const HostConfig& host() const { return host_; }
  const HostState& state() const { return state_; }
  void SetStatus(HostStatus status, std::string reason = "");

  // Opens the shared connection (ControlMaster), waiting for the gate.
  bool Connect();
  // Makes releases/.partial-ID, rsyncs the uploads into it (hard-linking
  // what is unchanged from `current`) and renames it to releases/ID; or just
  // makes releases/ID when there is nothing to upload.
  bool Upload();
  // Runs STEP with SCRIPT (may be ""); its output goes to the logs. False
  // with the reason in *REASON when it failed.
  bool Step(RemoteStep step, const std::string& script, std::string* reason);
  // Closes the shared connection (ssh -O exit).
  void Disconnect();
  bool connected() const { return connected_; }

  // Why an ssh command that ended with STATUS and OUTPUT failed.
  std::string FailureReason(int status, const std::string& output, const std::string& what);

 private:
  // Runs ARGV (ssh or rsync) with PAYLOAD on its stdin (kept open until it
  // ends), its output line by line into the logs. Returns its exit status
  // (128+N for signal N) and the output's last 8 KiB in *TAIL.
  int Stream(const std::vector<std::string>& argv, const std::string& payload, std::string* tail);
  std::vector<std::pair<std::string, std::string>> StepEnv() const;

  const FleetContext& ctx_;
  HostConfig host_;
  HostState state_;
  bool connected_ = false;
};

}  // namespace jenky
