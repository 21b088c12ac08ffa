#include "http/api.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "http/api_error.h"
#include "http/hook_route.h"
#include "http/http_stream.h"
#include "http/params.h"
#include "http/run_hosts.h"
#include "http/web_assets.h"
#include "server/poller.h"
#include "server/schedules.h"
#include "util/embedded.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/logger.h"
#include "util/time.h"
#include "webhook/webhook.h"

namespace jenky {
namespace {

constexpr int kDefaultLimit = 50;
constexpr int kMaxLimit = 500;

// How a route's pattern fits a path's segments.
enum class Fit { kNo, kYes, kBadId };

Fit Match(std::string_view pattern, const std::vector<std::string>& parts, Api::Args& args) {
  std::vector<std::string> want = SplitPath(std::string(pattern));
  if (want.size() != parts.size()) return Fit::kNo;
  Fit fit = Fit::kYes;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] == "{name}") {
      args.name = parts[i];
    } else if (want[i] == "{id}") {
      if (!ParseInt(parts[i], args.id)) fit = Fit::kBadId;
    } else if (want[i] != parts[i]) {
      return Fit::kNo;
    }
  }
  return fit;
}

// A route for any method (verb unknown) answers them all and says itself
// which it does not take.
bool Answers(http::verb route, http::verb asked) {
  return route == asked || route == http::verb::unknown ||
         (route == http::verb::get && asked == http::verb::head);
}

}  // namespace

const std::vector<Api::Route>& Api::Routes() {
  using v = http::verb;
  static const std::vector<Route> kRoutes = {
      {v::get, "/healthz", 0, &Api::Health},
      {v::get, "/api/v1/version", kScopeRead, &Api::Version},
      {v::post, "/api/v1/admin/restart", kScopeAdmin, &Api::Restart},
      {v::unknown, "/api/v1/session", 0, &Api::SessionRoute},  // GET, POST, DELETE: its own 405
      {v::get, "/api/v1/projects", kScopeRead, &Api::ListProjectsRoute},
      {v::get, "/api/v1/projects/{name}", kScopeRead, &Api::GetProjectRoute},
      {v::post, "/api/v1/projects/{name}/rollback", kScopeDeploy, &Api::RollbackRoute},
      {v::get, "/api/v1/projects/{name}/deliveries", kScopeRead, &Api::DeliveriesRoute},
      {v::get, "/api/v1/projects/{name}/runs", kScopeRead, &Api::ListProjectRunsRoute},
      {v::post, "/api/v1/projects/{name}/runs", kScopeDeploy, &Api::TriggerRoute},
      {v::get, "/api/v1/runs", kScopeRead, &Api::ListAllRunsRoute},
      {v::get, "/api/v1/runs/{id}", kScopeRead, &Api::GetRunRoute},
      {v::post, "/api/v1/runs/{id}/cancel", kScopeDeploy, &Api::CancelRoute},
      {v::get, "/api/v1/runs/{id}/log", kScopeRead, &Api::LogRoute},
      {v::get, "/api/v1/runs/{id}/log/times", kScopeRead, &Api::TimesRoute},
      {v::get, "/api/v1/runs/{id}/script", kScopeRead, &Api::ScriptRoute},
      {v::get, "/ws/v1/runs/{name}/log", 0, &Api::RunSocketRoute},
      {v::get, "/ws/v1/projects/{name}/log", 0, &Api::ProjectSocketRoute},
      {v::post, "/hooks/{name}", 0, &Api::HookRoute},
      {v::get, "/api/v1/runs/{id}/messages", kScopeRead, &Api::RunMessagesRoute},
      {v::get, "/api/v1/projects/{name}/messages", kScopeRead, &Api::ProjectMessagesRoute},
      {v::get, "/metrics", kScopeRead, &Api::MetricsRoute},
      {v::post, "/api/v1/projects/{name}/pause", kScopeDeploy, &Api::PauseRoute},
      {v::post, "/api/v1/projects/{name}/resume", kScopeDeploy, &Api::ResumeRoute},
      {v::get, "/api/v1/audit", kScopeAdmin, &Api::AuditRoute},
  };
  return kRoutes;
}

