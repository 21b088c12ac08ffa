#include "core/outbox_message.h"

#include <nlohmann/json.hpp>

#include "util/time.h"

namespace jenky {

const char* MessageStateName(MessageState s) {
  switch (s) {
    case MessageState::kPending: return "pending";
    case MessageState::kSent: return "sent";
    case MessageState::kFailed: return "failed";
  }
  return "pending";
}

std::optional<MessageState> ParseMessageState(std::string_view name) {
  for (MessageState s : {MessageState::kPending, MessageState::kSent, MessageState::kFailed}) {
    if (name == MessageStateName(s)) return s;
  }
  return std::nullopt;
}

std::string ReceiverDisplayName(std::string_view receiver) {
  if (receiver.rfind("status:", 0) == 0) return "status";
  if (receiver.rfind("deploy:", 0) == 0) return "deployment";
  if (receiver.rfind("notify:", 0) == 0) return std::string(receiver.substr(7));
  return std::string(receiver);
}

nlohmann::json OutboxMessageToJson(const OutboxMessage& m) {
  auto time_or_null = [](int64_t ms) {
    return ms > 0 ? nlohmann::json(FormatRfc3339(ms)) : nlohmann::json(nullptr);
  };
  return {
      {"id", m.id},
      {"run", m.run_id},
      {"project", m.project},
      {"receiver", ReceiverDisplayName(m.receiver)},
      {"kind", m.kind},
      {"event", m.event},
      {"state", MessageStateName(m.state)},
      {"attempts", m.attempts},
      {"created_at", time_or_null(m.created_at)},
      {"next_attempt_at", m.state == MessageState::kPending ? time_or_null(m.next_attempt_at)
                                                            : nlohmann::json(nullptr)},
      {"finished_at", time_or_null(m.finished_at)},
      {"http_status",
       m.last_http_status ? nlohmann::json(m.last_http_status) : nlohmann::json(nullptr)},
      {"error", m.last_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.last_error)},
  };
}

}  // namespace jenky
