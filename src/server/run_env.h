// What a run starts with, derived from the configuration alone: its
// supervisor's RunSpec (argv, environment, limits, the values its log masks)
// and what spares are started with. Pure functions of their arguments (and
// of this process's environment, which scripts inherit in part); the engine
// calls them on the loop.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/run.h"
#include "exec/spare.h"
#include "exec/supervisor.h"
#include "util/status.h"

namespace jenky {

// sh, bash, dash, ...: shells that take -e.
bool IsPosixShell(const std::string& shell);
// The bash most projects run their scripts with, for spares to start ahead
// of need (supervisor.h); "" when none uses bash or warm shells are off.
std::string WarmShellFor(const Config& config);
// What spares are started with under CONFIG.
SpareOptions SpareOptionsFor(const Config& config, const std::string& supervisor_binary);

// The server's environment less what scripts do not get (P's own secrets
// they do; with no P, no secret at all): what runs and spares start from.
std::map<std::string, std::string> ServerEnv(const Config& config, const ProjectConfig* p);
// The values a run's log masks: every configured secret of every project.
std::vector<std::string> MaskedValues(const Config& config);
// RUN's environment (KEY=VALUE): ServerEnv, P's env and secrets, JENKY_*.
// BASE_URL is where the UI is reached (JENKY_LOG_URL).
std::vector<std::string> ScriptEnv(const Config& config, const ProjectConfig& p, const Run& r,
                                   const std::string& base_url);
// RUN's RunSpec, but for `staged` and `warm_started` (the launcher's).
RunSpec SpecFor(const Config& config, const ProjectConfig& p, const Run& run,
                const std::string& base_url);

// Whether the host can apply every project's memory_max and tasks_max (the
// cgroup v2 memory and pids controllers, in jenky's cgroup tree); else an
// error per limit that cannot be, naming the key and why.
Status CheckRunLimits(const Config& config);

}  // namespace jenky
