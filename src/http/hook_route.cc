#include "http/hook_route.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/delivery_result.h"
#include "http/api_error.h"
#include "util/duration.h"
#include "util/json.h"
#include "util/logger.h"
#include "util/time.h"
#include "webhook/webhook.h"

namespace jenky {

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
    record.result = DeliveryResultName(DeliveryResult::kRejected);
    record.status = 413;
    record.relevant = false;
    record.reason = fmt::format(
        "the payload is larger than the hooks' limit of {} ([server] "
        "max_hook_body)",
        FormatSize(static_cast<long long>(ex.body_limit())));
    engine.RecordDelivery(record);
    int64_t held_back = 0;
    if (auth.rejection_log().Allow(remote, now, &held_back)) {
      LogWarning("project={} webhook from {} rejected (413): {}", project, remote, record.reason);
    }
    co_return co_await SendApiError(ex, ApiError::kTooLarge, record.reason);
  }
  req.body = ex.req().body();
  req.query = ex.query();
  req.now_unix_seconds = now / 1000;
  req.max_json_depth = engine.config().server.max_json_depth;
  Verdict v = EvaluateDelivery(config, req);
  record.event = v.event;
  record.delivery = v.trigger.delivery;
  record.reason = v.reason;
  // Noise is evicted first (store/delivery_log.h): a forged or refused
  // delivery, an event the project does not deploy from.
  record.relevant = !v.event_filtered && v.kind != VerdictKind::kUnauthorized;

  auto reject = [&](ApiError error) -> net::awaitable<void> {
    http::status status = Describe(error).status;
    record.result = DeliveryResultName(DeliveryResult::kRejected);
    record.status = static_cast<int>(status);
    engine.RecordDelivery(record);
    int64_t held_back = 0;
    if (auth.rejection_log().Allow(remote, now, &held_back)) {
      LogWarning("project={} webhook from {} rejected ({}): {}{}", project, remote,
                 static_cast<int>(status), v.reason,
                 held_back ? fmt::format(" ({} more rejections from this address were not logged; "
                                         "GET /api/v1/projects/{}/deliveries counts them)",
                                         held_back, project)
                           : "");
    }
    co_await SendApiError(ex, error, v.reason);
  };
  switch (v.kind) {
    case VerdictKind::kUnauthorized:
      // Only deliveries that fail their signature are limited: a correctly
      // signed one from the same address (a forge's, a proxy's) never is.
      if (!co_await auth.CheckRateLimit(ex, auth.hook_failures())) {
        record.result = DeliveryResultName(DeliveryResult::kRejected);
        record.status = 429;
        record.reason = "too many failed signatures from this address";
        record.relevant = false;
        engine.RecordDelivery(record);
        int64_t held_back = 0;
        if (auth.rejection_log().Allow(remote, now, &held_back)) {
          LogWarning("project={} webhook from {} rejected (429): {}", project, remote,
                     record.reason);
        }
        co_return;
      }
      auth.hook_failures().RecordFailure(remote, now);
      co_return co_await reject(ApiError::kBadSignature);
    case VerdictKind::kBadRequest: co_return co_await reject(ApiError::kBadRequest);
    case VerdictKind::kPing: {
      record.result = DeliveryResultName(DeliveryResult::kPing);
      record.status = 200;
      engine.RecordDelivery(record);
      LogInfo("project={} webhook ping from {}", project, remote);
      nlohmann::json j = {{"ok", true},
                          {"event", "ping"},
                          {"message", fmt::format("jenky is listening for project '{}'", project)}};
      co_return co_await ex.SendJson(http::status::ok, DumpJson(j));
    }
    case VerdictKind::kIgnored: {
      record.result = DeliveryResultName(DeliveryResult::kIgnored);
      record.status = 204;
      engine.RecordDelivery(record);
      LogInfo("project={} webhook ignored: {}", project, v.reason);
      Response res{http::status::no_content, ex.req().version()};
      // Header values must stay on one line.
      std::string reason = v.reason;
      for (char& c : reason) {
        if (c == '\r' || c == '\n') c = ' ';
      }
      res.set("X-Jenky-Reason", reason);
      co_return co_await ex.Send(std::move(res));
    }
    case VerdictKind::kDeploy: break;
  }
  std::string deployed = DeliveryResultName(DeliveryResult::kDeployed);
  if (!v.trigger.delivery.empty()) {
    auto earlier = engine.RunForDelivery(project, v.trigger.delivery);
    if (earlier.ok() && earlier->has_value() && !IsRetry(**earlier, now)) {
      deployed = DeliveryResultName(DeliveryResult::kRedelivered);
      v.reason = fmt::format("redelivery of {} (run {} deployed it before); {}", v.trigger.delivery,
                             (*earlier)->id, v.reason);
    } else if (earlier.ok() && earlier->has_value()) {
      record.result = DeliveryResultName(DeliveryResult::kDuplicate);
      record.status = 200;
      record.run_id = (*earlier)->id;
      record.reason =
          fmt::format("delivery {} already started run {}", v.trigger.delivery, (*earlier)->id);
      engine.RecordDelivery(record);
      LogInfo("project={} webhook: {}", project, record.reason);
      co_return co_await ex.SendJson(http::status::ok, DumpJson(RunToJson(**earlier)));
    }
  }
  auto run = engine.Trigger(project, v.trigger);
  if (!run.ok() && run.status().kind() == StatusCode::kPaused) {
    // Recorded and answered 409: the forge shows it, and can redeliver after a resume.
    record.result = DeliveryResultName(DeliveryResult::kPaused);
    record.status = 409;
    record.reason = run.status().message();
    engine.RecordDelivery(record);
    LogInfo("project={} webhook: {}", project, record.reason);
    co_return co_await SendApiError(ex, ApiError::kPaused, record.reason);
  }
  if (!run.ok()) {
    v.reason = run.status().message();
    co_return co_await reject(run.status().kind() == StatusCode::kQueueFull ? ApiError::kQueueFull
                                                                            : ApiError::kInternal);
  }
  record.result = deployed;
  record.status = 202;
  record.run_id = run->id;
  record.reason = v.reason;
  engine.RecordDelivery(record);
  engine.control().Audit(
      {0, 0, "webhook:" + (v.trigger.delivery.empty() ? v.trigger.provider : v.trigger.delivery),
       "trigger", project, run->id, remote, record.reason});
  ex.extra_headers().emplace_back("Location", fmt::format("/api/v1/runs/{}", run->id));
  co_await ex.SendJson(http::status::accepted, DumpJson(RunToJson(*run)));
}
}  // namespace jenky
