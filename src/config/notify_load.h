// Loading `[[notify]]` and `[projects.X.status]` (config/notify_config.h):
// every problem is a ConfigError at the key to blame, saying what to write
// (an unknown kind or event with the nearest name, a variable that is not
// set). Part of loading a config (config.cc); one thread, like the Loader.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/loader.h"
#include "config/notify_config.h"
#include "config/toml.h"

namespace jenky {

// Checks the top level's `notify` array (WHERE "notify") or a project's
// (`[[projects.X.notify]]`, PROJECT its name: its entries are for it alone)
// and appends to C.notify.
void LoadNotify(Loader& L, const toml::node& node, const std::string& where,
                const std::string& project, Config& c);
// Checks [projects.X.status] and sets P.status.
void LoadStatus(Loader& L, const toml::table& t, const std::string& where, ProjectConfig& p);
// [server] metrics_listen = "HOST:PORT" and outbox_retention = "30d" (T is
// the [server] table).
void LoadMetricsListen(Loader& L, const toml::table& t, ServerConfig& s);
// After all projects are loaded: names unique, `projects` naming projects.
void CheckNotify(Loader& L, const toml::table& root, Config& c);

// Variables the notify and status tables read secrets from (withheld from
// scripts, Config::SecretEnvNames), and the secret values (masked in logs).
std::vector<std::string> NotifySecretEnvNames(const Config& c);
std::vector<std::string> NotifySecretValues(const Config& c);

}  // namespace jenky
