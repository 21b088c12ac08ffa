#include "http/api.h"
#include "util/json.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <boost/beast/websocket/rfc6455.hpp>

#include "exec/log_index.h"
#include "http/http_stream.h"
#include "http/log_hub.h"
#include "util/embedded.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/logger.h"
#include "util/time.h"
#include "webhook/webhook.h"

namespace jenky {

namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr const char* kCookie = "jenky_session";
constexpr int kDefaultLimit = 50;
constexpr int kMaxLimit = 500;
constexpr size_t kLogChunk = 64 * 1024;

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

// Parses a non-negative integer; false for anything else.
bool ParseInt(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out >= 0;
}

nlohmann::json ScopesJson(unsigned scopes) {
  nlohmann::json out = nlohmann::json::array();
  if (scopes & kScopeRead) out.push_back("read");
  if (scopes & kScopeDeploy) out.push_back("deploy");
  if (scopes & kScopeAdmin) out.push_back("admin");
  return out;
}

std::string CookieValue(const std::string& header, std::string_view name) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string_view part(header.data() + pos, end - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name &&
        part[name.size()] == '=') {
      return std::string(part.substr(name.size() + 1));
    }
    pos = end + 1;
  }
  return "";
}

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool HasControlChars(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

Api::Api(Engine& engine, std::string web_dir, std::function<void()> restart)
    : engine_(engine), web_dir_(std::move(web_dir)), restart_(std::move(restart)),
      auth_failures_(engine.config().server.max_auth_failures),
      hook_failures_(engine.config().server.max_auth_failures) {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0) machine_name_ = name;
}

const SitePolicy& Api::Policy() {
  const ServerConfig& s = engine_.config().server;
  if (!policy_made_ || s.public_url != policy_public_url_ || s.allowed_hosts != policy_hosts_ ||
      s.allowed_origins != policy_origins_ || s.trusted_proxies != policy_proxies_) {
    policy_ = SitePolicy(s, machine_name_);
    auto proxies = AddressSet::Parse(s.trusted_proxies);  // checked when the config loaded
    proxies_ = proxies.ok() ? *proxies : AddressSet();
    policy_proxies_ = s.trusted_proxies;
    policy_public_url_ = s.public_url;
    policy_hosts_ = s.allowed_hosts;
    policy_origins_ = s.allowed_origins;
    policy_made_ = true;
  }
  return policy_;
}

std::string Api::Caller(const Exchange& ex) {
  Policy();  // proxies_ follows reloads with it
  return ClientAddress(ex.remote().to_string(), ex.Header("X-Forwarded-For"), proxies_);
}

net::awaitable<bool> Api::Guard(Exchange& ex, bool webhook, bool health) {
  const Request& req = ex.req();
  std::string host = ex.Header("Host"), origin = ex.Header("Origin"),
              fetch_site = ex.Header("Sec-Fetch-Site"), type = ex.Header("Content-Type");
  GuardInput in;
  in.method = req.method_string();
  in.host = host;
  in.origin = origin;
  in.sec_fetch_site = fetch_site;
  in.content_type = type;
  in.has_body = req.body().find_first_not_of(" \t\r\n") != std::string::npos;
  in.secure = ex.secure();
  in.webhook = webhook;
  in.health = health;
  GuardVerdict v = CheckRequest(Policy(), in);
  if (v == GuardVerdict::kOk) co_return true;
  GuardAnswer a = AnswerFor(v, in);
  if (v != GuardVerdict::kNotJson) {
    int64_t held_back = 0;
    std::string caller = Caller(ex);
    if (rejection_log_.Allow(caller, NowMillis(), &held_back)) {
      LogWarning("{} {} from {} refused: {}{}", std::string(req.method_string()), ex.path(), caller,
                 a.message, held_back ? fmt::format(" ({} more not logged)", held_back) : "");
    }
  }
  co_await ex.SendError(static_cast<http::status>(a.status), a.code, a.message);
  co_return false;
}

Principal Api::Authenticate(const Exchange& ex) {
  const Config& c = engine_.config();
  if (c.tokens.empty()) return {"local", kAllScopes};
  std::string auth = ex.Header("Authorization");
  if (auth.size() > 7 && strncasecmp(auth.c_str(), "Bearer ", 7) == 0) {
    std::string hash = Sha256Hex(std::string_view(auth).substr(7));
    // Compare against every token so timing does not reveal which one matched.
    const TokenConfig* match = nullptr;
    for (const auto& t : c.tokens) {
      if (ConstantTimeEquals(hash, t.sha256)) match = &t;
    }
    if (match) return {match->name, match->scopes};
    auth_failures_.RecordFailure(Caller(ex), NowMillis());
    return {};
  }
  std::string cookie = CookieValue(ex.Header("Cookie"), kCookie);
  if (!cookie.empty()) {
    auto it = sessions_.find(Sha256Hex(cookie));
    if (it != sessions_.end()) {
      if (it->second.expires_at > NowMillis()) return {it->second.name, it->second.scopes};
      sessions_.erase(it);
    }
  }
  return {};
}

net::awaitable<bool> Api::Require(Exchange& ex, const Principal& p, unsigned scope) {
  if (p.scopes & scope) co_return true;
  if (p.scopes == 0) {
    ex.extra_headers().emplace_back("WWW-Authenticate", "Bearer realm=\"jenky\"");
    co_await ex.SendError(http::status::unauthorized, "unauthorized",
                          "missing or invalid token: send Authorization: Bearer TOKEN, or sign "
                          "in through POST /api/v1/session");
    co_return false;
  }
  const char* name = scope == kScopeRead ? "read" : scope == kScopeDeploy ? "deploy" : "admin";
  co_await ex.SendError(http::status::forbidden, "forbidden",
                        fmt::format("token '{}' lacks the '{}' scope this needs", p.name, name));
  co_return false;
}

