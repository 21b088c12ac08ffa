#pragma once
// What the Engine keeps for each run it watches: private to the Engine's own
// files (engine.cc, engine_recovery.cc).

#include <sys/types.h>

#include <memory>

#include "core/run.h"
#include "exec/run_dir.h"
#include "server/engine.h"

namespace jenky {

struct Engine::Active {
  Run run;
  RunDir dir;
  std::shared_ptr<LogTail> tail;
  std::unique_ptr<ExitWatch> process;
  std::unique_ptr<net::steady_timer> lock_poll;  // adopted run without a pidfd
  // Adopted before its supervisor took the lock: until this time (unix ms)
  // a free lock means "not yet", not "gone".
  int64_t lock_wait_until = 0;
  int watch_id = -1;
  pid_t child = -1;  // our own child: reap it when it exits
  bool cancel_sent = false;
  // Its row is written. A new trigger's is written once, after its start
  // (Trigger), not once queued and again when started.
  bool recorded = true;
};

}  // namespace jenky
