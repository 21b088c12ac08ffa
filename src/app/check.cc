// `jenky check`: the configuration as `serve` would load it on this host.
#include <cstdio>
#include <sstream>

#include "app/serve.h"
#include "config/config.h"
#include "server/engine.h"
#include "util/fs.h"
#include "util/tls.h"

namespace jenky {

int Check(const std::string& config_path) {
  std::string path = config_path.empty() ? "jenky.toml" : config_path;
  if (!PathExists(path)) {
    std::fprintf(stderr, "error: %s does not exist%s\n", path.c_str(),
                 config_path.empty() ? "; pass --config FILE" : "");
    return 1;
  }
  ConfigLoad load = LoadConfigFile(path);
  for (const auto& e : load.errors) std::fprintf(stderr, "%s\n", e.ToString().c_str());
  if (!load.ok()) {
    std::fprintf(stderr, "%zu error(s) in %s\n", load.errors.size(), path.c_str());
    return 1;
  }
  // memory_max/tasks_max: what `serve` on this host would refuse.
  if (Status s = CheckRunLimits(load.config); !s.ok()) {
    std::istringstream lines(s.message());
    for (std::string line; std::getline(lines, line);) {
      std::fprintf(stderr, "error: %s: %s\n", path.c_str(), line.c_str());
    }
    return 1;
  }
  if (load.config.server.tls) {
    for (const auto& w : load.config.server.tls->warnings()) {
      std::fprintf(stderr, "warning: %s\n", w.c_str());
    }
  }
  std::printf("%s: ok (%zu project(s), %zu token(s))\n", path.c_str(), load.config.projects.size(),
              load.config.tokens.size());
  return 0;
}

}  // namespace jenky