net::awaitable<bool> Api::CheckJsonDepth(Exchange& ex) {
  int max = engine_.config().server.max_json_depth;
  if (!JsonNestedDeeperThan(ex.req().body(), max)) co_return true;
  co_await ex.SendError(http::status::bad_request, "bad_json",
                        fmt::format("request body nests arrays and objects more than {} levels "
                                    "deep ([server] max_json_depth)", max));
  co_return false;
}

net::awaitable<void> Api::Handle(Exchange& ex) {
  if (ex.bad_path()) {
    co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                    "the request path has a malformed %-escape");
  }
  auto parts = Split(ex.path());
  http::verb method = ex.req().method();
  bool get = method == http::verb::get || method == http::verb::head;
  bool post = method == http::verb::post;

  auto not_allowed = [&](const char* allow) -> net::awaitable<void> {
    ex.extra_headers().emplace_back("Allow", allow);
    co_await ex.SendError(http::status::method_not_allowed, "method_not_allowed",
                          fmt::format("{} is not allowed on {}; use {}",
                                      std::string(ex.req().method_string()), ex.path(), allow));
  };

  bool is_hook = parts.size() == 2 && parts[0] == "hooks";
  bool is_health = parts.size() == 1 && parts[0] == "healthz";
  if (!co_await Guard(ex, is_hook, is_health)) co_return;
  if (is_health) {
    if (!get) co_return co_await not_allowed("GET");
    Response res{http::status::ok, ex.req().version()};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "ok\n";
    co_return co_await ex.Send(std::move(res));
  }
  bool api_path = !parts.empty() && (parts[0] == "api" || parts[0] == "ws" || parts[0] == "hooks");
  if (!api_path) {
    if (!get) co_return co_await not_allowed("GET");
    co_return co_await ServeWebAsset(ex);
  }
  if (parts.size() == 5 && parts[0] == "ws" && parts[1] == "v1" && parts[4] == "log" &&
      (parts[2] == "runs" || parts[2] == "projects")) {
    if (!get) co_return co_await not_allowed("GET");
    co_return co_await LogSocketRoute(ex, parts[2] == "projects", parts[3]);
  }
  if (parts.size() == 2 && parts[0] == "hooks") {
    if (!post) co_return co_await not_allowed("POST");
    co_return co_await Hook(ex, parts[1]);
  }
  if (parts.size() < 3 || parts[0] != "api" || parts[1] != "v1") {
    co_return co_await ex.SendError(http::status::not_found, "not_found",
                                    fmt::format("no such endpoint: {}", ex.path()));
  }
  const std::string& kind = parts[2];
  if (kind == "session" && parts.size() == 3) co_return co_await Session(ex);

  Principal p = Authenticate(ex);
  if (p.scopes == 0 && !co_await CheckRateLimit(ex, auth_failures_)) co_return;
  if (kind == "version" && parts.size() == 3) {
    if (!get) co_return co_await not_allowed("GET");
    if (!co_await Require(ex, p, kScopeRead)) co_return;
    nlohmann::json j = {{"version", JENKY_VERSION}, {"running", engine_.RunningCount()}};
    co_return co_await ex.SendJson(http::status::ok, DumpJson(j));
  }
  if (kind == "admin" && parts.size() == 4 && parts[3] == "restart") {
    if (!post) co_return co_await not_allowed("POST");
    if (!co_await Require(ex, p, kScopeAdmin)) co_return;
    if (!restart_) {
      co_return co_await ex.SendError(http::status::conflict, "conflict",
                                      "this jenky cannot restart itself");
    }
    if (restart_check_) {
      if (Status s = restart_check_(); !s.ok()) {
        LogError("restart requested by {} refused: {}", p.name, s.message());
        co_return co_await ex.SendError(http::status::conflict, "conflict",
                                        "restart refused: " + s.message());
      }
    }
    LogInfo("restart requested by {}: re-executing; running deploys continue", p.name);
    ex.set_keep_alive(false);
    co_await ex.SendJson(http::status::accepted, "{\"restarting\":true}");
    net::post(ex.stream().get_executor(), restart_);
    co_return;
  }
  if (kind == "projects") {
    if (parts.size() == 3) {
      if (!get) co_return co_await not_allowed("GET");
      if (!co_await Require(ex, p, kScopeRead)) co_return;
      co_return co_await ListProjects(ex);
    }
    const std::string& name = parts[3];
    if (parts.size() == 4) {
      if (!get) co_return co_await not_allowed("GET");
      if (!co_await Require(ex, p, kScopeRead)) co_return;
      co_return co_await GetProject(ex, name);
    }
    if (parts.size() == 5 && parts[4] == "rollback") {
      if (!post) co_return co_await not_allowed("POST");
      if (!co_await Require(ex, p, kScopeDeploy)) co_return;
      co_return co_await Rollback(ex, name, p);
    }
    if (parts.size() == 5 && parts[4] == "deliveries") {
      if (!get) co_return co_await not_allowed("GET");
      if (!co_await Require(ex, p, kScopeRead)) co_return;
      co_return co_await ListDeliveries(ex, name);
    }
    if (parts.size() == 5 && parts[4] == "runs") {
      if (post) {
        if (!co_await Require(ex, p, kScopeDeploy)) co_return;
        co_return co_await TriggerRun(ex, name, p);
      }
      if (!get) co_return co_await not_allowed("GET, POST");
      if (!co_await Require(ex, p, kScopeRead)) co_return;
      co_return co_await ListRuns(ex, name);
    }
  } else if (kind == "runs") {
    if (parts.size() == 3) {
      if (!get) co_return co_await not_allowed("GET");
      if (!co_await Require(ex, p, kScopeRead)) co_return;
      co_return co_await ListRuns(ex, "");
    }
    int64_t id;
    if (!ParseInt(parts[3], id)) {
      co_return co_await ex.SendError(http::status::not_found, "not_found",
                                      fmt::format("'{}' is not a run id; run ids are numbers", parts[3]));
    }
    if (parts.size() == 4) {
      if (!get) co_return co_await not_allowed("GET");
      if (!co_await Require(ex, p, kScopeRead)) co_return;
      co_return co_await GetRun(ex, id);
    }
    if (parts.size() == 5 && parts[4] == "cancel") {
      if (!post) co_return co_await not_allowed("POST");
      if (!co_await Require(ex, p, kScopeDeploy)) co_return;
      co_return co_await CancelRun(ex, id, p);
    }
    if (parts.size() == 5 && parts[4] == "log") {
      if (!get) co_return co_await not_allowed("GET");
      if (!co_await Require(ex, p, kScopeRead)) co_return;
      co_return co_await GetLog(ex, id);
    }
    if (parts.size() == 5 && parts[4] == "script") {
      if (!get) co_return co_await not_allowed("GET");
      if (!co_await Require(ex, p, kScopeRead)) co_return;
      co_return co_await GetScript(ex, id);
    }
  }
  co_await ex.SendError(http::status::not_found, "not_found",
                        fmt::format("no such endpoint: {}", ex.path()));
}

