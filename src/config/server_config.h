// The [server] table (SPEC.md "Configuration", docs/spec-extensions.md):
// where jenky listens and keeps its data, who may call it (origins, hosts,
// proxies), its limits and its TLS pair.
//
// Part of loading a config (config.cc); one thread, like the Loader.
#pragma once

#include <string>

#include "config/config.h"
#include "config/loader.h"
#include "config/toml.h"

namespace jenky {

// Checks T ([server]) and sets C.server; BASE_DIR (the config file's
// directory) anchors relative paths. Every problem is an error in L at the
// key to blame; a TLS pair that does not load is one too.
void LoadServer(Loader& L, const toml::table& t, const std::string& base_dir, Config& c);

}  // namespace jenky
