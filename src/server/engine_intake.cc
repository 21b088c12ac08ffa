// The engine's side of a webhook delivery (engine.h, Receive and Refuse):
// the de-duplication of retried deliveries, the trigger, the deliveries
// record and the audit entry. The HTTP layer (http/hook_route.cc) verifies
// the delivery before and shapes the answer from the outcome after.
#include <fmt/format.h>

#include "server/engine.h"
#include "webhook/webhook.h"

namespace jenky {
namespace {

IntakeOutcome OutcomeOfVerdict(VerdictKind kind) {
  switch (kind) {
    case VerdictKind::kDeploy: return IntakeOutcome::kDeployed;
    case VerdictKind::kIgnored: return IntakeOutcome::kIgnored;
    case VerdictKind::kPing: return IntakeOutcome::kPing;
    case VerdictKind::kUnauthorized: return IntakeOutcome::kBadSignature;
    case VerdictKind::kBadRequest: return IntakeOutcome::kBadRequest;
  }
  return IntakeOutcome::kBadRequest;
}

}  // namespace

Intake Engine::Receive(Delivery record, const Verdict& verdict) {
  record.event = verdict.event;
  record.delivery = verdict.trigger.delivery;
  // Noise is evicted first (store/delivery_log.h): a forged delivery, an
  // event the project does not deploy from.
  record.relevant = !verdict.event_filtered && verdict.kind != VerdictKind::kUnauthorized;
  Intake in{OutcomeOfVerdict(verdict.kind), std::nullopt, verdict.reason};
  if (verdict.kind == VerdictKind::kDeploy) in = Deploy(record, verdict);
  Settle(record, in);
  return in;
}

Intake Engine::Refuse(Delivery record, IntakeOutcome outcome, std::string reason) {
  record.relevant = false;
  Intake in{outcome, std::nullopt, std::move(reason)};
  Settle(record, in);
  return in;
}

Intake Engine::Deploy(const Delivery& record, const Verdict& verdict) {
  const std::string& project = record.project;
  const struct Trigger& trigger = verdict.trigger;
  std::string reason = verdict.reason;
  IntakeOutcome outcome = IntakeOutcome::kDeployed;
  if (!trigger.delivery.empty()) {
    auto earlier = RunForDelivery(project, trigger.delivery);
    if (earlier.ok() && earlier->has_value()) {
      const Run& before = **earlier;
      if (IsRetry(before, Now())) {
        return {IntakeOutcome::kDuplicate, before,
                fmt::format("delivery {} already started run {}", trigger.delivery, before.id)};
      }
      outcome = IntakeOutcome::kRedelivered;
      reason = fmt::format("redelivery of {} (run {} deployed it before); {}", trigger.delivery,
                           before.id, reason);
    }
  }
  auto run = Trigger(project, trigger);
  if (!run.ok()) return {RefusalOf(run.status().kind()), std::nullopt, run.status().message()};
  control().Audit({0, 0,
                   "webhook:" + (trigger.delivery.empty() ? trigger.provider : trigger.delivery),
                   "trigger", project, run->id, record.remote, reason});
  return {outcome, *run, reason};
}

void Engine::Settle(Delivery& record, const Intake& in) {
  record.result = DeliveryResultName(ResultOf(in.outcome));
  record.status = AnswerStatus(in.outcome);
  record.reason = in.reason;
  record.run_id = in.run ? in.run->id : 0;
  RecordDelivery(record);
}

}  // namespace jenky
