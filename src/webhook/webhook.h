// Webhook deliveries: who sent one, whether its signature holds, and what it
// asks for (SPEC.md `POST /hooks/{project}`).
//
// Pure functions over a received request (headers, raw body, query): no I/O,
// no clock except the one passed in, so every provider is unit-tested against
// its documented vectors and payloads. The HTTP layer turns a Verdict into a
// status code and, for kDeploy, a run.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/run.h"

namespace jenky {

struct HookRequest {
  // Header lookup by name, case-insensitive; "" when absent.
  std::function<std::string(std::string_view)> header;
  std::string_view body;  // raw bytes as received: signatures cover exactly these
  std::map<std::string, std::string> query;
  int64_t now_unix_seconds = 0;  // for signature timestamps (GitLab signing tokens)
  int max_json_depth = 64;       // deeper payloads are a bad request, never parsed
};

enum class VerdictKind {
  kDeploy,        // 202: start a run with `trigger`
  kIgnored,       // 204: authentic but filtered; `reason` says why
  kPing,          // 200: the forge checking the hook works
  kUnauthorized,  // 401: bad or missing signature/token; `reason` has no secret
  kBadRequest,    // 400: authentic but unreadable; `reason` names the problem
};

struct Verdict {
  VerdictKind kind = VerdictKind::kBadRequest;
  std::string reason;
  std::string event;  // the provider's event name, "" if none
  Trigger trigger;    // provider, ref, branch, commit, actor, delivery
  // Ignored for its event alone (one the project does not deploy from): the
  // deliveries record counts it as noise.
  bool event_filtered = false;
};

// Checks REQ against the project's webhook config and reads the push from it.
Verdict EvaluateDelivery(const WebhookConfig& config, const HookRequest& req);

// The event and delivery id REQ's headers name, for a delivery whose body
// was not read (too large): nothing in them is checked.
void ReadDeliveryHeaders(const WebhookConfig& config, const HookRequest& req, std::string& event,
                         std::string& delivery);
// Standard Webhooks (standardwebhooks.com): "v1,<base64 HMAC-SHA256 of
// ID.TIMESTAMP.BODY with KEY>", the webhook-signature header's value. Checks
// GitLab's signed deliveries and signs jenky's own notifications
// (notify/outbound.h).
std::string StandardWebhookSignature(std::string_view key, std::string_view id,
                                     std::string_view timestamp, std::string_view body);

// Hex HMAC-SHA256 of DATA with KEY.
std::string HmacSha256Hex(std::string_view key, std::string_view data);

// Branch filter globs: `*` matches within a path segment, `**` across `/`,
// `?` one character. "main", "release/*", "feature/**".
// Why REF (a ref or branch name from a delivery or a trigger) is refused, or
// "" when it is fine: a component that starts with '-' (an option to git
// checkout, to anything a script hands it to) or a character a shell acts
// on ($ ` ; | & < > ( ) { } ' " \\ ! * ? [ ] ~ ^ and white space). Git allows
// some of them; a script that uses $JENKY_REF unquoted would run them.
std::string RefProblem(std::string_view ref);

bool GlobMatch(std::string_view pattern, std::string_view text);

// A delivery whose id already started EARLIER is a retry when EARLIER is
// still queued or running, or began less than kRetryWindowMs ago: the
// forge (or a proxy) sending again an answer it lost, which must not deploy
// twice. Later, it is someone pressing the forge's "Redeliver" (GitHub keeps
// the delivery id), who wants that delivery deployed again.
constexpr int64_t kRetryWindowMs = 10'000;
bool IsRetry(const Run& earlier, int64_t now_ms);

}  // namespace jenky
