// A project's deploy inputs ([projects.NAME.inputs.INPUT], docs/spec-extensions.md):
//
//   [projects.app.inputs.level]
//   type = "choice"            # string (default) | choice | bool
//   choices = ["info", "debug"]
//   default = "info"
//   description = "log level of the new release"
//
// Loading checks the table (part of config.cc's ParseConfig); ResolveInputs
// checks what a trigger asks for against it, fills the defaults, and says
// what is wrong with each field. Pure; any thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "config/config.h"
#include "config/loader.h"
#include "config/toml.h"

namespace jenky {

// Checks T (the project's `inputs` table, WHERE "projects.NAME.inputs") and
// sets P.inputs; every problem is an error in L at the key to blame.
void LoadInputs(Loader& L, const toml::table& t, const std::string& where, ProjectConfig& p);

// The environment variable an input reaches the script as: JENKY_INPUT_<NAME>,
// upper-cased, '-' as '_'.
std::string InputEnvName(const std::string& input);

struct ResolvedInputs {
  std::vector<std::pair<std::string, std::string>> values;  // every declared input, in order
  std::map<std::string, std::string> errors;                // input -> what is wrong
  bool ok() const { return errors.empty(); }
  // "input 'level' must be one of info, debug; input 'x' is not declared ..."
  std::string Message() const;
};

// GIVEN (a JSON object of input -> string or boolean, or null for none)
// against P's inputs: unknown names, wrong types, values outside `choices`,
// control characters and values over 4 KiB are errors; missing ones take
// their defaults.
ResolvedInputs ResolveInputs(const ProjectConfig& p, const nlohmann::json& given);

}  // namespace jenky
