// The transport of fleet deploys: the system's OpenSSH client, never an SSH
// of jenky's own (DESIGN.md, "Past one machine"). This file says how jenky
// calls `ssh`, `rsync` and `ssh-keyscan`, and what their failures mean:
//
// - SshConfigText: the config jenky gives `ssh -F` — BatchMode (never a
//   prompt), StrictHostKeyChecking against a known_hosts jenky owns
//   (data_dir/ssh/known_hosts), connection sharing (ControlMaster, sockets in
//   a per-run private directory), keep-alives, and then the operator's own
//   ssh config (Include) for what jenky does not set: ProxyJump, bastions,
//   IdentityFile, aliases.
// - Every host is checked against its own known_hosts entry, `jenky:NAME`
//   (HostKeyAlias), whatever its address, port or jump host.
// - ClassifySshFailure: ssh's exit status 255 and its stderr as a reason a
//   person can act on (unknown or changed host key, login refused, DNS,
//   refused, timeout, unreachable, connection lost).
//
// Pure functions and one blocking runner (RunCommand); any thread.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "config/fleet_types.h"
#include "util/status.h"

namespace jenky {

struct SshSetup {
  std::string config_file;  // written by WriteSshSetup
  std::string known_hosts;  // data_dir/ssh/known_hosts
  std::string control_dir;  // private directory of ControlMaster sockets
};

// data_dir/ssh/known_hosts (the directory made 0700 on first use).
std::string KnownHostsPath(const std::string& data_dir);

std::string SshConfigText(const std::string& known_hosts, const std::string& control_dir,
                          const std::string& operator_config);

// Makes CONTROL_DIR's parent private directory, writes the config into DIR
// (0600) and returns the paths. OPERATOR_CONFIG may be "".
Result<SshSetup> WriteSshSetup(const std::string& dir, const std::string& data_dir,
                               const std::string& control_dir, const std::string& operator_config);

// The known_hosts name of a host: "jenky:NAME".
std::string HostKeyAlias(const HostConfig& h);

// `ssh -F CONFIG -o HostKeyAlias=jenky:NAME [-p P] [-l U] [-i F] [EXTRA...]
// ADDRESS [-- COMMAND...]`.
std::vector<std::string> SshArgv(const SshSetup& s, const HostConfig& h,
                                 const std::vector<std::string>& extra,
                                 const std::vector<std::string>& command);

// rsync's -e: the same ssh as SshArgv, as one string rsync splits.
std::string RsyncShell(const SshSetup& s, const HostConfig& h);

enum class SshFailure {
  kNone,
  kHostKeyUnknown,
  kHostKeyChanged,
  kAuth,
  kDns,
  kRefused,
  kTimeout,
  kUnreachable,
  kLost,
  kOther,
};
const char* SshFailureName(SshFailure f);

// What went wrong, from ssh's exit STATUS and what it wrote (stderr): kNone
// unless STATUS is 255 (ssh's own failures; a remote command's status is the
// command's).
SshFailure ClassifySshFailure(int status, std::string_view output);

// A sentence naming HOST and what to do about FAILURE; OUTPUT is ssh's text
// (the changed key's fingerprint is taken from it), FINGERPRINT the key the
// host offers now when known (ssh does not print it for an unknown key).
std::string SshFailureReason(const HostConfig& h, SshFailure failure, std::string_view output,
                             std::string_view fingerprint);

// "SHA256:..." fingerprints in TEXT, in order.
std::vector<std::string> FingerprintsIn(std::string_view text);

// A finished command: its exit status (128+N for signal N, -1 if it could
// not run) and its standard output and error, each up to 1 MiB.
struct CommandResult {
  int status = -1;
  std::string out;
  std::string err;
  bool timed_out = false;
};

// Runs ARGV with STDIN as its standard input, for at most TIMEOUT; past it
// the command is killed (timed_out). The input ends after STDIN, or with
// HOLD_STDIN only once the command has closed its output (a remote step's
// bootstrap takes the end of its input for "jenky is gone").
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_data,
                         std::chrono::milliseconds timeout, bool hold_stdin = false);

// A host's keys as `ssh-keyscan` sees them, each a known_hosts line without
// its host field ("ssh-ed25519 AAAA..."), with its SHA256 fingerprint.
struct ScannedKey {
  std::string key;
  std::string fingerprint;
};
Result<std::vector<ScannedKey>> ScanHostKeys(const SshSetup& s, const HostConfig& h);

// Replaces HOST's entries in KNOWN_HOSTS with KEYS (atomically; 0600).
Status RecordHostKeys(const std::string& known_hosts, const HostConfig& h,
                      const std::vector<ScannedKey>& keys);

// HOST's recorded keys' fingerprints; empty when it is not trusted yet.
std::vector<std::string> TrustedFingerprints(const std::string& known_hosts, const HostConfig& h);

}  // namespace jenky
