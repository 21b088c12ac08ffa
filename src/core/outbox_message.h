// One outgoing message of the outbox: a commit status or a notification that
// a run's state change caused (docs/notifications.md).
//
// A message is written to SQLite in the same transaction as the run row whose
// change caused it (Store::SaveRunAndMessages), then sent in the background
// by the outbox (server/outbox.h) until the receiver takes it, refuses it for
// good, or the receiver's give_up_after passes. Its body is rendered when the
// message is made (what the run was at that moment); what is secret (a
// webhook URL from the environment, a signing secret, a forge token) is not
// in it: it is added from the configuration when the message is sent, so the
// database, the API and the logs never hold it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace jenky {

enum class MessageState { kPending, kSent, kFailed };
const char* MessageStateName(MessageState s);
std::optional<MessageState> ParseMessageState(std::string_view name);

struct OutboxMessage {
  int64_t id = 0;
  int64_t run_id = 0;
  std::string project;
  // Who receives it: "notify:NAME" (a [[notify]] entry) or "status:PROJECT"
  // (the project's [projects.X.status]). Messages to one receiver are sent
  // one at a time, in id order.
  std::string receiver;
  std::string kind;   // webhook slack discord ntfy email | github gitea gitlab
  std::string event;  // "run.failed", "status.pending" ...
  std::string url;    // where a status goes (not secret); "" for notifications
  std::string body;   // the rendered payload
  MessageState state = MessageState::kPending;
  int attempts = 0;
  int64_t created_at = 0;       // unix ms
  int64_t next_attempt_at = 0;  // unix ms; 0 = at once
  int64_t finished_at = 0;      // unix ms: when it was sent or given up
  int last_http_status = 0;     // 0 = none (not tried, or no answer)
  std::string last_error;       // why the last attempt failed, or why it was given up
};

// The API's form (GET /api/v1/runs/{id}/messages): everything but the body.
nlohmann::json OutboxMessageToJson(const OutboxMessage& m);

// The receiver's name as shown: "slack" for "notify:slack", "status" for
// "status:app".
std::string ReceiverDisplayName(std::string_view receiver);

}  // namespace jenky
