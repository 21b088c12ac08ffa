// The warm shell (`jenky __supervise --warm-shell SHELL`, supervisor.h): the
// spare starts SHELL (bash) before its run exists,
// waiting on a pipe with a small bootstrap; a run for `SHELL -e SCRIPT` is
// then handed to that shell instead of starting one, which takes the shell's
// start-up (about a millisecond and a half of exec, dynamic linking and
// initialisation here) off the trigger's path. The bootstrap changes to the
// workdir, exports the run's environment, resets SECONDS, sets -e and sources
// the script with $0 set to its path. Only what a cold start could show
// differently is told apart: BASH_SOURCE and FUNCNAME have one more entry
// (the bootstrap) and a top-level `return` ends the script instead of failing.
//
// WarmFds: the warm shell's go pipe (both ends) and data memfd, when the server makes
// them and passes them to the spare (`--warm-fds R,D,W`): with a copy of the
// write end and the memfd, the server starts a staged run's warm shell
// itself, in parallel with handing the spare its RunSpec (which then says
// warm_started). The data is WarmStartData, the go byte the same one.
//
// Ownership and threads: a WarmShell belongs to the one spare supervisor that
// started it (single-threaded); the server keeps only copies of the go pipe's
// write end and the data memfd (WarmFds). WarmShellEnv and WarmStartData are
// pure functions of their arguments (and of which directories exist), called
// by the server and the supervisor alike.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exec/run_dir.h"
#include "exec/run_spec.h"

namespace jenky {

class RunCgroup;  // exec/cgroup.h

struct WarmFds {
  int go_read = -1;
  int data = -1;
  int go_write = -1;
};

// The environment a warm shell starts with, from its spare's ENV (which the
// server gives what it keeps from scripts: other projects' secrets, its
// systemd variables): all of it but what bash acts on at start-up or sets
// itself (see WarmStartData, and _, PWD, OLDPWD, SHLVL).
std::vector<std::string> WarmShellEnv(const std::vector<std::string>& env);

// The run as a warm shell that started with SHELL_ENV sources it: `cd` to the
// workdir, one `unset` of what the shell has and the run has not, one
// `export` of what the run has and the shell has not (or has otherwise), and
// BASH_ARGV0 set to the script; every value a single-quoted word (nothing in
// it is expanded). nullopt when a warm start could differ from
// `SHELL -e SCRIPT` started with SPEC's environment in its workdir: another
// command line, a workdir that is not a directory (the cold start reports
// that), or an environment variable the shell treats specially at start-up
// (BASH_ENV, SHELLOPTS, IFS, exported functions, names that are not
// identifiers, ...). SHLVL, PWD, OLDPWD and _ get what a cold start would
// make of them.
std::optional<std::string> WarmStartData(const RunSpec& spec, const std::string& shell,
                                         const std::vector<std::string>& shell_env = {});

// A warm shell and the descriptors that reach it. Pid and descriptors are -1
// once Discard ended it, or once the supervisor took it as its script (the
// supervisor then owns them).
struct WarmShell {
  pid_t pid = -1;
  std::string shell;
  std::vector<std::string> env;  // what it started with (WarmShellEnv)
  int go_fd = -1;                // one byte: become the run
  int data_fd = -1;              // the run, as WarmStartData
  int out_fd = -1;               // its stdout and stderr

  // Whether the server gave this shell its run (WarmFds): it writes the
  // run's data before the go byte, so the shell may have begun the script.
  bool GivenItsRun() const;
  // Ends a warm shell that will not be used: its process group is killed
  // and reaped, its descriptors closed.
  void Discard();
  // Writes DATA (WarmStartData) into the data memfd, then the go byte: false
  // if either fails (a shell that died while it waited makes the go byte's
  // write fail with EPIPE).
  bool Send(const std::string& data);
  // The shell was sent its run and is the script now: its pid and output
  // pipe go to *PID and *OUT_FD (the caller owns them), the rest is closed.
  void BecomeScript(pid_t* pid, int* out_fd);
};

// Starts SHELL with the bootstrap, in CGROUP when not null (the run's: it
// becomes the script without moving), marked with SELF's WarmShellMarker.
// FROM_SERVER: the go pipe's two ends and the data memfd, made by the server
// (which keeps a copy of the write end and the memfd, to start the shell
// itself); else this process makes them. nullopt when it cannot be started:
// the run then starts cold.
std::optional<WarmShell> StartWarmShell(const std::string& shell, const SupervisorId& self,
                                        const WarmFds* from_server, const RunCgroup* cgroup);

// Whether NAME is a shell identifier ([A-Za-z_][A-Za-z0-9_]*).
bool IsIdentifier(std::string_view name);
// Variables bash reads at start-up, sets itself or keeps read-only: exported
// later they would not act as they do when found in the environment at start.
bool SpecialToTheShell(std::string_view name);

// TEXT as one shell word, taken literally: in single quotes, each ' as '\''.
std::string ShellQuote(std::string_view text);

}  // namespace jenky