net::awaitable<void> Api::ListProjects(Exchange& ex) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : engine_.config().projects) {
    auto last = engine_.LastRun(p.name);
    if (!last.ok()) {
      co_return co_await ex.SendError(http::status::internal_server_error, "internal",
                                      last.status().message());
    }
    out.push_back({{"name", p.name},
                   {"description", p.description},
                   {"last_run", last->has_value() ? RunToJson(**last) : nlohmann::json(nullptr)}});
  }
  co_await ex.SendJson(http::status::ok, DumpJson(out));
}

net::awaitable<void> Api::GetProject(Exchange& ex, const std::string& name) {
  const ProjectConfig* p = engine_.config().FindProject(name);
  if (!p) {
    co_return co_await ex.SendError(http::status::not_found, "not_found",
                                    fmt::format("no project named '{}'", name));
  }
  auto last = engine_.LastRun(p->name);
  if (!last.ok()) {
    co_return co_await ex.SendError(http::status::internal_server_error, "internal",
                                    last.status().message());
  }
  nlohmann::json j = {
      {"name", p->name},
      {"description", p->description},
      {"last_run", last->has_value() ? RunToJson(**last) : nlohmann::json(nullptr)},
      {"workdir", WorkdirOf(engine_.config().server, *p)},
      {"shell", p->shell},
      {"timeout", FormatDuration(p->timeout)},
      {"timeout_seconds", p->timeout.count() / 1000},
      {"concurrency", ConcurrencyName(p->concurrency)},
      {"keep_runs", p->keep_runs},
      {"source", !p->recipe.empty() ? "recipe" : !p->script_file.empty() ? "script_file" : "script"},
      {"recipe", p->recipe.empty() ? nlohmann::json(nullptr) : nlohmann::json(p->recipe)},
      {"script_file", p->script_file.empty() ? nlohmann::json(nullptr) : nlohmann::json(p->script_file)},
      {"env_names", nlohmann::json::array()},
      {"secret_names", nlohmann::json::array()},
      {"webhook", nullptr},
  };
  for (const auto& [k, v] : p->env) j["env_names"].push_back(k);
  for (const auto& [k, v] : p->secrets) j["secret_names"].push_back(k);
  if (p->webhook) {
    j["webhook"] = {{"provider", p->webhook->provider},
                    {"branches", p->webhook->branches},
                    {"url", "/hooks/" + p->name}};
  }
  co_await ex.SendJson(http::status::ok, DumpJson(j));
}

net::awaitable<void> Api::TriggerRun(Exchange& ex, const std::string& project, const Principal& who) {
  if (!engine_.config().FindProject(project)) {
    co_return co_await ex.SendError(http::status::not_found, "not_found",
                                    fmt::format("no project named '{}'", project));
  }
  Trigger t;
  t.kind = TriggerKind::kApi;
  t.actor = who.name;
  const std::string& body = ex.req().body();
  if (body.find_first_not_of(" \t\r\n") != std::string::npos) {
    std::string type = ex.Header("Content-Type");
    if (type.rfind("application/json", 0) != 0) {
      co_return co_await ex.SendError(http::status::unsupported_media_type, "unsupported_media_type",
                                      "send the body as JSON with Content-Type: application/json");
    }
    if (!co_await CheckJsonDepth(ex)) co_return;
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded()) {
      std::string why;
      try {
        nlohmann::json ignored = nlohmann::json::parse(body);
      } catch (const nlohmann::json::exception& e) {  // parse_error; out_of_range: huge numbers
        why = e.what();
      }
      co_return co_await ex.SendError(http::status::bad_request, "bad_json",
                                      "request body is not valid JSON: " + why);
    }
    if (!j.is_object()) {
      co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                      "request body must be a JSON object like {\"ref\": "
                                      "\"refs/heads/main\", \"commit\": \"9f1c...\"}");
    }
    for (auto& [key, value] : j.items()) {
      if (key != "ref" && key != "commit" && key != "kind") {
        co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                        fmt::format("unknown field '{}'; known fields are ref, "
                                                    "commit and kind", key));
      }
      if (!value.is_string()) {
        co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                        fmt::format("field '{}' must be a string", key));
      }
    }
    if (j.contains("ref")) {
      t.ref = j["ref"].get<std::string>();
      if (t.ref.empty() || t.ref.size() > 255 || HasControlChars(t.ref)) {
        co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                        "ref must be 1-255 printable characters, like refs/heads/main");
      }
      if (std::string why = RefProblem(t.ref); !why.empty()) {
        co_return co_await ex.SendError(http::status::bad_request, "bad_request", why);
      }
      if (t.ref.rfind("refs/heads/", 0) == 0) t.branch = t.ref.substr(11);
      else if (t.ref.find('/') == std::string::npos) {
        t.branch = t.ref;
        t.ref = "refs/heads/" + t.ref;
      }
    }
    if (j.contains("commit")) {
      t.commit = j["commit"].get<std::string>();
      if (t.commit.size() < 4 || t.commit.size() > 64 || !IsHex(t.commit)) {
        co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                        "commit must be a hex commit id of 4 to 64 digits");
      }
    }
    if (j.contains("kind")) {
      auto k = ParseTriggerKind(j["kind"].get<std::string>());
      if (!k || *k == TriggerKind::kWebhook) {
        co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                        "kind must be manual, api or cli");
      }
      t.kind = *k;
    }
  }
  auto run = engine_.Trigger(project, t);
  if (!run.ok()) {
    const Status& s = run.status();
    http::status status = s.code() == "queue_full" ? http::status::too_many_requests
                          : s.code() == "not_found" ? http::status::not_found
                                                    : http::status::internal_server_error;
    co_return co_await ex.SendError(status, s.code(), s.message());
  }
  ex.extra_headers().emplace_back("Location", fmt::format("/api/v1/runs/{}", run->id));
  co_await ex.SendJson(http::status::accepted, DumpJson(RunToJson(*run)));
}

