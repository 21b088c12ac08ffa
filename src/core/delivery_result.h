// What jenky did with a webhook delivery (Delivery::result, GET
// .../deliveries, the webhook's answer). The one place the names and the
// enum meet. Pure; any thread.
#pragma once

#include <optional>
#include <string_view>

namespace jenky {

enum class DeliveryResult {
  kDeployed,     // "deployed": a run was triggered
  kDuplicate,    // "duplicate": its delivery id was seen already
  kRejected,     // "rejected": bad signature, payload or a limit
  kIgnored,      // "ignored": another event or branch
  kPing,         // "ping": the forge checking the hook
  kRedelivered,  // "redelivered": a delivery id seen before, deployed again
  kPolled,       // "polled": `[projects.X.poll]` looked at the repository
  kPaused,       // "paused": the project is paused; nothing was triggered (409)
};

// The name on the wire and in the store.
const char* DeliveryResultName(DeliveryResult value);
// nullopt for any other name (compared exactly).
std::optional<DeliveryResult> ParseDeliveryResult(std::string_view name);

}  // namespace jenky
