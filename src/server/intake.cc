#include "server/intake.h"

namespace jenky {

IntakeOutcome RefusalOf(StatusCode code) {
  switch (code) {
    case StatusCode::kPaused: return IntakeOutcome::kPaused;
    case StatusCode::kQueueFull: return IntakeOutcome::kQueueFull;
    default: return IntakeOutcome::kFailed;
  }
}

DeliveryResult ResultOf(IntakeOutcome outcome) {
  switch (outcome) {
    case IntakeOutcome::kDeployed: return DeliveryResult::kDeployed;
    case IntakeOutcome::kRedelivered: return DeliveryResult::kRedelivered;
    case IntakeOutcome::kDuplicate: return DeliveryResult::kDuplicate;
    case IntakeOutcome::kPing: return DeliveryResult::kPing;
    case IntakeOutcome::kIgnored: return DeliveryResult::kIgnored;
    case IntakeOutcome::kPaused: return DeliveryResult::kPaused;
    case IntakeOutcome::kBadSignature:
    case IntakeOutcome::kBadRequest:
    case IntakeOutcome::kTooLarge:
    case IntakeOutcome::kRateLimited:
    case IntakeOutcome::kQueueFull:
    case IntakeOutcome::kFailed: return DeliveryResult::kRejected;
  }
  return DeliveryResult::kRejected;
}

int AnswerStatus(IntakeOutcome outcome) {
  switch (outcome) {
    case IntakeOutcome::kDeployed:
    case IntakeOutcome::kRedelivered: return 202;
    case IntakeOutcome::kDuplicate:
    case IntakeOutcome::kPing: return 200;
    case IntakeOutcome::kIgnored: return 204;
    case IntakeOutcome::kPaused: return 409;
    case IntakeOutcome::kBadSignature: return 401;
    case IntakeOutcome::kBadRequest: return 400;
    case IntakeOutcome::kTooLarge: return 413;
    case IntakeOutcome::kRateLimited: return 429;
    case IntakeOutcome::kQueueFull: return 429;
    case IntakeOutcome::kFailed: return 500;
  }
  return 500;
}

}  // namespace jenky
