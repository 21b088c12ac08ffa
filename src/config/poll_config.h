// [projects.X.poll]: polling a repository for new heads (docs/webhooks.md,
// "Polling"), for servers a forge cannot reach. Part of loading a config
// (config.cc); one thread, like the Loader.
#pragma once

#include <string>

#include "config/config.h"
#include "config/loader.h"
#include "config/toml.h"

namespace jenky {

// The shortest interval: a poll runs `git ls-remote`, a process and a
// connection to the forge.
constexpr Millis kMinPollInterval = std::chrono::seconds(1);

// Reads T's "poll" table, if any, into P.poll; every problem is an error in
// L at the key to blame.
void LoadPoll(Loader& L, const toml::table& t, const std::string& where, ProjectConfig& p);

}  // namespace jenky