Api::Api(Engine& engine, std::string web_dir, std::function<void()> restart)
    : engine_(engine),
      auth_(engine),
      logs_(engine, auth_),
      controls_(engine, auth_),
      web_dir_(std::move(web_dir)),
      restart_(std::move(restart)) {}

net::awaitable<void> Api::Handle(Exchange& ex) {
  if (ex.bad_path()) {
    co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                    "the request path has a malformed %-escape");
  }
  std::vector<std::string> parts = SplitPath(ex.path());
  bool is_hook = parts.size() == 2 && parts[0] == "hooks";
  bool is_health = parts.size() == 1 && parts[0] == "healthz";
  bool is_metrics = parts.size() == 1 && parts[0] == "metrics";  // Prometheus: read scope
  if (!co_await auth_.Guard(ex, is_hook, is_health)) co_return;
  http::verb method = ex.req().method();

  auto not_allowed = [&](const std::string& allow) -> net::awaitable<void> {
    ex.extra_headers().emplace_back("Allow", allow);
    co_await SendApiError(ex, ApiError::kMethodNotAllowed,
                          fmt::format("{} is not allowed on {}; use {}",
                                      std::string(ex.req().method_string()), ex.path(), allow));
  };
  bool api_path = !parts.empty() &&
                  (parts[0] == "api" || parts[0] == "ws" || parts[0] == "hooks" || is_metrics);
  if (!api_path && !is_health) {
    // The UI's files, and its own routes (/projects/x, /runs/42) as index.html.
    if (method != http::verb::get && method != http::verb::head)
      co_return co_await not_allowed("GET");
    co_return co_await ServeWebAsset(ex, web_dir_);
  }

  Args args;
  std::vector<const Route*> fitting;  // the path's routes, whatever their method
  bool bad_id = false;
  for (const Route& r : Routes()) {
    Fit fit = Match(r.pattern, parts, args);
    if (fit == Fit::kYes) fitting.push_back(&r);
    bad_id = bad_id || fit == Fit::kBadId;
  }
  // /api/v1/ but for the session: authenticated first (and limited when
  // nothing is proved), whether the route exists or not.
  bool scoped = (is_metrics || (parts.size() >= 3 && parts[0] == "api" && parts[1] == "v1")) &&
                !(fitting.size() > 0 && fitting.front()->scope == 0);
  Principal p;
  if (scoped) {
    p = auth_.Authenticate(ex);
    if (p.scopes == 0 && !co_await auth_.CheckRateLimit(ex, auth_.auth_failures())) co_return;
  }
  if (fitting.empty()) {
    int64_t id = 0;
    if (bad_id || (scoped && parts.size() >= 4 && parts[2] == "runs" && !ParseInt(parts[3], id))) {
      co_return co_await SendApiError(
          ex, ApiError::kNotFound,
          fmt::format("'{}' is not a run id; run ids are numbers", parts[3]));
    }
    co_return co_await SendApiError(ex, ApiError::kNotFound,
                                    fmt::format("no such endpoint: {}", ex.path()));
  }
  const Route* route = nullptr;
  std::string allow;
  for (const Route* r : fitting) {
    if (!route && Answers(r->method, method)) route = r;
    std::string name(http::to_string(r->method));
    if (allow.find(name) == std::string::npos) allow += (allow.empty() ? "" : ", ") + name;
  }
  if (!route) co_return co_await not_allowed(allow);
  if (route->scope != 0 && !co_await auth_.Require(ex, p, route->scope)) co_return;
  co_await (this->*(route->handler))(ex, args, p);
}

// --- route adapters: the table's signature to the handlers' ---------------

net::awaitable<void> Api::Health(Exchange& ex, const Args&, const Principal&) {
  Response res{http::status::ok, ex.req().version()};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = "ok\n";
  co_await ex.Send(std::move(res));
}

