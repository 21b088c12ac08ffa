// `jenky __supervise`: the supervisor process from its first instruction to
// its run (supervisor.h, "Lifecycle"): signals blocked and a subreaper before
// anything else, its cgroup, the warm shell and the stage made while no run
// waits, then the RunSpec read and handed to the supervisor proper
// (supervisor.cc).

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <optional>

#include "exec/cgroup.h"
#include "exec/process.h"
#include "exec/run_dir.h"
#include "exec/stage.h"
#include "exec/supervisor.h"
#include "exec/warm_shell.h"
#include "util/logger.h"

namespace jenky {

int SupervisorMain(const std::string& warm_shell, const std::string& stage_in,
                   const WarmFds* warm_fds, const std::string& cgroup_tree) {
  // Block the signals the supervisor handles before anything else: a cancel
  // that arrives while a spare is still reading its RunSpec stays pending and
  // is read from the signalfd once the script runs.
  sigset_t set;
  sigemptyset(&set);
  for (int s : SupervisorSignals()) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  // A subreaper before anything runs: with a warm shell the server may start
  // the script before this process has read its RunSpec, and an orphan the
  // script makes in that window must come to us, not to init, or no tree
  // walk would find it again.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  // Who we are, the warm shell and the run directory, while no run waits
  // for any of them.
  SupervisorId self{getpid(), ProcessStartTime(getpid()).value_or(0), ""};
  // The run's cgroup, before anything of the run exists: the warm shell
  // starts in it. This process stays outside it, so that it never kills itself.
  std::optional<RunCgroup> cgroup;
  if (!cgroup_tree.empty()) {
    auto made = RunCgroup::Make(cgroup_tree, CgroupName(self.pid, self.start_time));
    if (made.ok()) {
      cgroup.emplace(std::move(made).value());
      self.cgroup = cgroup->path();
    } else {
      LogWarning("supervisor: this run gets no cgroup: {}", made.status().message());
    }
  }
  // Ends what is left in it (nothing, after a run) and removes it.
  auto release_cgroup = [&cgroup] {
    if (!cgroup) return;
    if (cgroup->Populated()) {
      cgroup->Kill();
      for (int i = 0; i < 200 && cgroup->Populated(); ++i) usleep(5'000);
    }
    if (Status s = cgroup->Remove(); !s.ok()) LogWarning("supervisor: {}", s.message());
  };
  std::optional<WarmShell> warm;
  if (!warm_shell.empty()) {
    warm = StartWarmShell(warm_shell, self, warm_fds, cgroup ? &*cgroup : nullptr);
  }
  std::optional<Stage> stage = stage_in.empty() ? std::nullopt : MakeStage(stage_in, self);
  std::string input = ReadRunSpecLine(STDIN_FILENO);
  auto spec = DecodeRunSpec(input);  // (nothing is no RunSpec either)
  // The stage is the run's only if the server renamed it into place.
  if (stage && !(spec.ok() && spec->staged)) {
    std::string taken = input.empty() ? stage->TakenAs() : "";
    if (!taken.empty() && warm && warm->GivenItsRun()) {
      RecordCutOffRun(RunDir{taken}, *warm, self, cgroup ? &*cgroup : nullptr);
      release_cgroup();
      return 0;
    }
    stage->Remove();
    stage.reset();
  }
  if (!spec.ok()) {
    if (warm) warm->Discard();
    release_cgroup();
    if (input.empty()) return 0;  // a spare the server no longer needs
    LogError("supervisor: {}", spec.status().message());
    return 2;
  }
  int code = SuperviseWith(*spec, warm ? &*warm : nullptr, stage ? &*stage : nullptr, self,
                           cgroup ? &*cgroup : nullptr);
  if (warm) warm->Discard();  // unused (a run that never started); else a no-op
  release_cgroup();
  return code;
}

}  // namespace jenky
