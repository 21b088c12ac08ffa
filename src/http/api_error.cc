#include "http/api_error.h"

#include <fmt/format.h>

#include "util/json.h"

namespace jenky {

ApiErrorInfo Describe(ApiError error) {
  using s = http::status;
  switch (error) {
    case ApiError::kBadRequest: return {s::bad_request, "bad_request"};
    case ApiError::kBadJson: return {s::bad_request, "bad_json"};
    case ApiError::kBadHost: return {s::bad_request, "bad_host"};
    case ApiError::kUnauthorized: return {s::unauthorized, "unauthorized"};
    case ApiError::kBadSignature: return {s::unauthorized, "bad_signature"};
    case ApiError::kForbidden: return {s::forbidden, "forbidden"};
    case ApiError::kForbiddenOrigin: return {s::forbidden, "forbidden_origin"};
    case ApiError::kNotFound: return {s::not_found, "not_found"};
    case ApiError::kMethodNotAllowed: return {s::method_not_allowed, "method_not_allowed"};
    case ApiError::kNotAcceptable: return {s::not_acceptable, "not_acceptable"};
    case ApiError::kConflict: return {s::conflict, "conflict"};
    case ApiError::kPaused: return {s::conflict, "paused"};
    case ApiError::kGone: return {s::gone, "gone"};
    case ApiError::kTooLarge: return {s::payload_too_large, "too_large"};
    case ApiError::kUriTooLong: return {s::uri_too_long, "uri_too_long"};
    case ApiError::kUnsupportedMediaType:
      return {s::unsupported_media_type, "unsupported_media_type"};
    case ApiError::kOffsetOutOfRange: return {s::range_not_satisfiable, "offset_out_of_range"};
    case ApiError::kUpgradeRequired: return {s::upgrade_required, "upgrade_required"};
    case ApiError::kRateLimited: return {s::too_many_requests, "rate_limited"};
    case ApiError::kQueueFull: return {s::too_many_requests, "queue_full"};
    case ApiError::kInternal: return {s::internal_server_error, "internal"};
    case ApiError::kUnavailable: return {s::service_unavailable, "unavailable"};
  }
  return {s::internal_server_error, "internal"};
}

std::optional<ApiError> ErrorForIntake(IntakeOutcome outcome) {
  switch (outcome) {
    case IntakeOutcome::kPaused: return ApiError::kPaused;
    case IntakeOutcome::kBadSignature: return ApiError::kBadSignature;
    case IntakeOutcome::kBadRequest: return ApiError::kBadRequest;
    case IntakeOutcome::kTooLarge: return ApiError::kTooLarge;
    case IntakeOutcome::kRateLimited: return ApiError::kRateLimited;
    case IntakeOutcome::kQueueFull: return ApiError::kQueueFull;
    case IntakeOutcome::kFailed: return ApiError::kInternal;
    case IntakeOutcome::kDeployed:
    case IntakeOutcome::kRedelivered:
    case IntakeOutcome::kDuplicate:
    case IntakeOutcome::kPing:
    case IntakeOutcome::kIgnored: break;
  }
  return std::nullopt;
}

ApiError ErrorForStatusCode(StatusCode code) {
  switch (code) {
    case StatusCode::kQueueFull: return ApiError::kQueueFull;
    case StatusCode::kNotFound: return ApiError::kNotFound;
    case StatusCode::kConflict: return ApiError::kConflict;
    case StatusCode::kPaused: return ApiError::kPaused;
    default: return ApiError::kInternal;
  }
}

net::awaitable<bool> CheckJsonDepth(Exchange& ex, int max) {
  if (!JsonNestedDeeperThan(ex.req().body(), max)) co_return true;
  co_await SendApiError(ex, ApiError::kBadJson,
                        fmt::format("request body nests arrays and objects more than {} levels "
                                    "deep ([server] max_json_depth)",
                                    max));
  co_return false;
}

net::awaitable<void> SendApiError(Exchange& ex, ApiError error, std::string message) {
  ApiErrorInfo info = Describe(error);
  co_await ex.SendError(info.status, info.code, std::move(message));
}

}  // namespace jenky
