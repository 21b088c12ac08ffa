// systemd unit files for jenky itself (`jenky service print|install`) and, for
// the systemd-release recipe, for an application (`jenky service print --app`).
// Pure text generation: tested with `systemd-analyze verify`.
#pragma once

#include <string>

namespace jenky {

struct ServiceOptions {
  std::string binary = "/usr/local/bin/jenky";
  std::string user = "jenky";
  std::string group;  // "" = the user's name
  std::string config = "/etc/jenky/jenky.toml";
  std::string data_dir = "/var/lib/jenky";
  std::string listen = "127.0.0.1:8080";  // for jenky.socket
  std::string path_env;                   // PATH for deploy scripts
  int watchdog_sec = 30;
};

// jenky.service: Type=notify, watchdog, Restart=always, KillMode=process so
// running deploys (their supervisors) survive restarts and upgrades.
std::string JenkyServiceUnit(const ServiceOptions& o);
// jenky.socket: systemd holds the listening socket, so connections queue
// while jenky restarts.
std::string JenkySocketUnit(const ServiceOptions& o);

// An application's unit for the systemd-release recipe's layout: ExecStart
// runs COMMAND from RELEASES/current, so switching the symlink and restarting
// the unit switches releases.
struct AppUnitOptions {
  std::string name;      // unit name without .service
  std::string releases;  // directory holding releases/ and current
  std::string command;   // relative to current/, with arguments
  std::string user;      // "" = root
};
std::string AppServiceUnit(const AppUnitOptions& o);

}  // namespace jenky
