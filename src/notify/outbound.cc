#include "notify/outbound.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "webhook/webhook.h"

namespace jenky {
namespace {

const NotifyConfig* FindNotify(const Config& c, std::string_view name) {
  for (const NotifyConfig& n : c.notify) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

// A header value without line breaks (they would start another header).
std::string HeaderValue(const nlohmann::json& j, const char* key) {
  std::string v = j.value(key, "");
  for (char& c : v) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return v;
}

Result<OutboundRequest> NotifyRequest(const NotifyConfig& n, const OutboxMessage& m,
                                      int64_t now_ms) {
  OutboundRequest req;
  req.url = n.url;
  req.body = m.body;
  req.headers.push_back("User-Agent: jenky/" JENKY_VERSION);
  switch (n.kind) {
    case NotifyKind::kWebhook: {
      req.headers.push_back("Content-Type: application/json");
      // Standard Webhooks: the id is the same on every attempt (receivers
      // drop repeats by it), the timestamp is the attempt's.
      std::string id = fmt::format("msg_{}_{}", m.created_at, m.id);
      std::string ts = std::to_string(now_ms / 1000);
      req.headers.push_back("webhook-id: " + id);
      req.headers.push_back("webhook-timestamp: " + ts);
      if (!n.secret.empty()) {
        req.headers.push_back("webhook-signature: " +
                              StandardWebhookSignature(n.secret, id, ts, m.body));
      }
      break;
    }
    case NotifyKind::kSlack:
    case NotifyKind::kDiscord: req.headers.push_back("Content-Type: application/json"); break;
    case NotifyKind::kNtfy: {
      auto j = nlohmann::json::parse(m.body, nullptr, false);
      if (!j.is_object()) return Status::Error("the stored ntfy message is not JSON");
      req.body = j.value("message", "");
      req.headers.push_back("Content-Type: text/plain; charset=utf-8");
      req.headers.push_back("Title: " + HeaderValue(j, "title"));
      req.headers.push_back("Tags: " + HeaderValue(j, "tags"));
      req.headers.push_back("Priority: " + HeaderValue(j, "priority"));
      req.headers.push_back("Click: " + HeaderValue(j, "click"));
      break;
    }
    case NotifyKind::kEmail:
      req.headers.clear();
      req.mail_from = n.from;
      req.mail_rcpt = n.to;
      req.username = n.username;
      req.password = n.password;
      req.require_tls = n.starttls;
      break;
  }
  return req;
}

}  // namespace

const DeliveryLimits* LimitsFor(const Config& c, const std::string& receiver) {
  if (receiver.rfind("notify:", 0) == 0) {
    const NotifyConfig* n = FindNotify(c, std::string_view(receiver).substr(7));
    return n ? &n->limits : nullptr;
  }
  if (receiver.rfind("status:", 0) == 0 || receiver.rfind("deploy:", 0) == 0) {
    const ProjectConfig* p = c.FindProject(std::string_view(receiver).substr(7));
    return p && p->status ? &p->status->limits : nullptr;
  }
  return nullptr;
}

Result<OutboundRequest> BuildRequest(const Config& c, const OutboxMessage& m, int64_t now_ms) {
  Result<OutboundRequest> out = Status::Error("");
  if (m.receiver.rfind("notify:", 0) == 0) {
    const NotifyConfig* n = FindNotify(c, std::string_view(m.receiver).substr(7));
    if (!n || NotifyKindName(n->kind) != m.kind) {
      return Status::Error(fmt::format("[[notify]] '{}' ({}) is no longer in the configuration",
                                       ReceiverDisplayName(m.receiver), m.kind));
    }
    out = NotifyRequest(*n, m, now_ms);
    if (out.ok()) {
      out->timeout = n->limits.timeout;
      out->ca_file = n->limits.ca_file;
    }
  } else {
    std::string project = m.receiver.substr(m.receiver.find(':') + 1);
    const ProjectConfig* p = c.FindProject(project);
    if (!p || !p->status || StatusProviderName(p->status->provider) != m.kind) {
      return Status::Error(fmt::format(
          "[projects.{}.status] ({}) is no longer in the configuration", project, m.kind));
    }
    if (m.receiver.rfind("deploy:", 0) == 0 && !p->status->deployments) {
      return Status::Error(fmt::format(
          "[projects.{}.status] deployments is no longer on in the configuration", project));
    }
    OutboundRequest req;
    req.url = m.url;
    req.body = m.body;
    req.timeout = p->status->limits.timeout;
    req.ca_file = p->status->limits.ca_file;
    req.headers = {"Content-Type: application/json", "User-Agent: jenky/" JENKY_VERSION};
    switch (p->status->provider) {
      case StatusProvider::kGitHub:
        req.headers.push_back("Accept: application/vnd.github+json");
        req.headers.push_back("X-GitHub-Api-Version: 2022-11-28");
        req.headers.push_back("Authorization: Bearer " + p->status->token);
        break;
      case StatusProvider::kGitea:
        req.headers.push_back("Accept: application/json");
        req.headers.push_back("Authorization: token " + p->status->token);
        break;
      case StatusProvider::kGitLab:
        req.headers.push_back("Accept: application/json");
        req.headers.push_back("PRIVATE-TOKEN: " + p->status->token);
        break;
    }
    out = std::move(req);
  }
  if (out.ok()) out->message_id = m.id;
  return out;
}

Judgement Judge(const OutboxMessage& m, const OutboundResult& r) {
  int s = r.http_status;
  if (s == 0) return {Outcome::kRetry, r.error.empty() ? "no answer" : r.error};
  if (m.kind == "email") {
    if (s >= 200 && s < 300) return {Outcome::kSent, ""};
    if (s >= 400 && s < 500) return {Outcome::kRetry, fmt::format("SMTP {}", s)};
    return {Outcome::kFail, fmt::format("SMTP {}: {}", s, r.error)};
  }
  if (s >= 200 && s < 300) return {Outcome::kSent, ""};
  std::string answer = r.body.substr(0, 300);
  for (char& c : answer) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  std::string why =
      answer.empty() ? fmt::format("HTTP {}", s) : fmt::format("HTTP {}: {}", s, answer);
  // GitLab refuses to set a state a commit's status already has (a repeat
  // after a lost answer): the forge shows what we meant.
  if (m.kind == "gitlab" && s == 400 &&
      r.body.find("Cannot transition status") != std::string::npos) {
    return {Outcome::kSent, ""};
  }
  if (s == 408 || s == 425 || s == 429 || s >= 500) return {Outcome::kRetry, why};
  return {Outcome::kFail, why};
}

int64_t DeploymentIdOf(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object()) {
    auto id = j.find("id");
    return id != j.end() && id->is_number_integer() ? id->get<int64_t>() : 0;
  }
  // Cut short: GitHub's answer starts {"url": ..., "id": N, ...}; the
  // first "id" at the top level is the deployment's (nested objects, the
  // creator's, come after it).
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    else if (c == '}' || c == ']') --depth;
    else if (c == '"') {
      if (depth == 1 && body.compare(i, 5, "\"id\":") == 0) {
        size_t at = body.find_first_not_of(' ', i + 5);
        int64_t id = 0;
        while (at < body.size() && std::isdigit(static_cast<unsigned char>(body[at])) &&
               id < (int64_t{1} << 55)) {
          id = id * 10 + (body[at++] - '0');
        }
        return id;
      }
      in_string = true;
    }
  }
  return 0;
}

int64_t RetryDelayMs(int attempts, int64_t retry_after_ms, double jitter) {
  constexpr int64_t kFirst = 2000, kMax = 10 * 60 * 1000;
  int64_t delay = kFirst << std::min(attempts > 0 ? attempts - 1 : 0, 20);
  delay = std::min(delay, kMax);
  delay += static_cast<int64_t>(static_cast<double>(delay) * 0.25 * jitter);
  return std::max(delay, retry_after_ms);
}

}  // namespace jenky
