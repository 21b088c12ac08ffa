#include "core/run_action.h"

namespace jenky {
namespace {

struct Name {
  RunAction value;
  const char* name;
};
constexpr Name kNames[] = {{RunAction::kDeploy, "deploy"}, {RunAction::kRollback, "rollback"}};

}  // namespace

const char* RunActionName(RunAction value) {
  for (const Name& n : kNames) {
    if (n.value == value) return n.name;
  }
  return kNames[0].name;  // (unreachable: every enumerator is in the table)
}

std::optional<RunAction> ParseRunAction(std::string_view name) {
  for (const Name& n : kNames) {
    if (name == n.name) return n.value;
  }
  return std::nullopt;
}

}  // namespace jenky