net::awaitable<void> Api::Version(Exchange& ex, const Args&, const Principal&) {
  nlohmann::json j = {{"version", JENKY_VERSION}, {"running", engine_.RunningCount()}};
  co_await ex.SendJson(http::status::ok, DumpJson(j));
}

net::awaitable<void> Api::Restart(Exchange& ex, const Args&, const Principal& p) {
  if (!restart_) {
    co_return co_await SendApiError(ex, ApiError::kConflict, "this jenky cannot restart itself");
  }
  if (restart_check_) {
    if (Status s = restart_check_(); !s.ok()) {
      LogError("restart requested by {} refused: {}", p.name, s.message());
      co_return co_await SendApiError(ex, ApiError::kConflict, "restart refused: " + s.message());
    }
  }
  LogInfo("restart requested by {}: re-executing; running deploys continue", p.name);
  controls_.Audit(ex, p, "upgrade", "", 0, "re-executing the binary (jenky upgrade)");
  ex.set_keep_alive(false);
  co_await ex.SendJson(http::status::accepted, "{\"restarting\":true}");
  net::post(ex.stream().get_executor(), restart_);
}

net::awaitable<void> Api::SessionRoute(Exchange& ex, const Args&, const Principal&) {
  co_await auth_.SessionRoute(ex);
}
net::awaitable<void> Api::ListProjectsRoute(Exchange& ex, const Args&, const Principal&) {
  co_await ListProjects(ex);
}
net::awaitable<void> Api::GetProjectRoute(Exchange& ex, const Args& a, const Principal&) {
  co_await GetProject(ex, a.name);
}
net::awaitable<void> Api::TriggerRoute(Exchange& ex, const Args& a, const Principal& p) {
  co_await TriggerRun(ex, a.name, p);
}
net::awaitable<void> Api::RollbackRoute(Exchange& ex, const Args& a, const Principal& p) {
  co_await Rollback(ex, a.name, p);
}
net::awaitable<void> Api::DeliveriesRoute(Exchange& ex, const Args& a, const Principal&) {
  co_await ListDeliveries(ex, a.name);
}
net::awaitable<void> Api::ListProjectRunsRoute(Exchange& ex, const Args& a, const Principal&) {
  co_await ListRuns(ex, a.name);
}
net::awaitable<void> Api::ListAllRunsRoute(Exchange& ex, const Args&, const Principal&) {
  co_await ListRuns(ex, "");
}
net::awaitable<void> Api::GetRunRoute(Exchange& ex, const Args& a, const Principal&) {
  co_await GetRun(ex, a.id);
}
net::awaitable<void> Api::CancelRoute(Exchange& ex, const Args& a, const Principal& p) {
  co_await CancelRun(ex, a.id, p);
}
net::awaitable<void> Api::LogRoute(Exchange& ex, const Args& a, const Principal&) {
  co_await logs_.GetLog(ex, a.id);
}
net::awaitable<void> Api::TimesRoute(Exchange& ex, const Args& a, const Principal&) {
  co_await logs_.GetTimes(ex, a.id);
}
net::awaitable<void> Api::PauseRoute(Exchange& ex, const Args& a, const Principal& p) {
  co_await controls_.PauseRoute(ex, a.name, p, true);
}
net::awaitable<void> Api::ResumeRoute(Exchange& ex, const Args& a, const Principal& p) {
  co_await controls_.PauseRoute(ex, a.name, p, false);
}
net::awaitable<void> Api::AuditRoute(Exchange& ex, const Args&, const Principal&) {
  co_await controls_.AuditRoute(ex);
}
net::awaitable<void> Api::ScriptRoute(Exchange& ex, const Args& a, const Principal&) {
  co_await GetScript(ex, a.id);
}
net::awaitable<void> Api::RunSocketRoute(Exchange& ex, const Args& a, const Principal&) {
  co_await logs_.Socket(ex, false, a.name);
}
net::awaitable<void> Api::ProjectSocketRoute(Exchange& ex, const Args& a, const Principal&) {
  co_await logs_.Socket(ex, true, a.name);
}
net::awaitable<void> Api::HookRoute(Exchange& ex, const Args& a, const Principal&) {
  co_await ServeHook(ex, engine_, auth_, a.name);
}

