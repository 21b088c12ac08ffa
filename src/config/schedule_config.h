// A project's schedule: `schedule = ["0 3 * * 1-5"]`, `timezone` and
// `catch_up` in [projects.X] (docs/webhooks.md, "Schedules"). Part of
// loading a config (config.cc); one thread, like the Loader.
#pragma once

#include <string>

#include "config/config.h"
#include "config/loader.h"
#include "config/toml.h"

namespace jenky {

// Reads T's schedule keys into P.schedule; every problem (a cron expression
// that does not parse, an unknown time zone, timezone or catch_up without a
// schedule) is an error in L at the key to blame.
void LoadSchedule(Loader& L, const toml::table& t, const std::string& where, ProjectConfig& p);

}  // namespace jenky
