#include "http/control_routes.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "config/inputs_config.h"
#include "http/api_error.h"
#include "http/params.h"
#include "util/embedded.h"
#include "util/json.h"
#include "util/logger.h"
#include "util/time.h"

namespace jenky {
namespace {

constexpr size_t kMaxReason = 500;
constexpr int64_t kDefaultAuditLimit = 50;
constexpr int64_t kMaxAuditLimit = 1000;

const char* InputTypeName(InputConfig::Type t) {
  switch (t) {
    case InputConfig::Type::kString: return "string";
    case InputConfig::Type::kChoice: return "choice";
    case InputConfig::Type::kBool: return "bool";
  }
  return "string";
}

nlohmann::json AuditToJson(const AuditEntry& e) {
  return {{"id", e.id ? nlohmann::json(e.id) : nlohmann::json(nullptr)},
          {"time", FormatRfc3339(e.time)},
          {"actor", e.actor},
          {"action", e.action},
          {"project", e.project.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.project)},
          {"run", e.run ? nlohmann::json(e.run) : nlohmann::json(nullptr)},
          {"address", e.address.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.address)},
          {"detail", e.detail.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.detail)}};
}

}  // namespace

// GCC 12 takes Asio's awaitable frame allocator (recycled, sized delete) for
// a mismatched new/delete pair once enough of a coroutine is inlined: a known
// false positive (GCC PR middle-end/109224), as in http/api.cc.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

nlohmann::json PauseToJson(const ProjectPause* pause) {
  if (!pause) return nullptr;
  return {
      {"by", pause->paused_by}, {"reason", pause->reason}, {"at", FormatRfc3339(pause->paused_at)}};
}

void AddProjectFacts(Engine& engine, const ProjectConfig& p, nlohmann::json& j) {
  j["paused"] = PauseToJson(engine.control().PauseOf(p.name));
  nlohmann::json inputs = nlohmann::json::array();
  for (const InputConfig& in : p.inputs) {
    nlohmann::json d = in.default_value;
    if (in.type == InputConfig::Type::kBool) d = in.default_value == "true";
    inputs.push_back({{"name", in.name},
                      {"type", InputTypeName(in.type)},
                      {"default", std::move(d)},
                      {"choices", in.choices},
                      {"description", in.description}});
  }
  j["inputs"] = std::move(inputs);
  auto text = p.recipe.empty() ? std::nullopt : FindRecipe(p.recipe);
  j["rollback"] = text && RecipeSupportsRollback(*text);
}

void ControlRoutes::Audit(Exchange& ex, const Principal& who, const char* action,
                          const std::string& project, int64_t run, std::string detail) {
  engine_.control().Audit(
      {0, 0, ActorOf(who), action, project, run, auth_.Caller(ex), std::move(detail)});
}

net::awaitable<void> ControlRoutes::PauseRoute(Exchange& ex, const std::string& project,
                                               const Principal& who, bool pause) {
  if (!engine_.config().FindProject(project)) {
    co_return co_await SendApiError(ex, ApiError::kNotFound,
                                    fmt::format("no project named '{}'", project));
  }
  std::string reason;
  const std::string& body = ex.req().body();
  if (body.find_first_not_of(" \t\r\n") != std::string::npos) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_object()) {
      co_return co_await SendApiError(ex, ApiError::kBadJson,
                                      "send {\"reason\": \"why\"} as JSON, or no body");
    }
    for (auto& [key, value] : j.items()) {
      if (key != "reason") {
        co_return co_await SendApiError(
            ex, ApiError::kBadRequest,
            fmt::format("unknown field '{}'; the only one is reason", key));
      }
      if (!value.is_string()) {
        co_return co_await SendApiError(ex, ApiError::kBadRequest, "reason must be a string");
      }
      reason = value.get<std::string>();
    }
    if (reason.size() > kMaxReason) {
      co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                      fmt::format("reason is longer than {} bytes", kMaxReason));
    }
    for (char& c : reason) {
      if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    }
  }
  Control& control = engine_.control();
  if (pause) {
    auto p = control.Pause(project, ActorOf(who), reason, auth_.Caller(ex));
    if (!p.ok()) co_return co_await SendApiError(ex, ApiError::kInternal, p.status().message());
    LogInfo("project={} paused by {}{}", project, ActorOf(who),
            reason.empty() ? "" : ": " + reason);
    // Nothing deploys while paused: runs waiting in the queue end here (the
    // running one goes on; cancel it to stop it).
    auto runs = engine_.ListRuns(project, 200, 0);
    for (const Run& r : runs.ok() ? *runs : std::vector<Run>{}) {
      if (r.status != RunStatus::kQueued) continue;
      if (engine_.Cancel(r.id, "cancelled: the project was paused by " + ActorOf(who)).ok()) {
        Audit(ex, who, "cancel", project, r.id, "queued when the project was paused");
      }
    }
  } else {
    Status s = control.Resume(project, ActorOf(who), auth_.Caller(ex));
    if (!s.ok()) co_return co_await SendApiError(ex, ErrorForStatusCode(s.kind()), s.message());
    LogInfo("project={} resumed by {}", project, ActorOf(who));
  }
  nlohmann::json out = {{"project", project}, {"paused", PauseToJson(control.PauseOf(project))}};
  co_await ex.SendJson(http::status::ok, DumpJson(out));
}

net::awaitable<void> ControlRoutes::AuditRoute(Exchange& ex) {
  int64_t limit = kDefaultAuditLimit, before = 0;
  if (const std::string* l = ex.Query("limit")) {
    if (!ParseInt(*l, limit) || limit < 1 || limit > kMaxAuditLimit) {
      co_return co_await SendApiError(
          ex, ApiError::kBadRequest,
          fmt::format("limit must be a number from 1 to {}", kMaxAuditLimit));
    }
  }
  if (const std::string* b = ex.Query("before")) {
    if (!ParseInt(*b, before) || before < 1) {
      co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                      "before must be an audit entry id (a positive number)");
    }
  }
  std::string project;
  if (const std::string* p = ex.Query("project")) project = *p;
  auto entries = engine_.control().ListAudit(static_cast<int>(limit), before, project);
  if (!entries.ok()) {
    co_return co_await SendApiError(ex, ApiError::kInternal, entries.status().message());
  }
  nlohmann::json out = nlohmann::json::array();
  for (const AuditEntry& e : *entries) out.push_back(AuditToJson(e));
  co_await ex.SendJson(http::status::ok, DumpJson(out));
}

net::awaitable<bool> ControlRoutes::ResolveInputs(Exchange& ex, const ProjectConfig& p,
                                                  const nlohmann::json& given, Trigger& t) {
  ResolvedInputs r = ::jenky::ResolveInputs(p, given);
  if (r.ok()) {
    t.inputs = std::move(r.values);
    co_return true;
  }
  nlohmann::json fields = nlohmann::json::object();
  for (const auto& [name, why] : r.errors) fields[name.empty() ? "inputs" : name] = why;
  nlohmann::json err = {
      {"error", {{"code", "bad_request"}, {"message", r.Message()}, {"fields", fields}}}};
  co_await ex.SendJson(http::status::bad_request, DumpJson(err));
  co_return false;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace jenky