// --- handlers ----------------------------------------------------------------

// GCC 12 takes Asio's awaitable frame allocator (recycled, sized delete) for
// a mismatched new/delete pair once enough of a coroutine is inlined: a known
// false positive (GCC PR middle-end/109224), as in http/server.cc.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

net::awaitable<void> Api::ListProjects(Exchange& ex) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : engine_.config().projects) {
    auto last = engine_.LastRun(p.name);
    if (!last.ok()) {
      co_return co_await SendApiError(ex, ApiError::kInternal, last.status().message());
    }
    out.push_back(
        {{"name", p.name},
         {"description", p.description},
         {"last_run", last->has_value() ? ListedRunJson(**last) : nlohmann::json(nullptr)},
         {"paused", PauseToJson(engine_.control().PauseOf(p.name))}});
  }
  co_await ex.SendJson(http::status::ok, DumpJson(out));
}

net::awaitable<void> Api::GetProject(Exchange& ex, const std::string& name) {
  const ProjectConfig* p = engine_.config().FindProject(name);
  if (!p) {
    co_return co_await SendApiError(ex, ApiError::kNotFound,
                                    fmt::format("no project named '{}'", name));
  }
  auto last = engine_.LastRun(p->name);
  if (!last.ok()) {
    co_return co_await SendApiError(ex, ApiError::kInternal, last.status().message());
  }
  nlohmann::json j = {
      {"name", p->name},
      {"description", p->description},
      {"last_run", last->has_value() ? ListedRunJson(**last) : nlohmann::json(nullptr)},
      {"workdir", WorkdirOf(engine_.config().server, *p)},
      {"shell", p->shell},
      {"timeout", FormatDuration(p->timeout)},
      {"timeout_seconds", p->timeout.count() / 1000},
      {"concurrency", ConcurrencyName(p->concurrency)},
      {"keep_runs", p->keep_runs},
      {"source", !p->recipe.empty()        ? "recipe"
                 : !p->script_file.empty() ? "script_file"
                                           : "script"},
      {"recipe", p->recipe.empty() ? nlohmann::json(nullptr) : nlohmann::json(p->recipe)},
      {"script_file",
       p->script_file.empty() ? nlohmann::json(nullptr) : nlohmann::json(p->script_file)},
      {"env_names", nlohmann::json::array()},
      {"secret_names", nlohmann::json::array()},
      {"webhook", nullptr},
  };
  AddProjectFacts(engine_, *p, j);
  for (const auto& [k, v] : p->env) j["env_names"].push_back(k);
  for (const auto& [k, v] : p->secrets) j["secret_names"].push_back(k);
  if (p->webhook) {
    j["webhook"] = {{"provider", p->webhook->provider},   {"branches", p->webhook->branches},
                    {"tags", p->webhook->tags},           {"events", p->webhook->events},
                    {"workflows", p->webhook->workflows}, {"url", "/hooks/" + p->name}};
  }
  j["poll"] = PollJson(*p);
  j["schedule"] = schedules_ ? ScheduleJson(*p, schedules_->book()) : nlohmann::json(nullptr);
  co_await ex.SendJson(http::status::ok, DumpJson(j));
}

// REF (a trigger body's "ref") into T.ref and T.branch ("main" is
// refs/heads/main); what is wrong with it, or "".
static std::string SetRef(const std::string& ref, Trigger& t) {
  if (ref.empty() || ref.size() > 255 || HasControlChars(ref)) {
    return "ref must be 1-255 printable characters, like refs/heads/main";
  }
  if (std::string why = RefProblem(ref); !why.empty()) return why;
  t.ref = ref;
  if (t.ref.rfind("refs/heads/", 0) == 0) t.branch = t.ref.substr(11);
  else if (t.ref.find('/') == std::string::npos) {
    t.branch = t.ref;
    t.ref = "refs/heads/" + t.ref;
  }
  return "";
}

