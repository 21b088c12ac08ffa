// A fleet run's hosts in its JSON (docs/fleet.md, "Watching it"): the
// states its driver wrote into the run directory (exec/fleet_state.h).
// Any thread; reads files.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "core/run.h"

namespace jenky {

// RunToJson(R), plus "hosts": [{"name", "address", "status", "reason",
// "release", "started_at", "finished_at"}] when R is a fleet run. LOG_PATH is
// the run's log (Engine::LogPath): its directory is the run's.
nlohmann::json RunJsonWithHosts(const Run& r, const std::string& log_path);

// R's JSON in a list of runs: RunJsonWithHosts when R's PROJECT deploys to a
// fleet or is gone (null), else RunToJson. Only a fleet project's runs have
// hosts: a listing of fifty runs of other projects does not look into fifty
// run directories for them.
nlohmann::json ListedRunJson(const Run& r, const ProjectConfig* project,
                             const std::string& log_path);
// The same as text (RunJsonText for a run without hosts).
std::string ListedRunText(const Run& r, const ProjectConfig* project, const std::string& log_path);

// Only the "hosts" array of RunJsonWithHosts; null when not a fleet run.
nlohmann::json HostsJson(const std::string& log_path);

// The log of HOST in the run whose log is LOG_PATH; "" when the run has no
// such host (or HOST is not a host name). A run that has not reached its
// hosts yet (queued, or its driver starting) has no host states: PLANNED,
// the hosts its project deploys to, says which it will have, and the log of
// one of them is empty until that host starts.
std::string HostLogOf(const std::string& log_path, const std::string& host,
                      const std::vector<std::string>& planned = {});

// Where HOST's log is in the run whose log is LOG_PATH, without looking
// whether the run has such a host (HostLogOf does).
std::string HostLogFile(const std::string& log_path, const std::string& host);

}  // namespace jenky
