#include "util/status.h"

#include <vector>

namespace jenky {

namespace {

struct CodeName {
  StatusCode code;
  std::string name;
};

const std::vector<CodeName>& CodeNames() {
  static const std::vector<CodeName> names = {{StatusCode::kInternal, "internal"},
                                              {StatusCode::kNotFound, "not_found"},
                                              {StatusCode::kConflict, "conflict"},
                                              {StatusCode::kQueueFull, "queue_full"},
                                              {StatusCode::kTlsCert, "tls_cert"},
                                              {StatusCode::kTlsKey, "tls_key"},
                                              {StatusCode::kDisconnected, "disconnected"},
                                              {StatusCode::kSupervisorLost, "supervisor_lost"},
                                              {StatusCode::kPaused, "paused"}};
  return names;
}

}  // namespace

const std::string& StatusCodeName(StatusCode code) {
  for (const CodeName& n : CodeNames()) {
    if (n.code == code) return n.name;
  }
  return CodeNames().front().name;  // (unreachable: every code is in the table)
}

std::optional<StatusCode> ParseStatusCode(std::string_view name) {
  for (const CodeName& n : CodeNames()) {
    if (n.name == name) return n.code;
  }
  return std::nullopt;
}

}  // namespace jenky