net::awaitable<void> Api::TriggerRun(Exchange& ex, const std::string& project,
                                     const Principal& who) {
  const ProjectConfig* pc = engine_.config().FindProject(project);
  if (!pc) {
    co_return co_await SendApiError(ex, ApiError::kNotFound,
                                    fmt::format("no project named '{}'", project));
  }
  Trigger t;
  t.kind = TriggerKind::kApi;
  t.actor = who.name;
  nlohmann::json inputs;  // null: none given
  const std::string& body = ex.req().body();
  if (body.find_first_not_of(" \t\r\n") != std::string::npos) {
    std::string type = ex.Header("Content-Type");
    if (type.rfind("application/json", 0) != 0) {
      co_return co_await SendApiError(ex, ApiError::kUnsupportedMediaType,
                                      "send the body as JSON with Content-Type: application/json");
    }
    if (!co_await CheckJsonDepth(ex, engine_.config().server.max_json_depth)) co_return;
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded()) {
      std::string why;
      try {
        nlohmann::json ignored = nlohmann::json::parse(body);
      } catch (const nlohmann::json::exception& e) {  // parse_error; out_of_range: huge numbers
        why = e.what();
      }
      co_return co_await SendApiError(ex, ApiError::kBadJson,
                                      "request body is not valid JSON: " + why);
    }
    if (!j.is_object()) {
      co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                      "request body must be a JSON object like {\"ref\": "
                                      "\"refs/heads/main\", \"commit\": \"9f1c...\"}");
    }
    if (auto it = j.find("inputs"); it != j.end()) {
      inputs = *it;
      j.erase(it);
    }
    for (auto& [key, value] : j.items()) {
      if (key != "ref" && key != "commit" && key != "kind") {
        co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                        fmt::format("unknown field '{}'; known fields are ref, "
                                                    "commit, kind and inputs",
                                                    key));
      }
      if (!value.is_string()) {
        co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                        fmt::format("field '{}' must be a string", key));
      }
    }
    std::string bad_ref = j.contains("ref") ? SetRef(j["ref"].get<std::string>(), t) : "";
    if (!bad_ref.empty()) co_return co_await SendApiError(ex, ApiError::kBadRequest, bad_ref);
    if (j.contains("commit")) {
      t.commit = j["commit"].get<std::string>();
      if (t.commit.size() < 4 || t.commit.size() > 64 || !IsHex(t.commit)) {
        co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                        "commit must be a hex commit id of 4 to 64 digits");
      }
    }
    if (j.contains("kind")) {
      auto k = ParseTriggerKind(j["kind"].get<std::string>());
      if (!k ||
          (*k != TriggerKind::kManual && *k != TriggerKind::kApi && *k != TriggerKind::kCli)) {
        co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                        "kind must be manual, api or cli");
      }
      t.kind = *k;
    }
  }
  if (!co_await controls_.ResolveInputs(ex, *pc, inputs, t)) co_return;
  auto run = engine_.Trigger(project, t);
  if (!run.ok()) {
    const Status& s = run.status();
    co_return co_await SendApiError(ex, ErrorForStatusCode(s.kind()), s.message());
  }
  controls_.Audit(ex, who, "trigger", project, run->id, TriggerKindName(t.kind));
  ex.extra_headers().emplace_back("Location", fmt::format("/api/v1/runs/{}", run->id));
  co_await ex.SendJson(http::status::accepted, RunJsonText(*run));
}

