// Keeping secrets the server reads from its environment away from the
// processes it runs. A deploy script runs as jenky's user, so by default it
// could read `/proc/<server pid>/environ` (the environment block the server
// was started with) and the server's memory. Two layers:
//
//   - HideProcessMemory(): the process is made non-dumpable, so /proc/PID/
//     environ, mem, maps, fd ... belong to root and other processes of the
//     same user can neither read them nor ptrace it. The server and each
//     supervisor (which holds the masker's secret values) call it first
//     thing; an exec'd script is dumpable again, as it should be.
//   - WithholdFromEnvironment(NAMES): each variable is moved out of the
//     environment into memory of this module: unset, and its bytes in the
//     block the kernel shows as /proc/PID/environ overwritten with zeros.
//     LookupEnv() still finds it (config reloads read secrets again), and
//     EnvironmentForExec() puts it back for the next jenky (upgrade).
//
// What this does not stop: root, or a script that edits jenky's binary or
// config, or the data dir (same user): docs/security.md says how to
// separate users. Process-wide state, like the environment itself; call from
// the event-loop thread (or before it starts).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace jenky {

void HideProcessMemory();

void WithholdFromEnvironment(const std::vector<std::string>& names);

// getenv, then what was withheld.
std::optional<std::string> LookupEnv(const std::string& name);

// The values of every variable withheld so far: the server masks them in
// every log (also those only a token or a webhook reads).
std::vector<std::string> WithheldValues();

// Puts every withheld variable back into the environment, for execv.
void RestoreForExec();

}  // namespace jenky
