// The fleet driver: what a run of a project with `targets` executes in place
// of a script (`jenky __fleet`, started by the run's supervisor like any
// script, so it lives in the run's process group and cgroup and outlives a
// restart of the server; docs/fleet.md).
//
// It reads its FleetPlan from JENKY_FLEET_PLAN (made by the server from the
// config, server/run_env.cc) and then, writing every host's state into the
// run directory (fleet_state.h):
//   1. runs `build` once, here, in the workdir;
//   2. prepares every host, `parallel` at a time (at most 10 new ssh
//      connections at once): connect, upload into releases/ID, `prepare`;
//   3. switches the prepared hosts in batches (`current` -> releases/ID,
//      `script`, `health` retried until health_timeout), pausing between;
//   4. past `max_failures`, applies on_failure: rollback (every switched
//      host back to its previous release), stop, or continue; hosts not
//      reached are cleaned and skipped;
//   5. closes every connection and prints a summary table.
// Exit status 0 when every host is healthy, 1 otherwise. SIGTERM (cancel,
// timeout) stops every host's step; the hosts end their step's tree
// themselves when the connection goes (fleet_remote.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/fleet_types.h"
#include "util/status.h"

namespace jenky {

struct FleetPlan {
  std::string project;
  int64_t run_id = 0;
  std::string run_dir;
  std::string data_dir;
  std::string workdir;
  std::string shell = "/bin/bash";
  std::string ssh_config;   // the operator's, or ""
  std::string script_file;  // the run's saved script (the switch step)
  std::string build;
  std::vector<std::string> upload;
  bool upload_flat = false;  // FleetConfig::upload_flat
  std::string prepare, health, rollback;
  std::string deploy_dir;
  int keep_releases = 5;
  RolloutConfig rollout;
  std::vector<HostConfig> hosts;
  // Variables of the driver's environment sent to every host's steps (the
  // project's env and secrets, JENKY_*); of those, secret_names are masked in
  // the hosts' logs.
  std::vector<std::string> forward_env;
  std::vector<std::string> secret_names;
  int64_t kill_grace_ms = 10'000;
};

std::string EncodeFleetPlan(const FleetPlan& plan);
Result<FleetPlan> DecodeFleetPlan(const std::string& text);

// The environment variable the plan travels in.
inline constexpr const char* kFleetPlanVar = "JENKY_FLEET_PLAN";

// `jenky __fleet`: the whole run; returns the exit status.
int FleetMain();

}  // namespace jenky