net::awaitable<void> Api::Rollback(Exchange& ex, const std::string& project, const Principal& who) {
  if (!co_await CheckJsonDepth(ex)) co_return;
  const ProjectConfig* p = engine_.config().FindProject(project);
  if (!p) {
    co_return co_await ex.SendError(http::status::not_found, "not_found",
                                    fmt::format("no project named '{}'", project));
  }
  auto text = p->recipe.empty() ? std::nullopt : FindRecipe(p->recipe);
  if (!text || !RecipeSupportsRollback(*text)) {
    co_return co_await ex.SendError(
        http::status::conflict, "conflict",
        fmt::format("project '{}' does not keep releases to roll back to; rollback needs a recipe "
                    "that keeps them (systemd-release, static-site)", project));
  }
  Trigger t;
  t.kind = TriggerKind::kApi;
  t.actor = who.name;
  t.action = "rollback";
  auto j = nlohmann::json::parse(ex.req().body(), nullptr, false);
  if (j.is_object()) {
    if (auto kind = j.find("kind"); kind != j.end() && kind->is_string()) {
      auto k = ParseTriggerKind(kind->get<std::string>());
      if (k && *k != TriggerKind::kWebhook) t.kind = *k;
    }
    if (auto to = j.find("to"); to != j.end() && !to->is_null()) {
      if (!to->is_number_integer() || to->get<int64_t>() < 1) {
        co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                        "to must be the id of an earlier run of the project");
      }
      t.rollback_to = to->get<int64_t>();
      auto target = engine_.GetRun(t.rollback_to);
      if (!target.ok() || !target->has_value() || (*target)->project != project ||
          (*target)->status != RunStatus::kSucceeded || (*target)->trigger.action != "deploy") {
        co_return co_await ex.SendError(
            http::status::bad_request, "bad_request",
            fmt::format("run {} is not a succeeded deploy of '{}': only those made a release",
                        t.rollback_to, project));
      }
    }
  } else if (!ex.req().body().empty()) {
    co_return co_await ex.SendError(http::status::bad_request, "bad_json",
                                    "send {\"to\": RUN_ID} as JSON, or no body for the previous release");
  }
  auto run = engine_.Trigger(project, t);
  if (!run.ok()) {
    const Status& s = run.status();
    co_return co_await ex.SendError(s.code() == "queue_full" ? http::status::too_many_requests
                                                             : http::status::internal_server_error,
                                    s.code(), s.message());
  }
  ex.extra_headers().emplace_back("Location", fmt::format("/api/v1/runs/{}", run->id));
  co_await ex.SendJson(http::status::accepted, DumpJson(RunToJson(*run)));
}

net::awaitable<void> Api::ListRuns(Exchange& ex, const std::string& project) {
  if (!project.empty() && !engine_.config().FindProject(project)) {
    // Runs of a project removed from the config are still listed if any exist.
    auto any = engine_.ListRuns(project, 1, 0);
    if (!any.ok() || any->empty()) {
      co_return co_await ex.SendError(http::status::not_found, "not_found",
                                      fmt::format("no project named '{}'", project));
    }
  }
  int64_t limit = kDefaultLimit, before = 0;
  if (const std::string* l = ex.Query("limit")) {
    if (!ParseInt(*l, limit) || limit < 1 || limit > kMaxLimit) {
      co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                      fmt::format("limit must be a number from 1 to {}", kMaxLimit));
    }
  }
  if (const std::string* b = ex.Query("before")) {
    if (!ParseInt(*b, before) || before < 1) {
      co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                      "before must be a run id (a positive number)");
    }
  }
  auto runs = engine_.ListRuns(project, static_cast<int>(limit), before);
  if (!runs.ok()) {
    co_return co_await ex.SendError(http::status::internal_server_error, "internal",
                                    runs.status().message());
  }
  nlohmann::json out = nlohmann::json::array();
  for (const Run& r : *runs) out.push_back(RunToJson(r));
  co_await ex.SendJson(http::status::ok, DumpJson(out));
}

