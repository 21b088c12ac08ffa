// The API's errors: every error code jenky answers with, and its HTTP
// status, in one table (SPEC.md: {"error": {"code", "message"}}; the codes
// are listed in docs/spec-extensions.md). Handlers name an ApiError; the
// code string and the status come from here.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "http/server.h"
#include "server/intake.h"
#include "util/status.h"

namespace jenky {

enum class ApiError {
  kBadRequest,            // 400 bad_request
  kBadJson,               // 400 bad_json
  kBadHost,               // 400 bad_host
  kUnauthorized,          // 401 unauthorized
  kBadSignature,          // 401 bad_signature
  kForbidden,             // 403 forbidden
  kForbiddenOrigin,       // 403 forbidden_origin
  kNotFound,              // 404 not_found
  kMethodNotAllowed,      // 405 method_not_allowed
  kNotAcceptable,         // 406 not_acceptable
  kConflict,              // 409 conflict
  kPaused,                // 409 paused
  kGone,                  // 410 gone
  kTooLarge,              // 413 too_large
  kUriTooLong,            // 414 uri_too_long
  kUnsupportedMediaType,  // 415 unsupported_media_type
  kOffsetOutOfRange,      // 416 offset_out_of_range
  kUpgradeRequired,       // 426 upgrade_required
  kRateLimited,           // 429 rate_limited
  kQueueFull,             // 429 queue_full
  kInternal,              // 500 internal
  kUnavailable,           // 503 unavailable
};

struct ApiErrorInfo {
  http::status status;
  const char* code;
};
ApiErrorInfo Describe(ApiError error);

// The ApiError for the StatusCode of an engine error (kQueueFull,
// kNotFound, kConflict); anything else is kInternal.
ApiError ErrorForStatusCode(StatusCode code);

// The error a webhook delivery refused with OUTCOME is answered with
// (http/hook_route.cc); nullopt for outcomes answered otherwise (a run, a
// ping, 204). Its status is AnswerStatus(OUTCOME).
std::optional<ApiError> ErrorForIntake(IntakeOutcome outcome);

// 400 bad_json, and false, if the request body nests JSON deeper than MAX
// levels ([server] max_json_depth); checked before anything parses it.
net::awaitable<bool> CheckJsonDepth(Exchange& ex, int max);

// {"error": {"code", "message"}} with ERROR's status.
net::awaitable<void> SendApiError(Exchange& ex, ApiError error, std::string message);

}  // namespace jenky
