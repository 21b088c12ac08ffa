#include "core/delivery_result.h"

namespace jenky {
namespace {

struct Name {
  DeliveryResult value;
  const char* name;
};
constexpr Name kNames[] = {
    {DeliveryResult::kDeployed, "deployed"}, {DeliveryResult::kDuplicate, "duplicate"},
    {DeliveryResult::kRejected, "rejected"}, {DeliveryResult::kIgnored, "ignored"},
    {DeliveryResult::kPing, "ping"},         {DeliveryResult::kRedelivered, "redelivered"},
    {DeliveryResult::kPolled, "polled"},     {DeliveryResult::kPaused, "paused"}};

}  // namespace

const char* DeliveryResultName(DeliveryResult value) {
  for (const Name& n : kNames) {
    if (n.value == value) return n.name;
  }
  return kNames[0].name;  // (unreachable: every enumerator is in the table)
}

std::optional<DeliveryResult> ParseDeliveryResult(std::string_view name) {
  for (const Name& n : kNames) {
    if (name == n.name) return n.value;
  }
  return std::nullopt;
}

}  // namespace jenky