net::awaitable<void> Api::GetRun(Exchange& ex, int64_t id) {
  auto run = engine_.GetRun(id);
  if (!run.ok()) {
    co_return co_await ex.SendError(http::status::internal_server_error, "internal",
                                    run.status().message());
  }
  if (!run->has_value()) {
    co_return co_await ex.SendError(http::status::not_found, "not_found",
                                    fmt::format("no run with id {}", id));
  }
  co_await ex.SendJson(http::status::ok, DumpJson(RunToJson(**run)));
}

net::awaitable<void> Api::CancelRun(Exchange& ex, int64_t id, const Principal& who) {
  auto run = engine_.Cancel(id, "cancelled by " + who.name);
  if (!run.ok()) {
    const Status& s = run.status();
    http::status status = s.code() == "not_found"  ? http::status::not_found
                          : s.code() == "conflict" ? http::status::conflict
                                                   : http::status::internal_server_error;
    co_return co_await ex.SendError(status, s.code(), s.message());
  }
  co_await ex.SendJson(http::status::accepted, DumpJson(RunToJson(*run)));
}

net::awaitable<void> Api::GetScript(Exchange& ex, int64_t id) {
  auto run = engine_.GetRun(id);
  if (!run.ok() || !run->has_value()) {
    co_return co_await ex.SendError(http::status::not_found, "not_found",
                                    fmt::format("no run with id {}", id));
  }
  auto text = ReadFile(engine_.ScriptPath(id));
  if (!text.ok()) {
    co_return co_await ex.SendError(http::status::gone, "gone",
                                    (*run)->log_pruned ? "this run's files were pruned (keep_runs)"
                                                       : "this run has no script: it never started");
  }
  Response res{http::status::ok, ex.req().version()};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  if (!(*run)->recipe.empty()) res.set("X-Jenky-Recipe", (*run)->recipe);
  res.set("X-Jenky-Script-Sha256", (*run)->script_sha256);
  res.body() = std::move(*text);
  co_await ex.Send(std::move(res));
}

net::awaitable<void> Api::GetLog(Exchange& ex, int64_t id) {
  auto found = engine_.GetRun(id);
  if (!found.ok()) {
    co_return co_await ex.SendError(http::status::internal_server_error, "internal",
                                    found.status().message());
  }
  if (!found->has_value()) {
    co_return co_await ex.SendError(http::status::not_found, "not_found",
                                    fmt::format("no run with id {}", id));
  }
  const Run& run = **found;
  if (run.log_pruned) {
    co_return co_await ex.SendError(http::status::gone, "gone",
                                    fmt::format("the log of run {} was pruned (keep_runs)", id));
  }
  bool follow = false;
  if (const std::string* f = ex.Query("follow")) follow = *f == "1" || *f == "true";
  std::shared_ptr<LogTail> tail = engine_.Tail(id);  // null: the log is complete
  std::string path = engine_.LogPath(id);

  int64_t offset = 0;
  if (const std::string* o = ex.Query("offset")) {
    if (!ParseInt(*o, offset)) {
      co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                      "offset must be a byte count (0 or more)");
    }
  } else if (const std::string* l = ex.Query("line")) {
    int64_t line;
    if (!ParseInt(*l, line) || line < 1) {
      co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                      "line must be a line number (1 or more)");
    }
    auto off = OffsetOfLine(path, engine_.IndexPath(id), line - 1);
    offset = off.ok() ? *off : 0;
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  int64_t size = 0;
  if (fd >= 0) {
    struct stat st;
    if (fstat(fd, &st) == 0) size = st.st_size;
  }
  struct CloseFd {
    int& fd;
    ~CloseFd() {
      if (fd >= 0) close(fd);
    }
  } closer{fd};
  if (!tail && offset > size) {
    co_return co_await ex.SendError(
        http::status::range_not_satisfiable, "offset_out_of_range",
        fmt::format("offset {} is past the end of the log ({} bytes)", offset, size));
  }

  http::response<http::empty_body> res{http::status::ok, ex.req().version()};
  res.set(http::field::server, "jenky");
  res.set(http::field::date, HttpDate());
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.set("X-Jenky-Run-Status", RunStatusName(run.status));
  res.set("X-Jenky-Log-Offset", std::to_string(offset));
  res.keep_alive(ex.keep_alive());
  if (follow) {
    res.set("X-Accel-Buffering", "no");
    res.chunked(true);
  } else {
    res.content_length(std::max<int64_t>(0, size - offset));
  }
  ex.mark_responded();
  HttpStream& stream = ex.stream();
  http::response_serializer<http::empty_body> sr{res};
  stream.expires_after(ex.limits().write_timeout);
  if (auto [ec, n] = co_await http::async_write_header(stream, sr, kTuple); ec) {
    ex.set_keep_alive(false);
    co_return;
  }
  if (ex.req().method() == http::verb::head) co_return;

  std::string buf(kLogChunk, '\0');
  // Sends [offset, end) from the file; false if the client went away.
  auto send_until = [&](int64_t end) -> net::awaitable<bool> {
    while (offset < end && fd >= 0) {
      size_t want = static_cast<size_t>(std::min<int64_t>(end - offset, kLogChunk));
      ssize_t n = pread(fd, buf.data(), want, offset);
      if (n <= 0) break;
      stream.expires_after(ex.limits().write_timeout);
      boost::system::error_code ec;
      if (follow) {
        std::tie(ec, std::ignore) = co_await net::async_write(
            stream, http::make_chunk(net::buffer(buf.data(), n)), kTuple);
      } else {
        std::tie(ec, std::ignore) = co_await net::async_write(stream, net::buffer(buf.data(), n), kTuple);
      }
      if (ec) co_return false;
      offset += n;
    }
    co_return true;
  };

  if (!follow) {
    if (!co_await send_until(size)) ex.set_keep_alive(false);
    co_return;
  }
  for (;;) {
    int64_t end = tail ? tail->size : size;
    if (fd < 0 && end > 0) {
      fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);  // created when the run started
    }
    if (!co_await send_until(end)) {
      ex.set_keep_alive(false);
      co_return;
    }
    if (!tail || (tail->finished && offset >= tail->size)) break;
    if (offset < tail->size) continue;
    // Wait for more, waking now and then to notice a client that left.
    using namespace net::experimental::awaitable_operators;
    std::shared_ptr<net::steady_timer> changed = tail->changed;
    net::steady_timer patience(stream.get_executor(), std::chrono::seconds(15));
    co_await (changed->async_wait(kTuple) || patience.async_wait(kTuple));
    if (stream.PeerGone()) {
      ex.set_keep_alive(false);
      co_return;
    }
  }
  stream.expires_after(ex.limits().write_timeout);
  auto [ec, n] = co_await net::async_write(stream, http::make_chunk_last(), kTuple);
  if (ec) ex.set_keep_alive(false);
}

