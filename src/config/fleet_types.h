// The fleet's values in a loaded Config (docs/fleet.md): hosts, and what a
// project with `targets` deploys and how. Loaded by config/hosts_config.h;
// values, any thread.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "util/duration.h"

namespace jenky {

struct HostConfig {
  std::string name;
  // What ssh connects to: an address, a DNS name, or a Host alias of the
  // operator's ssh config ([server] ssh_config). Default: the name.
  std::string address;
  std::string user;           // "" = ssh's own default
  int port = 0;               // 0 = ssh's own default (22 or the ssh config's)
  std::string identity_file;  // absolute; "" = ssh's (agent, ~/.ssh, ssh config)
  std::vector<std::string> tags;
  std::vector<std::pair<std::string, std::string>> env;
};

// What the rollout does once a host fails past max_failures.
enum class OnFailure { kRollback, kStop, kContinue };
const char* OnFailureName(OnFailure f);

struct RolloutConfig {
  // Hosts switched at a time: `batch` hosts, or `batch_percent` of them
  // (rounded up, at least 1) when that is not 0.
  int batch = 1;
  int batch_percent = 0;
  Millis pause{0};       // between batches
  int max_failures = 0;  // failed hosts tolerated before on_failure applies
  OnFailure on_failure = OnFailure::kRollback;
  int parallel = 10;  // hosts worked on at once in the parallel phase
  Millis health_timeout = std::chrono::seconds(60);
};

struct FleetConfig {
  std::vector<std::string> targets;  // as written: host names and tags
  std::vector<std::string> hosts;    // resolved: host names, in [hosts] order
  std::string build;                 // runs once, locally, in the workdir
  std::vector<std::string> upload;   // paths relative to the workdir (or absolute)
  // false: each upload path keeps its path under the release (rsync -R).
  // true (a recipe's artifacts): each is a glob pattern, matched after the
  // build, and each match lands under its base name; "DIR/" = DIR's contents.
  bool upload_flat = false;
  std::string prepare;   // per host, in the new release dir, parallel phase
  std::string health;    // per host after its switch; retried to health_timeout
  std::string rollback;  // per host after `current` points back
  // Where releases live on each host; relative = the remote user's home.
  std::string deploy_dir;
  int keep_releases = 5;  // per host: the newest kept (and the one before this run's)
  RolloutConfig rollout;
};

// Hosts in a batch of a rollout over N hosts (at least 1, at most N).
int BatchSize(const RolloutConfig& r, int n);

}  // namespace jenky
