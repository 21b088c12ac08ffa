// `jenky hosts list | check [NAME] | trust NAME`: the fleet's hosts from the
// config, their reachability over ssh, and trusting a host's key (recorded in
// data_dir/ssh/known_hosts, the only known_hosts jenky's ssh consults).
// docs/fleet.md. Runs in the CLI process; blocking.
#pragma once

#include <string>

namespace jenky {

struct HostsArgs {
  std::string action;  // list | check | trust
  std::string config_path;
  std::string data_dir;  // "" = the config's
  std::string name;      // check: one host ("" = all); trust: required
  std::string fingerprint;
  bool yes = false;
};

// The exit status: 0 ok, 1 a host failed or nothing was recorded, 2 usage.
int Hosts(const HostsArgs& args);

}  // namespace jenky