net::awaitable<void> Api::Session(Exchange& ex) {
  const Config& c = engine_.config();
  http::verb method = ex.req().method();
  if (method == http::verb::get) {
    // Who am I: 200 either way, so a signed-out page is not an error.
    Principal p = Authenticate(ex);
    if (p.scopes == 0) {
      nlohmann::json j = {{"name", nullptr}, {"scopes", nlohmann::json::array()}, {"auth", "token"}};
      co_return co_await ex.SendJson(http::status::ok, DumpJson(j));
    }
    nlohmann::json j = {{"name", p.name}, {"scopes", ScopesJson(p.scopes)},
                        {"auth", c.tokens.empty() ? "none" : "token"}};
    co_return co_await ex.SendJson(http::status::ok, DumpJson(j));
  }
  if (method == http::verb::delete_) {
    std::string cookie = CookieValue(ex.Header("Cookie"), kCookie);
    if (!cookie.empty()) sessions_.erase(Sha256Hex(cookie));
    ex.extra_headers().emplace_back(
        "Set-Cookie", fmt::format("{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict", kCookie));
    co_return co_await ex.SendJson(http::status::ok, "{}");
  }
  if (method != http::verb::post) {
    ex.extra_headers().emplace_back("Allow", "GET, POST, DELETE");
    co_return co_await ex.SendError(http::status::method_not_allowed, "method_not_allowed",
                                    "use POST to sign in, GET to see who you are, DELETE to sign out");
  }
  if (!co_await CheckJsonDepth(ex)) co_return;
  auto j = nlohmann::json::parse(ex.req().body(), nullptr, false);
  if (!j.is_object() || !j.contains("token") || !j["token"].is_string()) {
    co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                    "send {\"token\": \"YOUR TOKEN\"} as JSON");
  }
  if (c.tokens.empty()) {
    nlohmann::json out = {{"name", "local"}, {"scopes", ScopesJson(kAllScopes)}, {"auth", "none"}};
    co_return co_await ex.SendJson(http::status::ok, DumpJson(out));
  }
  std::string hash = Sha256Hex(j["token"].get<std::string>());
  const TokenConfig* match = nullptr;
  for (const auto& t : c.tokens) {
    if (ConstantTimeEquals(hash, t.sha256)) match = &t;
  }
  if (!match) {
    if (!co_await CheckRateLimit(ex, auth_failures_)) co_return;
    std::string caller = Caller(ex);
    int64_t held_back = 0;
    if (rejection_log_.Allow(caller, NowMillis(), &held_back)) {
      LogWarning("sign-in with an unknown token from {}{}", caller,
                 held_back ? fmt::format(" ({} more refusals not logged)", held_back) : "");
    }
    auth_failures_.RecordFailure(caller, NowMillis());
    co_return co_await ex.SendError(http::status::unauthorized, "unauthorized", "unknown token");
  }
  // Expired sessions go when a new one comes; the map stays as small as the
  // number of live sign-ins.
  int64_t now = NowMillis();
  std::erase_if(sessions_, [now](const auto& kv) { return kv.second.expires_at <= now; });
  std::string id = RandomHex(32);
  int64_t lifetime_ms = c.server.session_lifetime.count();
  sessions_[Sha256Hex(id)] = {match->name, match->scopes, now + lifetime_ms};
  bool secure = ex.secure() || c.server.public_url.rfind("https://", 0) == 0;
  ex.extra_headers().emplace_back(
      "Set-Cookie", fmt::format("{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}", kCookie,
                                id, lifetime_ms / 1000, secure ? "; Secure" : ""));
  nlohmann::json out = {{"name", match->name}, {"scopes", ScopesJson(match->scopes)}, {"auth", "token"}};
  co_await ex.SendJson(http::status::ok, DumpJson(out));
}

namespace {

const char* ContentTypeFor(std::string_view path) {
  struct Type { const char* ext; const char* type; };
  static constexpr Type kTypes[] = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
      {".png", "image/png"},                 {".ico", "image/x-icon"},
      {".json", "application/json"},         {".map", "application/json"},
      {".woff2", "font/woff2"},              {".txt", "text/plain; charset=utf-8"},
      {".webmanifest", "application/manifest+json"},
  };
  for (const auto& t : kTypes) {
    std::string_view ext(t.ext);
    if (path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext) return t.type;
  }
  return "application/octet-stream";
}

}  // namespace

