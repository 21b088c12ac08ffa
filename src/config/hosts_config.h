// Fleets in jenky.toml (docs/fleet.md): the [hosts.NAME] tables, and what a
// project with `targets` adds — build, upload, the per-host steps and its
// [projects.NAME.rollout] policy.
//
// Part of loading a config (config.cc); one thread, like the Loader. The
// types are values; a loaded Config holds them resolved: every target is a
// known host or tag and a project's `hosts` lists the hosts it deploys to.
#pragma once

#include <string>

#include "config/config.h"
#include "config/loader.h"
#include "config/toml.h"

namespace jenky {

// [hosts] (T, the top-level table's "hosts" value): every problem an error
// in L at the key to blame.
void LoadHosts(Loader& L, const toml::table& t, const std::string& base_dir, Config& c);

// A project's fleet keys (targets, build, upload, prepare, health, rollback,
// deploy_dir, rollout) from its table T; sets P.fleet when it has targets
// and says so when the other keys come without them.
void LoadFleet(Loader& L, const toml::table& t, const std::string& where, ProjectConfig& p);

// After every table is loaded: each project's targets resolved against the
// hosts (an unknown name or tag is an error at the target). ROOT is the
// document, for positions.
void ResolveTargets(Loader& L, const toml::table& root, Config& c);

}  // namespace jenky
