#include "http/auth.h"

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "http/api_error.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/logger.h"
#include "util/time.h"

namespace jenky {
namespace {

constexpr const char* kCookie = "jenky_session";

nlohmann::json ScopesJson(unsigned scopes) {
  nlohmann::json out = nlohmann::json::array();
  if (scopes & kScopeRead) out.push_back("read");
  if (scopes & kScopeDeploy) out.push_back("deploy");
  if (scopes & kScopeAdmin) out.push_back("admin");
  return out;
}

}  // namespace

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

Auth::Auth(Engine& engine)
    : engine_(engine),
      auth_failures_(engine.config().server.max_auth_failures),
      hook_failures_(engine.config().server.max_auth_failures) {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0) machine_name_ = name;
}

const SitePolicy& Auth::Policy() {
  const ServerConfig& s = engine_.config().server;
  if (policy_version_ != engine_.config_version()) {
    policy_ = SitePolicy(s, machine_name_);
    auto proxies = AddressSet::Parse(s.trusted_proxies);  // checked when the config loaded
    proxies_ = proxies.ok() ? *proxies : AddressSet();
    policy_version_ = engine_.config_version();
  }
  return policy_;
}

std::string Auth::Caller(const Exchange& ex) {
  Policy();  // proxies_ follows reloads with it
  return ClientAddress(ex.remote().to_string(), ex.Header("X-Forwarded-For"), proxies_);
}

net::awaitable<bool> Auth::Guard(Exchange& ex, bool webhook, bool health) {
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

Principal Auth::Authenticate(const Exchange& ex) {
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

net::awaitable<bool> Auth::Require(Exchange& ex, const Principal& p, unsigned scope) {
  if (p.scopes & scope) co_return true;
  if (p.scopes == 0) {
    ex.extra_headers().emplace_back("WWW-Authenticate", "Bearer realm=\"jenky\"");
    co_await SendApiError(ex, ApiError::kUnauthorized,
                          "missing or invalid token: send Authorization: Bearer TOKEN, or sign "
                          "in through POST /api/v1/session");
    co_return false;
  }
  const char* name = scope == kScopeRead ? "read" : scope == kScopeDeploy ? "deploy" : "admin";
  co_await SendApiError(ex, ApiError::kForbidden,
                        fmt::format("token '{}' lacks the '{}' scope this needs", p.name, name));
  co_return false;
}

net::awaitable<bool> Auth::CheckRateLimit(Exchange& ex, RateLimiter& limiter) {
  int64_t wait_ms = limiter.RetryAfterMs(Caller(ex), NowMillis());
  if (wait_ms == 0) co_return true;
  ex.extra_headers().emplace_back("Retry-After", std::to_string((wait_ms + 999) / 1000));
  co_await SendApiError(ex, ApiError::kRateLimited,
                        "too many failed authentication attempts from this address; try again "
                        "later");
  co_return false;
}

net::awaitable<void> Auth::SessionRoute(Exchange& ex) {
  const Config& c = engine_.config();
  http::verb method = ex.req().method();
  if (method == http::verb::get) {
    // Who am I: 200 either way, so a signed-out page is not an error.
    Principal p = Authenticate(ex);
    if (p.scopes == 0) {
      nlohmann::json j = {
          {"name", nullptr}, {"scopes", nlohmann::json::array()}, {"auth", "token"}};
      co_return co_await ex.SendJson(http::status::ok, DumpJson(j));
    }
    nlohmann::json j = {{"name", p.name},
                        {"scopes", ScopesJson(p.scopes)},
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
    co_return co_await SendApiError(
        ex, ApiError::kMethodNotAllowed,
        "use POST to sign in, GET to see who you are, DELETE to sign out");
  }
  if (!co_await CheckJsonDepth(ex, engine_.config().server.max_json_depth)) co_return;
  auto j = nlohmann::json::parse(ex.req().body(), nullptr, false);
  if (!j.is_object() || !j.contains("token") || !j["token"].is_string()) {
    co_return co_await SendApiError(ex, ApiError::kBadRequest,
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
    co_return co_await SendApiError(ex, ApiError::kUnauthorized, "unknown token");
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
  nlohmann::json out = {
      {"name", match->name}, {"scopes", ScopesJson(match->scopes)}, {"auth", "token"}};
  co_await ex.SendJson(http::status::ok, DumpJson(out));
}

}  // namespace jenky
