// `jenky serve` and `jenky check`: load the configuration, open the data
// directory, and run the event loop with the engine and the HTTP API.
#pragma once

#include <string>
#include <vector>

namespace jenky {

struct ServeOptions {
  std::string config_path;  // "" = ./jenky.toml if present, else the embedded default
  std::string listen;       // overrides [server].listen
  std::string data_dir;     // overrides [server].data_dir
  bool demo = false;
  std::string web_dir;      // serve the UI from here instead of the embedded copy
  std::vector<std::string> argv;  // the command line, to re-execute on upgrade
};

int Serve(const ServeOptions& options);
int Check(const std::string& config_path);

}  // namespace jenky
