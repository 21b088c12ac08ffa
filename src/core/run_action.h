// What a run does (Trigger::action, the script's JENKY_ACTION): deploy the
// pushed or requested commit, or roll back to an earlier release. The one
// place the names ("deploy", "rollback": API, store, environment) and the
// enum meet. Pure; any thread.
#pragma once

#include <optional>
#include <string_view>

namespace jenky {

enum class RunAction {
  kDeploy,    // "deploy"
  kRollback,  // "rollback" (to Trigger::rollback_to)
};

// The name on the wire and in the store.
const char* RunActionName(RunAction value);
// nullopt for any other name (compared exactly).
std::optional<RunAction> ParseRunAction(std::string_view name);

}  // namespace jenky
