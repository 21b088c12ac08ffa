// A spare supervisor: one `jenky __supervise` started ahead of need, waiting
// for its RunSpec on stdin, so that a trigger costs one process spawn (the
// script), not two. It also makes the run directory ahead (its stage,
// run_dir.h) and, where a project uses bash, starts that shell ahead too
// (its warm shell, supervisor.h WarmFds), which this process can hand a
// staged run to directly.
//
// A Spare owns the spare's descriptors (stdin, pidfd, the warm shell's go
// pipe and data memfd); destroying it closes them, and a spare whose stdin
// closes reads EOF, removes its stage and exits. Reaping is the caller's:
// Release() hands over the pidfd to wait on. No event loop here.
//
// Used by one thread at a time (the engine's loop).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "exec/run_dir.h"
#include "util/status.h"
#include "util/unique_fd.h"

namespace jenky {

struct RunSpec;  // exec/supervisor.h

struct SpareOptions {
  std::string supervisor_binary;  // run as SUPERVISOR_BINARY __supervise
  std::string runs_dir;           // where it makes its stage
  std::string warm_shell;         // the bash to start ahead; "" for none
  std::string cgroup_tree;        // its runs' cgroup tree (cgroup.h); "" for none
  std::vector<std::string> env;   // KEY=VALUE: its whole environment
};

class Spare {
 public:
  Spare() = default;  // none
  Spare(Spare&&) = default;
  Spare& operator=(Spare&&) = default;

  // Starts a spare. Errors: no pipe, or the supervisor cannot be spawned.
  static Result<Spare> Spawn(const SpareOptions& options);

  bool valid() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  const std::string& stage() const { return stage_; }
  // False once it exited (its pidfd is readable); without a pidfd, assumed alive.
  bool Alive() const;

  // Makes the spare's stage DIR, with SCRIPT and META written in it; false
  // (and DIR untouched) when there is no complete stage to take.
  bool UseStage(const RunDir& dir, const std::string& script, const std::string& meta) const;
  // Hands SPEC to the warm shell (WarmStartData, then the go byte): true if
  // the script is now running. With limits, they are set on the spare's
  // cgroup in CGROUP_TREE first, and without a cgroup it declines.
  bool HandOffToWarmShell(const RunSpec& spec, const std::string& cgroup_tree);
  // Closes the warm shell's descriptors: the shell, if not handed a run, is
  // the supervisor's to start or end.
  void CloseWarmFds();
  // Writes SPEC_TEXT (EncodeRunSpec) to its stdin and closes it: the spare
  // is that run's supervisor now. On failure its pidfd is closed and it is
  // reaped if it already exited.
  Status SendSpec(const std::string& spec_text);
  // Gives up the pidfd (to watch the run's supervisor exit).
  UniqueFd TakePidfd() { return std::move(pidfd_); }
  // Lets it go: closes its stdin (it reads EOF, removes its stage if still
  // its own, and exits) and returns its pidfd, for the caller to reap PID
  // when it becomes readable (invalid when there is none).
  UniqueFd Release();
  // Shutdown: closes everything and reaps it if it already exited.
  void Abandon();

 private:
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  UniqueFd stdin_;
  std::string stage_;
  std::string warm_shell_;             // "" without a warm shell
  std::vector<std::string> warm_env_;  // what the shell started with (WarmShellEnv)
  UniqueFd go_;                        // the warm shell's go pipe, write end
  UniqueFd data_;                      // the warm shell's data memfd
};

}  // namespace jenky
