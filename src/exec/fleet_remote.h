// What a fleet deploy runs on a host, and how it gets there (docs/fleet.md,
// "On each host").
//
// Every remote step is one ssh session whose command is a constant
// (kRemoteBootstrap, below: no value of a run, a host or a payload is ever
// part of a command line, on either machine) and whose standard input
// carries the step: a byte count line, then a POSIX shell script of that
// many bytes (StepScript) in which every value is a single-quoted word and
// the user's script text is a quoted here-document. The bootstrap saves it
// in a private temporary directory and runs it in a new session, and keeps
// reading its standard input: when the ssh connection goes away (a cancel,
// a timeout, jenky's host lost) that input ends and the bootstrap ends the
// step's whole tree there — its process group and every process whose
// environment carries the step's marker (JENKY_STEP) — TERM, then KILL
// after 5 seconds.
//
// Layout on a host, under DEPLOY_DIR (relative = the login's home):
//   releases/ID/        one per run (ID = the run's id), made by prepare
//   releases/.partial-ID   an upload in progress, renamed to ID when whole
//   current -> releases/ID   switched atomically (rename of a new symlink)
//   .jenky/prev-ID       what `current` pointed to before run ID switched
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace jenky {

// The remote command of every step, run by the login shell of the host.
extern const char* const kRemoteBootstrap;

enum class RemoteStep {
  kMkRelease,  // make releases/ID (no upload)
  kPublish,    // rename releases/.partial-ID to releases/ID
  kPrepare,    // releases/ID published or made, then the project's `prepare` in it
  kSwitch,     // current -> releases/ID, then `script` there
  kHealth,     // `health`, in releases/ID
  kRollback,   // current -> what it was, releases/ID removed, then `rollback`
  kClean,      // releases/ID and .partial-ID removed (a host not switched)
  // `jenky rollback`: current -> releases/$JENKY_ROLLBACK_TO, or the newest
  // release older than current's; then `rollback` (or `script`) there.
  kRollbackTo,
};
const char* RemoteStepName(RemoteStep s);

struct StepInput {
  RemoteStep step = RemoteStep::kPrepare;
  std::string deploy_dir;
  std::string release;  // the run's id
  std::string shell = "/bin/bash";
  std::string script;  // the user's text for this step ("" = none)
  // KEY=VALUE pairs exported to the step (JENKY_RELEASE_DIR and
  // JENKY_PREVIOUS_RELEASE_DIR are added on the host, where they are known).
  std::vector<std::pair<std::string, std::string>> env;
  int keep_releases = 5;  // kSwitch: older releases are removed
  // kPrepare: releases/ID is the upload, .partial-ID renamed (true), or made
  // empty (false); then `prepare` runs in it.
  bool publish_upload = false;
};

// S as a single-quoted shell word.
std::string ShellQuote(const std::string& s);

// The step script (what follows the count line on the bootstrap's stdin).
std::string StepScript(const StepInput& in);

// The whole standard input of a step: "N\n" and the script.
std::string StepPayload(const StepInput& in);

}  // namespace jenky
