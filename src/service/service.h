// `jenky service print|install|uninstall` and `jenky upgrade`: hosting jenky
// under systemd. Each command is a list of steps; --dry-run prints them and
// changes nothing. Errors name the fix.
#pragma once

#include <string>

#include "service/unit.h"

namespace jenky {

int ServicePrint(const ServiceOptions& o);
int ServiceInstall(const ServiceOptions& o, bool dry_run);
int ServiceUninstall(bool dry_run);

// A commented /etc/jenky/jenky.toml that `jenky check` accepts, listening on
// O.listen (loopback by default).
std::string StarterConfig(const ServiceOptions& o);
// The Debian package's files, from the same code as `service print|install`:
// DIR/jenky.service, DIR/jenky.socket and DIR/jenky.toml (scripts/package.sh).
int ServiceWritePackageFiles(const ServiceOptions& o, const std::string& dir);

// Installs NEW_BINARY over TARGET (default: this binary) atomically, keeps
// the old one as TARGET.prev, restarts jenky (systemd, or asks a running
// server to re-exec), and rolls back if the new binary does not come up.
int Upgrade(const std::string& new_binary, const std::string& target, bool dry_run,
            const std::string& server_url);

}  // namespace jenky
