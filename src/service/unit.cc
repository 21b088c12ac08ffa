#include "service/unit.h"

#include <fmt/format.h>

namespace jenky {

std::string JenkyServiceUnit(const ServiceOptions& o) {
  std::string group = o.group.empty() ? o.user : o.group;
  std::string state_dir;
  if (o.data_dir.rfind("/var/lib/", 0) == 0) state_dir = o.data_dir.substr(9);
  return fmt::format(
      R"([Unit]
Description=jenky continuous deployment
Requires=jenky.socket
After=jenky.socket network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={binary} serve --config {config} --data-dir {data_dir}
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=1s
TimeoutStartSec=30s
TimeoutStopSec=30s
WatchdogSec={watchdog}s
# Deploys run in supervisor processes that must outlive jenky's restarts and
# upgrades: stop only the main process; the next jenky adopts the runs.
KillMode=process
# The unit's cgroup is jenky's to divide: each run gets a cgroup of its own
# in it, so that cancel and timeout end everything the deploy started
# (docs/systemd.md, Delegate=yes).
Delegate=yes
User={user}
Group={group}
Environment=PATH={path}
WorkingDirectory={data_dir}
{state}ConfigurationDirectory=jenky
LimitNOFILE=65536
# Files jenky and its deploys create are not for other users (logs, the
# database, workspaces); scripts may widen their own umask.
UMask=0027
# Deliberately no ProtectProc=invisible: it hides every process its user may
# not ptrace, and jenky's supervisors are not ptraceable (they hold secrets
# their scripts must not read), so a restarted server could no longer find
# the supervisors of the runs it adopts by their start time in /proc.
# What even root through a deploy script's `sudo` cannot get: loading
# modules, raw I/O, ptrace (it would read jenky's memory and secrets),
# mounts and the rest of CAP_SYS_ADMIN, the clock, ... A script that needs one
# of them under sudo: a drop-in with `CapabilityBoundingSet=` (which resets
# the set) and then the ~ line below without that capability.
CapabilityBoundingSet=~CAP_SYS_ADMIN CAP_SYS_PTRACE CAP_SYS_MODULE CAP_SYS_RAWIO CAP_SYS_BOOT CAP_SYS_TIME CAP_MKNOD CAP_MAC_ADMIN CAP_MAC_OVERRIDE CAP_SYSLOG CAP_WAKE_ALARM CAP_BLOCK_SUSPEND CAP_LINUX_IMMUTABLE CAP_BPF CAP_PERFMON CAP_SYS_PACCT CAP_SYS_TTY_CONFIG CAP_AUDIT_CONTROL CAP_AUDIT_READ CAP_IPC_OWNER CAP_LEASE CAP_CHECKPOINT_RESTORE
# Deliberately no ProtectKernel*/ProtectClock/ProtectHostname/LockPersonality/
# RestrictRealtime/SystemCallArchitectures: with a non-root User= each of them
# implies NoNewPrivileges, which would stop deploy scripts from using sudo
# (e.g. `sudo systemctl restart app`). No ProtectControlGroups either: it
# makes /sys/fs/cgroup read-only, and jenky writes its delegated cgroup.
# Its own mount namespace (the host's mounts still reach it): without
# CAP_SYS_ADMIN nothing in the unit could mount anyway.
PrivateMounts=yes

[Install]
WantedBy=multi-user.target
)",
      fmt::arg("binary", o.binary), fmt::arg("config", o.config), fmt::arg("data_dir", o.data_dir),
      fmt::arg("watchdog", o.watchdog_sec), fmt::arg("user", o.user), fmt::arg("group", group),
      fmt::arg("path", o.path_env.empty()
                           ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                           : o.path_env),
      fmt::arg("state", state_dir.empty()
                            ? ""
                            : "StateDirectory=" + state_dir + "\nStateDirectoryMode=0750\n"));
}

std::string JenkySocketUnit(const ServiceOptions& o) {
  return fmt::format(R"([Unit]
Description=jenky continuous deployment (listening socket)

[Socket]
ListenStream={listen}
NoDelay=true
Backlog=4096

[Install]
WantedBy=sockets.target
)",
                     fmt::arg("listen", o.listen));
}

std::string AppServiceUnit(const AppUnitOptions& o) {
  return fmt::format(R"([Unit]
Description={name} (deployed by jenky, systemd-release recipe)
After=network-online.target
Wants=network-online.target

[Service]
# jenky's systemd-release recipe switches {releases}/current to a new release
# and restarts this unit; a failed health check switches it back.
WorkingDirectory={releases}/current
ExecStart={releases}/current/{command}
Restart=on-failure
RestartSec=1s
{user}
[Install]
WantedBy=multi-user.target
)",
                     fmt::arg("name", o.name), fmt::arg("releases", o.releases),
                     fmt::arg("command", o.command),
                     fmt::arg("user", o.user.empty() ? "" : "User=" + o.user + "\n"));
}

}  // namespace jenky
