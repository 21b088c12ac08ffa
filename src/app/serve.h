// `jenky serve` and `jenky check`: the entry points `main` calls.
#pragma once

#include <string>
#include <vector>

namespace jenky {

struct ServeOptions {
  std::string config_path;  // "" = ./jenky.toml if present, else the embedded default
  std::string listen;       // overrides [server].listen
  std::string data_dir;     // overrides [server].data_dir
  bool demo = false;
  std::string web_dir;            // serve the UI from here instead of the embedded copy
  std::vector<std::string> argv;  // the command line, to re-execute on upgrade
};

// Runs the server (app/server_process.h) until it is stopped.
int Serve(const ServeOptions& options);
// Validates a config file the way `serve` would load it; prints every error
// as file:line:col (app/check.cc).
int Check(const std::string& config_path);

}  // namespace jenky
