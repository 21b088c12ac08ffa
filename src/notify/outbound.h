// One attempt at sending an outbox message: the request (built when it is
// sent, with the receiver's secrets from the current configuration), what
// came back, and what to do about it (sent, try again later, give up).
//
// Pure functions, unit-tested alone; the sending itself is a Sender
// (notify/sender.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/outbox_message.h"
#include "util/duration.h"
#include "util/status.h"

namespace jenky {

struct OutboundRequest {
  int64_t message_id = 0;
  std::string url;                   // http(s)://, or smtp(s):// for email
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  Millis timeout = std::chrono::seconds(10);
  std::string ca_file;  // "" = the system's trust store
  // SMTP (email): envelope and login; require_tls: STARTTLS or fail.
  std::string mail_from;
  std::vector<std::string> mail_rcpt;
  std::string username;
  std::string password;
  bool require_tls = true;
};

struct OutboundResult {
  int http_status = 0;          // 0: no HTTP answer (see error); SMTP: 250 when taken
  std::string error;            // transport failure: "connection refused", "timed out after 10s"
  std::string body;             // the first KiB of the answer
  int64_t retry_after_ms = -1;  // from Retry-After, -1 if none
};

// The request for M under CONFIG (its receiver's URL, secret or token),
// NOW_MS the time it is signed at. An error when the receiver is no longer
// configured.
Result<OutboundRequest> BuildRequest(const Config& config, const OutboxMessage& m, int64_t now_ms);

// The receiver's limits (timeout, give_up_after); nullptr if it is gone.
const DeliveryLimits* LimitsFor(const Config& config, const std::string& receiver);

enum class Outcome { kSent, kRetry, kFail };
struct Judgement {
  Outcome outcome = Outcome::kRetry;
  std::string why;  // for kRetry and kFail: what went wrong, without secrets
};

// What RESULT means for M: 2xx (SMTP 250) is sent; GitLab's 400 "Cannot
// transition status" (the state is already set) is sent; a transport error,
// 408, 425, 429 and 5xx are tried again; any other answer is final.
Judgement Judge(const OutboxMessage& m, const OutboundResult& result);

// The id of the deployment GitHub created, from its answer to
// POST .../deployments (BODY: its first KiB, maybe cut short); 0 if none.
int64_t DeploymentIdOf(const std::string& body);

// The wait before attempt ATTEMPTS + 1: 2 s doubling to 10 min, with up to
// a quarter more at random (JITTER in [0, 1)), at least RETRY_AFTER_MS.
int64_t RetryDelayMs(int attempts, int64_t retry_after_ms, double jitter);

}  // namespace jenky
