// The operator's controls from the command line (issue 21):
//   jenky pause PROJECT [--reason TEXT]   POST /api/v1/projects/PROJECT/pause
//   jenky resume PROJECT                  POST /api/v1/projects/PROJECT/resume
//   jenky audit [--project P] [--limit N] [--json]   GET /api/v1/audit
// Each returns the process exit code (0, or 6 for a server or connection
// error, as client_commands.h).
#pragma once

#include <string>

#include "cli/client_commands.h"

namespace jenky {

int PauseCommand(const ClientOptions& o, const std::string& project, const std::string& reason,
                 bool pause);
int AuditCommand(const ClientOptions& o, const std::string& project, int limit, bool json);

}  // namespace jenky
