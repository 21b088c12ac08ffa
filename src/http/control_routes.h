// The operator's controls over HTTP (issue 21; docs/spec-extensions.md
// "Pause and audit", "Deploy inputs"):
//   POST /api/v1/projects/{name}/pause   {"reason": "..."}  (deploy scope)
//   POST /api/v1/projects/{name}/resume                      (deploy scope)
//   GET  /api/v1/audit?limit=N&before=ID&project=NAME        (admin scope)
// and what the API's other routes ask of them: an audit entry for a request,
// a trigger's inputs checked against the project's, the facts a project's
// JSON shows (paused, inputs, rollback).
//
// Loop-thread only, like the Engine whose Control (server/control.h) it drives.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "http/auth.h"
#include "http/server.h"
#include "server/engine.h"

namespace jenky {

class ControlRoutes {
 public:
  ControlRoutes(Engine& engine, Auth& auth) : engine_(engine), auth_(auth) {}

  // Pauses (PAUSE) or resumes PROJECT for WHO; 200 with the project's pause.
  net::awaitable<void> PauseRoute(Exchange& ex, const std::string& project, const Principal& who,
                                  bool pause);
  // The audit log, newest first.
  net::awaitable<void> AuditRoute(Exchange& ex);

  // Appends an audit entry for WHO's request EX.
  void Audit(Exchange& ex, const Principal& who, const char* action, const std::string& project,
             int64_t run, std::string detail = "");

  // GIVEN (the body's "inputs", or null) checked against P's inputs into
  // T.inputs (defaults filled); a 400 naming each bad field, and false, if
  // any is wrong.
  net::awaitable<bool> ResolveInputs(Exchange& ex, const ProjectConfig& p,
                                     const nlohmann::json& given, Trigger& t);

 private:
  Engine& engine_;
  Auth& auth_;
};

// Adds to a project's JSON J: "paused" ({"by", "reason", "at"} or null),
// "inputs" ([{"name", "type", "default", "choices", "description"}]) and
// "rollback" (whether its recipe keeps releases).
void AddProjectFacts(Engine& engine, const ProjectConfig& p, nlohmann::json& j);

// {"by", "reason", "at"} of a pause, or null.
nlohmann::json PauseToJson(const ProjectPause* pause);

}  // namespace jenky