net::awaitable<void> Api::ServeWebAsset(Exchange& ex) {
  // Files of the embedded UI by path; every other page path is the UI's own
  // route (/projects/x, /runs/42) and gets index.html.
  std::string path = ex.path().size() > 1 ? ex.path().substr(1) : "index.html";
  std::string from_disk;
  auto find = [&](const std::string& p) -> std::optional<std::string_view> {
    if (p.find("..") != std::string::npos) return std::nullopt;
    if (web_dir_.empty()) return FindWebAsset(p);
    auto text = ReadFile(web_dir_ + "/" + p);  // --web-dir: UI development
    if (!text.ok()) return std::nullopt;
    from_disk = std::move(*text);
    return std::string_view(from_disk);
  };
  auto data = find(path);
  if (!data) {
    if (path.rfind("assets/", 0) == 0) {
      co_return co_await ex.SendError(http::status::not_found, "not_found",
                                      fmt::format("no such file: /{}", path));
    }
    path = "index.html";
    data = find(path);
  }
  if (!data) {
    co_return co_await ex.SendError(http::status::not_found, "not_found", "this jenky has no web UI");
  }
  Response res{http::status::ok, ex.req().version()};
  res.set(http::field::content_type, ContentTypeFor(path));
  res.set(http::field::cache_control, path.rfind("assets/", 0) == 0
                                          ? "public, max-age=31536000, immutable"
                                          : "no-cache");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  if (path == "index.html") {
    res.set("Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    res.set("X-Frame-Options", "DENY");
  }
  if (ex.req().method() != http::verb::head) res.body().assign(data->data(), data->size());
  co_await ex.Send(std::move(res));
}

net::awaitable<void> Api::LogSocketRoute(Exchange& ex, bool project_stream, const std::string& name) {
  Principal p = Authenticate(ex);
  if (p.scopes == 0 && !co_await CheckRateLimit(ex, auth_failures_)) co_return;
  if (!co_await Require(ex, p, kScopeRead)) co_return;
  // A WebSocket has no same-origin rule: a page elsewhere could read live
  // logs through the visitor's cookie. Host does not vouch for the origin
  // unless it named this server (request_guard.h).
  std::string origin = ex.Header("Origin");
  if (!origin.empty() && !Policy().OriginAllowed(origin, ex.Header("Host"), ex.secure())) {
    LogWarning("WebSocket from {} refused: Origin {} is not allowed", Caller(ex),
               ex.Header("Origin"));
    co_return co_await ex.SendError(http::status::forbidden, "forbidden_origin",
                                    fmt::format("Origin {} is not allowed; add it to [server] "
                                                "allowed_origins", ex.Header("Origin")));
  }
  LogSocketOptions o;
  o.idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      engine_.config().server.ws_idle_timeout);
  o.max_lag_bytes = engine_.config().server.ws_max_lag_bytes;
  if (const std::string* f = ex.Query("format")) {
    if (*f != "raw" && *f != "json") {
      co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                      "format must be json (default) or raw");
    }
    o.raw = *f == "raw";
  }
  if (project_stream) {
    if (!engine_.config().FindProject(name)) {
      co_return co_await ex.SendError(http::status::not_found, "not_found",
                                      fmt::format("no project named '{}'", name));
    }
    o.project = name;
    if (const std::string* after = ex.Query("after")) {
      if (!ParseInt(*after, o.after_run)) {
        co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                        "after must be a run id (a number)");
      }
    }
  } else {
    if (!ParseInt(name, o.run_id)) {
      co_return co_await ex.SendError(http::status::not_found, "not_found",
                                      fmt::format("'{}' is not a run id; run ids are numbers", name));
    }
    auto run = engine_.GetRun(o.run_id);
    if (!run.ok() || !run->has_value()) {
      co_return co_await ex.SendError(http::status::not_found, "not_found",
                                      fmt::format("no run with id {}", o.run_id));
    }
    if ((*run)->log_pruned) {
      co_return co_await ex.SendError(http::status::gone, "gone",
                                      fmt::format("the log of run {} was pruned (keep_runs)", o.run_id));
    }
    if (const std::string* off = ex.Query("offset")) {
      if (!ParseInt(*off, o.offset)) {
        co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                        "offset must be a byte count (0 or more)");
      }
    }
    if (IsFinished((*run)->status) && o.offset > (*run)->log_bytes) {
      co_return co_await ex.SendError(
          http::status::range_not_satisfiable, "offset_out_of_range",
          fmt::format("offset {} is past the end of the log ({} bytes)", o.offset, (*run)->log_bytes));
    }
  }
  if (!beast::websocket::is_upgrade(ex.req())) {
    ex.extra_headers().emplace_back("Upgrade", "websocket");
    co_return co_await ex.SendError(http::status::upgrade_required, "upgrade_required",
                                    "this is a WebSocket endpoint; connect with a WebSocket client, "
                                    "or use GET /api/v1/runs/{id}/log?follow=1 for plain HTTP");
  }
  if (!hub_) {
    co_return co_await ex.SendError(http::status::service_unavailable, "unavailable",
                                    "log streaming is not available");
  }
  if (std::optional<WsRefusal> no = hub_->Check(ex.req(), o)) {
    for (auto& h : no->headers) ex.extra_headers().push_back(h);
    co_return co_await ex.SendError(static_cast<http::status>(no->status), no->code, no->message);
  }
  std::string leftover = ex.TakeLeftover();
  HttpStream stream = ex.TakeStream();
  stream.expires_never();
  std::unique_ptr<TlsConn> tls = stream.ReleaseTls();
  hub_->Accept(stream.ReleaseSocket(), std::move(tls), std::move(leftover), ex.req(), std::move(o));
}

net::awaitable<bool> Api::CheckRateLimit(Exchange& ex, RateLimiter& limiter) {
  int64_t wait_ms = limiter.RetryAfterMs(Caller(ex), NowMillis());
  if (wait_ms == 0) co_return true;
  ex.extra_headers().emplace_back("Retry-After", std::to_string((wait_ms + 999) / 1000));
  co_await ex.SendError(http::status::too_many_requests, "rate_limited",
                        "too many failed authentication attempts from this address; try again "
                        "later");
  co_return false;
}

