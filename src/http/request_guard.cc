#include "http/request_guard.h"

#include <arpa/inet.h>

#include <algorithm>

#include <fmt/format.h>

#include "config/config.h"

namespace jenky {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool IsIpLiteral(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "https://deploy.example.com/jenky" -> "https://deploy.example.com".
std::string OriginOfUrl(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return "";
  size_t path = url.find('/', scheme + 3);
  return Lower(url.substr(0, path));
}

// The default port of an origin's scheme is left out of it by browsers.
std::string OriginFor(bool secure, std::string_view host) {
  std::string h = Lower(host);
  if (secure && EndsWith(h, ":443")) h.resize(h.size() - 4);
  if (!secure && EndsWith(h, ":80")) h.resize(h.size() - 3);
  return (secure ? "https://" : "http://") + h;
}

}  // namespace

std::string HostNameOf(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    return Lower(
        host.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
  }
  size_t colon = host.find(':');
  std::string name = Lower(host.substr(0, colon));
  while (!name.empty() && name.back() == '.') name.pop_back();  // "localhost." is localhost
  return name;
}

SitePolicy::SitePolicy(const ServerConfig& server, std::string machine_name) {
  names_.push_back(".localhost");
  if (!machine_name.empty()) names_.push_back(Lower(machine_name));
  if (!server.public_url.empty()) {
    std::string origin = OriginOfUrl(server.public_url);
    names_.push_back(HostNameOf(origin.substr(origin.find("://") + 3)));
    origins_.push_back(origin);
  }
  for (const auto& h : server.allowed_hosts) {
    if (h == "*") any_host_ = true;
    else names_.push_back(Lower(h));
  }
  for (const auto& o : server.allowed_origins) origins_.push_back(OriginOfUrl(o));
}

SitePolicy::HostMatch SitePolicy::MatchHost(std::string_view host) const {
  std::string name = HostNameOf(host);
  if (name.empty()) return HostMatch::kNo;
  if (IsIpLiteral(name)) return HostMatch::kYes;
  for (const auto& n : names_) {
    if (n.front() == '.' ? (name == n.substr(1) || EndsWith(name, n)) : name == n) {
      return HostMatch::kYes;
    }
  }
  return any_host_ ? HostMatch::kOnlyWildcard : HostMatch::kNo;
}

bool SitePolicy::HostAllowed(std::string_view host) const {
  return MatchHost(host) != HostMatch::kNo;
}

bool SitePolicy::OriginAllowed(std::string_view origin, std::string_view host, bool secure) const {
  std::string o = Lower(origin);
  for (const auto& allowed : origins_) {
    if (o == allowed) return true;
  }
  // The page this server itself served: same scheme, host and port. Only when
  // the Host names the server by a name it knows: with "*" any rebinding
  // page's name would pass, so Host cannot vouch for the origin.
  return !host.empty() && MatchHost(host) == HostMatch::kYes && o == OriginFor(secure, host);
}

GuardVerdict CheckRequest(const SitePolicy& policy, const GuardInput& in) {
  if (in.health) return GuardVerdict::kOk;
  if (!in.webhook && !policy.HostAllowed(in.host)) return GuardVerdict::kBadHost;
  bool safe = in.method == "GET" || in.method == "HEAD" || in.method == "OPTIONS";
  if (safe) return GuardVerdict::kOk;
  if (!in.origin.empty()) {
    if (!policy.OriginAllowed(in.origin, in.host, in.secure)) return GuardVerdict::kForeignOrigin;
  } else if (!in.sec_fetch_site.empty()) {
    // A browser that did not say where it came from (an old one, or a
    // privacy setting): it must at least say "this page's own" or "typed".
    if (in.sec_fetch_site != "same-origin" && in.sec_fetch_site != "none") {
      return GuardVerdict::kForeignOrigin;
    }
  }
  if (!in.webhook && (in.has_body || !in.content_type.empty())) {
    std::string type = Lower(in.content_type.substr(0, in.content_type.find(';')));
    while (!type.empty() && type.back() == ' ') type.pop_back();
    if (type != "application/json") return GuardVerdict::kNotJson;
  }
  return GuardVerdict::kOk;
}

GuardAnswer AnswerFor(GuardVerdict verdict, const GuardInput& in) {
  switch (verdict) {
    case GuardVerdict::kBadHost:
      return {400, "bad_host",
              fmt::format("Host '{}' is not a name of this jenky; if it is, add \"{}\" to [server] "
                          "allowed_hosts (or set public_url)",
                          in.host, HostNameOf(in.host))};
    case GuardVerdict::kForeignOrigin:
      return {403, "forbidden_origin",
              in.origin.empty()
                  ? std::string("a browser request from another site (Sec-Fetch-Site: ") +
                        std::string(in.sec_fetch_site) + ") may not change anything here"
                  : fmt::format("a page from {} may not change anything here; if that page is "
                                "yours, add it to [server] allowed_origins",
                                in.origin)};
    case GuardVerdict::kNotJson:
      return {415, "unsupported_media_type",
              "send the body as JSON with Content-Type: application/json"};
    case GuardVerdict::kOk: break;
  }
  return {200, "ok", ""};
}

}  // namespace jenky
