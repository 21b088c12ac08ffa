#include "http/hook_route.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "http/api_error.h"
#include "util/duration.h"
#include "util/json.h"
#include "util/logger.h"
#include "util/time.h"
#include "webhook/webhook.h"

namespace jenky {
namespace {

// Rejections are logged as warnings, at most a few per address a minute
// (http/auth.h); the rest as information.
void LogIntake(Auth& auth, const std::string& project, const std::string& remote, int64_t now,
               const Intake& in) {
  int status = AnswerStatus(in.outcome);
  if (ResultOf(in.outcome) != DeliveryResult::kRejected) {
    LogInfo("project={} webhook from {}: {} ({}): {}", project, remote,
            DeliveryResultName(ResultOf(in.outcome)), status, in.reason);
    return;
  }
  int64_t held_back = 0;
  if (!auth.rejection_log().Allow(remote, now, &held_back)) return;
  LogWarning("project={} webhook from {} rejected ({}): {}{}", project, remote, status, in.reason,
             held_back ? fmt::format(" ({} more rejections from this address were not logged; "
                                     "GET /api/v1/projects/{}/deliveries counts them)",
                                     held_back, project)
                       : "");
}

net::awaitable<void> Answer(Exchange& ex, const std::string& project, const Intake& in) {
  if (auto error = ErrorForIntake(in.outcome))
    co_return co_await SendApiError(ex, *error, in.reason);
  switch (in.outcome) {
    case IntakeOutcome::kPing: {
      nlohmann::json j = {{"ok", true},
                          {"event", "ping"},
                          {"message", fmt::format("jenky is listening for project '{}'", project)}};
      co_return co_await ex.SendJson(http::status::ok, DumpJson(j));
    }
    case IntakeOutcome::kIgnored: {
      Response res{http::status::no_content, ex.req().version()};
      // Header values must stay on one line.
      std::string reason = in.reason;
      for (char& c : reason) {
        if (c == '\r' || c == '\n') c = ' ';
      }
      res.set("X-Jenky-Reason", reason);
      co_return co_await ex.Send(std::move(res));
    }
    case IntakeOutcome::kDeployed:
    case IntakeOutcome::kRedelivered:
      ex.extra_headers().emplace_back("Location", fmt::format("/api/v1/runs/{}", in.run->id));
      break;
    default: break;
  }
  // A run: the new one (202), or the one this delivery started before (200).
  co_await ex.SendJson(static_cast<http::status>(AnswerStatus(in.outcome)), RunJsonText(*in.run));
}

}  // namespace

net::awaitable<void> ServeHook(Exchange& ex, Engine& engine, Auth& auth,
                               const std::string& project) {
  const ProjectConfig* p = engine.config().FindProject(project);
  if (!p) {
    co_return co_await SendApiError(ex, ApiError::kNotFound,
                                    fmt::format("no project named '{}'", project));
  }
  if (!p->webhook) {
    co_return co_await SendApiError(
        ex, ApiError::kNotFound,
        fmt::format("project '{}' has no webhook; add [projects.{}.webhook] to the config", project,
                    project));
  }
  // A copy: a reload (SIGHUP) may replace the configuration while we wait.
  const WebhookConfig config = *p->webhook;
  std::string remote = auth.Caller(ex);
  int64_t now = NowMillis();
  Delivery record;
  record.project = project;
  record.received_at = now;
  record.provider = config.provider;
  record.remote = remote;

  HookRequest req;
  req.header = [&ex](std::string_view name) { return ex.Header(name); };
  if (ex.body_refused()) {
    // Not read (http/server.h): what the headers say is all there is.
    ReadDeliveryHeaders(config, req, record.event, record.delivery);
    Intake in = engine.Refuse(
        record, IntakeOutcome::kTooLarge,
        fmt::format("the payload is larger than the hooks' limit of {} ([server] max_hook_body)",
                    FormatSize(static_cast<long long>(ex.body_limit()))));
    LogIntake(auth, project, remote, now, in);
    co_return co_await Answer(ex, project, in);
  }
  req.body = ex.req().body();
  req.query = ex.query();
  req.now_unix_seconds = now / 1000;
  req.max_json_depth = engine.config().server.max_json_depth;
  Verdict v = EvaluateDelivery(config, req);
  if (v.kind == VerdictKind::kUnauthorized) {
    // Only deliveries that fail their signature are limited: a correctly
    // signed one from the same address (a forge's, a proxy's) never is.
    if (!co_await auth.CheckRateLimit(ex, auth.hook_failures())) {
      record.event = v.event;
      record.delivery = v.trigger.delivery;
      Intake in = engine.Refuse(record, IntakeOutcome::kRateLimited,
                                "too many failed signatures from this address");
      LogIntake(auth, project, remote, now, in);
      co_return;  // CheckRateLimit answered 429
    }
    auth.hook_failures().RecordFailure(remote, now);
  }
  Intake in = engine.Receive(record, v);
  LogIntake(auth, project, remote, now, in);
  co_await Answer(ex, project, in);
}

}  // namespace jenky