net::awaitable<void> Api::Hook(Exchange& ex, const std::string& project) {
  const ProjectConfig* p = engine_.config().FindProject(project);
  if (!p) {
    co_return co_await ex.SendError(http::status::not_found, "not_found",
                                    fmt::format("no project named '{}'", project));
  }
  if (!p->webhook) {
    co_return co_await ex.SendError(
        http::status::not_found, "not_found",
        fmt::format("project '{}' has no webhook; add [projects.{}.webhook] to the config", project,
                    project));
  }
  // A copy: a reload (SIGHUP) may replace the configuration while we wait.
  const WebhookConfig config = *p->webhook;
  std::string remote = Caller(ex);
  int64_t now = NowMillis();
  Delivery record;
  record.project = project;
  record.received_at = now;
  record.provider = config.provider;
  record.remote = remote;

  HookRequest req;
  req.header = [&ex](std::string_view name) { return ex.Header(name); };
  req.body = ex.req().body();
  req.query = ex.query();
  req.now_unix_seconds = now / 1000;
  req.max_json_depth = engine_.config().server.max_json_depth;
  Verdict v = EvaluateDelivery(config, req);
  record.event = v.event;
  record.delivery = v.trigger.delivery;
  record.reason = v.reason;

  auto reject = [&](http::status status, const char* code) -> net::awaitable<void> {
    record.result = "rejected";
    record.status = static_cast<int>(status);
    engine_.RecordDelivery(record);
    int64_t held_back = 0;
    if (rejection_log_.Allow(remote, now, &held_back)) {
      LogWarning("project={} webhook from {} rejected ({}): {}{}", project, remote,
                 static_cast<int>(status), v.reason,
                 held_back ? fmt::format(" ({} more rejections from this address were not logged; "
                                         "GET /api/v1/projects/{}/deliveries counts them)",
                                         held_back, project)
                           : "");
    }
    co_await ex.SendError(status, code, v.reason);
  };
  switch (v.kind) {
    case VerdictKind::kUnauthorized:
      // Only deliveries that fail their signature are limited: a correctly
      // signed one from the same address (a forge's, a proxy's) never is.
      if (!co_await CheckRateLimit(ex, hook_failures_)) {
        record.result = "rejected";
        record.status = 429;
        record.reason = "too many failed signatures from this address";
        engine_.RecordDelivery(record);
        co_return;
      }
      hook_failures_.RecordFailure(remote, now);
      co_return co_await reject(http::status::unauthorized, "bad_signature");
    case VerdictKind::kBadRequest:
      co_return co_await reject(http::status::bad_request, "bad_request");
    case VerdictKind::kPing: {
      record.result = "ping";
      record.status = 200;
      engine_.RecordDelivery(record);
      LogInfo("project={} webhook ping from {}", project, remote);
      nlohmann::json j = {{"ok", true}, {"event", "ping"},
                          {"message", fmt::format("jenky is listening for project '{}'", project)}};
      co_return co_await ex.SendJson(http::status::ok, DumpJson(j));
    }
    case VerdictKind::kIgnored: {
      record.result = "ignored";
      record.status = 204;
      engine_.RecordDelivery(record);
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
    case VerdictKind::kDeploy:
      break;
  }
  if (!v.trigger.delivery.empty()) {
    auto earlier = engine_.RunForDelivery(project, v.trigger.delivery);
    if (earlier.ok() && earlier->has_value()) {
      record.result = "duplicate";
      record.status = 200;
      record.run_id = (*earlier)->id;
      record.reason = fmt::format("delivery {} already started run {}", v.trigger.delivery,
                                  (*earlier)->id);
      engine_.RecordDelivery(record);
      LogInfo("project={} webhook: {}", project, record.reason);
      co_return co_await ex.SendJson(http::status::ok, DumpJson(RunToJson(**earlier)));
    }
  }
  auto run = engine_.Trigger(project, v.trigger);
  if (!run.ok()) {
    v.reason = run.status().message();
    bool full = run.status().code() == "queue_full";
    co_return co_await reject(full ? http::status::too_many_requests
                                   : http::status::internal_server_error,
                              full ? "queue_full" : "internal");
  }
  record.result = "deployed";
  record.status = 202;
  record.run_id = run->id;
  record.reason = fmt::format("{} {} by {}", v.trigger.branch.empty() ? v.trigger.ref : v.trigger.branch,
                              v.trigger.commit.substr(0, 12), v.trigger.actor);
  engine_.RecordDelivery(record);
  ex.extra_headers().emplace_back("Location", fmt::format("/api/v1/runs/{}", run->id));
  co_await ex.SendJson(http::status::accepted, DumpJson(RunToJson(*run)));
}

net::awaitable<void> Api::ListDeliveries(Exchange& ex, const std::string& project) {
  if (!engine_.config().FindProject(project)) {
    co_return co_await ex.SendError(http::status::not_found, "not_found",
                                    fmt::format("no project named '{}'", project));
  }
  int64_t limit = kDeliveriesKept;
  if (const std::string* l = ex.Query("limit")) {
    if (!ParseInt(*l, limit) || limit < 1 || limit > kDeliveriesKept) {
      co_return co_await ex.SendError(http::status::bad_request, "bad_request",
                                      fmt::format("limit must be a number from 1 to {}", kDeliveriesKept));
    }
  }
  auto list = engine_.ListDeliveries(project, static_cast<int>(limit));
  if (!list.ok()) {
    co_return co_await ex.SendError(http::status::internal_server_error, "internal",
                                    list.status().message());
  }
  nlohmann::json out = nlohmann::json::array();
  for (const Delivery& d : *list) {
    out.push_back({{"id", d.id},
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

}  // namespace jenky
