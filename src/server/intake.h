// What the engine did with a webhook delivery (Engine::Receive): the outcome,
// the delivery record's result and the HTTP status the forge is answered,
// each derived from the outcome here and nowhere else. Pure; any thread.
#pragma once

#include <optional>
#include <string>

#include "core/delivery_result.h"
#include "core/run.h"
#include "util/status.h"

namespace jenky {

enum class IntakeOutcome {
  kDeployed,      // 202: a run was triggered
  kRedelivered,   // 202: a delivery id that deployed before, deployed again
  kDuplicate,     // 200: a retry of a delivery that started a run (IsRetry)
  kPing,          // 200: the forge checking the hook
  kIgnored,       // 204: another event or branch
  kPaused,        // 409: the project is paused; the forge may redeliver later
  kBadSignature,  // 401: bad or missing signature or token
  kBadRequest,    // 400: authentic but unreadable
  kTooLarge,      // 413: over [server] max_hook_body; the body was not read
  kRateLimited,   // 429: too many failed signatures from the address
  kQueueFull,     // 429: the project's queue holds max_queued triggers
  kFailed,        // 500: the trigger failed
};

// The outcome of a trigger the engine refused with CODE (Engine::Trigger):
// kPaused, kQueueFull, else kFailed.
IntakeOutcome RefusalOf(StatusCode code);

// The deliveries record's name for it (GET .../deliveries).
DeliveryResult ResultOf(IntakeOutcome outcome);
// The HTTP status the delivery is answered with.
int AnswerStatus(IntakeOutcome outcome);

struct Intake {
  IntakeOutcome outcome = IntakeOutcome::kFailed;
  // kDeployed, kRedelivered: the new run; kDuplicate: the one the delivery
  // started before.
  std::optional<Run> run;
  std::string reason;  // what the record says, and the answer's message
};

}  // namespace jenky