net::awaitable<void> Api::Rollback(Exchange& ex, const std::string& project, const Principal& who) {
  if (!co_await CheckJsonDepth(ex, engine_.config().server.max_json_depth)) co_return;
  const ProjectConfig* p = engine_.config().FindProject(project);
  if (!p) {
    co_return co_await SendApiError(ex, ApiError::kNotFound,
                                    fmt::format("no project named '{}'", project));
  }
  auto text = p->recipe.empty() ? std::nullopt : FindRecipe(p->recipe);
  // A fleet project keeps releases on every host (docs/fleet.md).
  if (!p->fleet && (!text || !RecipeSupportsRollback(*text))) {
    co_return co_await SendApiError(
        ex, ApiError::kConflict,
        fmt::format("project '{}' does not keep releases to roll back to; rollback needs a recipe "
                    "that keeps them (systemd-release, static-site) or targets",
                    project));
  }
  Trigger t;
  t.kind = TriggerKind::kApi;
  t.actor = who.name;
  t.action = "rollback";
  auto j = nlohmann::json::parse(ex.req().body(), nullptr, false);
  if (j.is_object()) {
    if (auto kind = j.find("kind"); kind != j.end() && kind->is_string()) {
      auto k = ParseTriggerKind(kind->get<std::string>());
      if (k && (*k == TriggerKind::kManual || *k == TriggerKind::kCli)) t.kind = *k;
    }
    if (auto to = j.find("to"); to != j.end() && !to->is_null()) {
      if (!to->is_number_integer() || to->get<int64_t>() < 1) {
        co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                        "to must be the id of an earlier run of the project");
      }
      t.rollback_to = to->get<int64_t>();
      auto target = engine_.GetRun(t.rollback_to);
      if (!target.ok() || !target->has_value() || (*target)->project != project ||
          (*target)->status != RunStatus::kSucceeded || (*target)->trigger.action != "deploy") {
        co_return co_await SendApiError(
            ex, ApiError::kBadRequest,
            fmt::format("run {} is not a succeeded deploy of '{}': only those made a release",
                        t.rollback_to, project));
      }
    }
  } else if (!ex.req().body().empty()) {
    co_return co_await SendApiError(
        ex, ApiError::kBadJson,
        "send {\"to\": RUN_ID} as JSON, or no body for the previous release");
  }
  auto run = engine_.Trigger(project, t);
  if (!run.ok()) {
    const Status& s = run.status();
    co_return co_await SendApiError(ex, ErrorForStatusCode(s.kind()), s.message());
  }
  controls_.Audit(
      ex, who, "rollback", project, run->id,
      t.rollback_to ? fmt::format("to run {}", t.rollback_to) : "to the previous release");
  ex.extra_headers().emplace_back("Location", fmt::format("/api/v1/runs/{}", run->id));
  co_await ex.SendJson(http::status::accepted, RunJsonText(*run));
}

nlohmann::json Api::ListedRunJson(const Run& r) {
  return jenky::ListedRunJson(r, engine_.config().FindProject(r.project), engine_.LogPath(r.id));
}

net::awaitable<void> Api::ListRuns(Exchange& ex, const std::string& project) {
  if (!project.empty() && !engine_.config().FindProject(project)) {
    // Runs of a project removed from the config are still listed if any exist.
    auto any = engine_.ListRuns(project, 1, 0);
    if (!any.ok() || any->empty()) {
      co_return co_await SendApiError(ex, ApiError::kNotFound,
                                      fmt::format("no project named '{}'", project));
    }
  }
  int64_t limit = kDefaultLimit, before = 0;
  if (const std::string* l = ex.Query("limit")) {
    if (!ParseInt(*l, limit) || limit < 1 || limit > kMaxLimit) {
      co_return co_await SendApiError(
          ex, ApiError::kBadRequest, fmt::format("limit must be a number from 1 to {}", kMaxLimit));
    }
  }
  if (const std::string* b = ex.Query("before")) {
    if (!ParseInt(*b, before) || before < 1) {
      co_return co_await SendApiError(ex, ApiError::kBadRequest,
                                      "before must be a run id (a positive number)");
    }
  }
  auto runs = engine_.ListRuns(project, static_cast<int>(limit), before);
  if (!runs.ok()) {
    co_return co_await SendApiError(ex, ApiError::kInternal, runs.status().message());
  }
  std::string out = "[";
  for (const Run& r : *runs) {
    if (out.size() > 1) out += ',';
    out += ListedRunText(r, engine_.config().FindProject(r.project), engine_.LogPath(r.id));
  }
  out += ']';
  co_await ex.SendJson(http::status::ok, std::move(out));
}

