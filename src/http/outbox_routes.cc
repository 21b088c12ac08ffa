// The API's view of the outbox and the metrics (api.h's route table names
// these handlers): GET /api/v1/runs/{id}/messages,
// GET /api/v1/projects/{name}/messages and GET /metrics.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "http/api.h"
#include "http/api_error.h"
#include "http/log_hub.h"
#include "http/params.h"
#include "util/json.h"

namespace jenky {
namespace {

constexpr int kMaxMessages = 500;

}  // namespace

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // as in api.cc
#endif

net::awaitable<void> Api::ListMessages(Exchange& ex, const std::string& project, int64_t run) {
  int64_t limit = 100;
  if (const std::string* l = ex.Query("limit")) {
    if (!ParseInt(*l, limit) || limit < 1 || limit > kMaxMessages) {
      co_return co_await SendApiError(
          ex, ApiError::kBadRequest,
          fmt::format("limit must be a number from 1 to {}", kMaxMessages));
    }
  }
  auto list = engine_.outbox().List(project, run, static_cast<int>(limit));
  if (!list.ok()) co_return co_await SendApiError(ex, ApiError::kInternal, list.status().message());
  nlohmann::json out = nlohmann::json::array();
  for (const OutboxMessage& m : *list) out.push_back(OutboxMessageToJson(m));
  co_await ex.SendJson(http::status::ok, DumpJson(out));
}

net::awaitable<void> Api::RunMessagesRoute(Exchange& ex, const Args& a, const Principal&) {
  auto run = engine_.GetRun(a.id);
  if (!run.ok()) co_return co_await SendApiError(ex, ApiError::kInternal, run.status().message());
  if (!run->has_value()) {
    co_return co_await SendApiError(ex, ApiError::kNotFound,
                                    fmt::format("no run with id {}", a.id));
  }
  co_await ListMessages(ex, (*run)->project, a.id);
}

net::awaitable<void> Api::ProjectMessagesRoute(Exchange& ex, const Args& a, const Principal&) {
  if (!engine_.config().FindProject(a.name)) {
    co_return co_await SendApiError(ex, ApiError::kNotFound,
                                    fmt::format("no project named '{}'", a.name));
  }
  co_await ListMessages(ex, a.name, 0);
}

net::awaitable<void> Api::MetricsRoute(Exchange& ex, const Args&, const Principal&) {
  Response res{http::status::ok, ex.req().version()};
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.body() = engine_.RenderMetrics(hub_ ? static_cast<int64_t>(hub_->viewers()) : 0);
  co_await ex.Send(std::move(res));
}

net::awaitable<void> Api::HandleMetricsOnly(Exchange& ex) {
  if (ex.path() != "/metrics") {
    co_return co_await SendApiError(ex, ApiError::kNotFound,
                                    "this address (metrics_listen) serves only GET /metrics");
  }
  http::verb method = ex.req().method();
  if (method != http::verb::get && method != http::verb::head) {
    co_return co_await SendApiError(ex, ApiError::kMethodNotAllowed, "use GET /metrics");
  }
  // Named, not temporaries: GCC 12 destroys a temporary bound to a
  // reference parameter of a co_awaited coroutine twice.
  Args none;
  Principal nobody;
  co_await MetricsRoute(ex, none, nobody);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace jenky