net::awaitable<void> Api::GetRun(Exchange& ex, int64_t id) {
  auto run = engine_.GetRun(id);
  if (!run.ok()) {
    co_return co_await SendApiError(ex, ApiError::kInternal, run.status().message());
  }
  if (!run->has_value()) {
    co_return co_await SendApiError(ex, ApiError::kNotFound, fmt::format("no run with id {}", id));
  }
  co_await ex.SendJson(http::status::ok,
                       DumpJson(RunJsonWithHosts(**run, engine_.LogPath((*run)->id))));
}

net::awaitable<void> Api::CancelRun(Exchange& ex, int64_t id, const Principal& who) {
  auto run = engine_.Cancel(id, "cancelled by " + who.name);
  if (!run.ok()) {
    const Status& s = run.status();
    co_return co_await SendApiError(ex, ErrorForStatusCode(s.kind()), s.message());
  }
  controls_.Audit(ex, who, "cancel", run->project, id);
  co_await ex.SendJson(http::status::accepted, RunJsonText(*run));
}

net::awaitable<void> Api::GetScript(Exchange& ex, int64_t id) {
  auto run = engine_.GetRun(id);
  if (!run.ok() || !run->has_value()) {
    co_return co_await SendApiError(ex, ApiError::kNotFound, fmt::format("no run with id {}", id));
  }
  auto text = ReadFile(engine_.ScriptPath(id));
  if (!text.ok()) {
    co_return co_await SendApiError(ex, ApiError::kGone,
                                    (*run)->log_pruned
                                        ? "this run's files were pruned (keep_runs)"
                                        : "this run has no script: it never started");
  }
  Response res{http::status::ok, ex.req().version()};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  if (!(*run)->recipe.empty()) res.set("X-Jenky-Recipe", (*run)->recipe);
  res.set("X-Jenky-Script-Sha256", (*run)->script_sha256);
  res.body() = std::move(*text);
  co_await ex.Send(std::move(res));
}

net::awaitable<void> Api::ListDeliveries(Exchange& ex, const std::string& project) {
  if (!engine_.config().FindProject(project)) {
    co_return co_await SendApiError(ex, ApiError::kNotFound,
                                    fmt::format("no project named '{}'", project));
  }
  int64_t limit = kDeliveriesKept;
  if (const std::string* l = ex.Query("limit")) {
    if (!ParseInt(*l, limit) || limit < 1 || limit > kDeliveriesKept) {
      co_return co_await SendApiError(
          ex, ApiError::kBadRequest,
          fmt::format("limit must be a number from 1 to {}", kDeliveriesKept));
    }
  }
  auto list = engine_.ListDeliveries(project, static_cast<int>(limit));
  if (!list.ok()) {
    co_return co_await SendApiError(ex, ApiError::kInternal, list.status().message());
  }
  nlohmann::json out = nlohmann::json::array();
  for (const Delivery& d : *list) {
    out.push_back(
        {{"id", d.id},
         {"received_at", FormatRfc3339(d.received_at)},
         {"provider", d.provider},
         {"event", d.event.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.event)},
         {"delivery", d.delivery.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.delivery)},
         {"result", d.result},
         {"status", d.status},
         {"reason", d.reason},
         {"run_id", d.run_id > 0 ? nlohmann::json(d.run_id) : nlohmann::json(nullptr)},
         {"remote", d.remote},
         {"count", d.count},
         {"last_at", FormatRfc3339(d.last_at ? d.last_at : d.received_at)}});
  }
  co_await ex.SendJson(http::status::ok, DumpJson(out));
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace jenky
