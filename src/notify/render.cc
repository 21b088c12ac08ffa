#include "notify/render.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/json.h"
#include "util/time.h"

namespace jenky {
namespace {

// Colours: green, red, grey, blue.
constexpr int kGreen = 0x2da44e, kRed = 0xcf222e, kGrey = 0x6e7781, kBlue = 0x0969da;

// Every byte but RFC 3986's unreserved ones %-encoded: GitLab's project
// path "group/app" is "group%2Fapp" in its API.
std::string UrlEncode(std::string_view in) {
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
      out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

// A duration as people read it: "0.4s", "12.3s", "1m 3s", "2h 5m".
std::string Human(int64_t ms) {
  if (ms < 10'000) return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
  int64_t s = (ms + 500) / 1000;
  if (s < 3600) return s < 60 ? fmt::format("{}s", s) : fmt::format("{}m {}s", s / 60, s % 60);
  return fmt::format("{}h {}m", s / 3600, s % 3600 / 60);
}

int ColourOf(const Run& r) {
  switch (r.status) {
    case RunStatus::kSucceeded: return kGreen;
    case RunStatus::kCancelled: return kGrey;
    case RunStatus::kQueued:
    case RunStatus::kRunning: return kBlue;
    default: return kRed;
  }
}

std::string Verb(std::string_view event, const Run& r) {
  if (event == "started") return "started";
  if (event == "recovered") return "succeeded again (recovered)";
  if (event == "succeeded") return "succeeded";
  if (event == "cancelled") return "was cancelled";
  if (r.status == RunStatus::kTimedOut) return "timed out";
  if (r.status == RunStatus::kInterrupted) return "was interrupted";
  return "failed";
}

std::string Short(std::string_view commit) { return std::string(commit.substr(0, 12)); }

// One line for a header or a subject: no control characters.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return s;
}

std::string WebhookBody(const Run& r, const std::string& type, const std::string& page,
                        int64_t now) {
  nlohmann::json j = {
      {"type", type}, {"timestamp", FormatRfc3339(now)}, {"run", RunToJson(r)}, {"url", page}};
  return DumpJson(j);
}

std::string SlackBody(const Run& r, std::string_view event, const std::string& page) {
  nlohmann::json fields = nlohmann::json::array();
  for (const auto& [k, v] : Details(r, page)) {
    if (k != "Link") fields.push_back({{"title", k}, {"value", v}, {"short", v.size() < 40}});
  }
  std::string text = fmt::format("<{}|{}>", page, Headline(r, event));
  return DumpJson({{"text", text},
                   {"attachments",
                    {{{"color", fmt::format("#{:06x}", ColourOf(r))},
                      {"fallback", Headline(r, event) + " " + page},
                      {"fields", fields}}}}});
}

std::string DiscordBody(const Run& r, std::string_view event, const std::string& page,
                        int64_t now) {
  nlohmann::json fields = nlohmann::json::array();
  for (const auto& [k, v] : Details(r, page)) {
    if (k != "Link" && k != "Reason") {
      fields.push_back({{"name", k}, {"value", v.substr(0, 1024)}, {"inline", true}});
    }
  }
  nlohmann::json embed = {{"title", Headline(r, event).substr(0, 256)},
                          {"url", page},
                          {"color", ColourOf(r)},
                          {"fields", fields},
                          {"timestamp", FormatRfc3339(now)}};
  if (!r.reason.empty()) embed["description"] = r.reason.substr(0, 4096);
  return DumpJson({{"username", "jenky"}, {"embeds", {embed}}});
}

// Stored as JSON; the sender turns it into ntfy's headers and body.
std::string NtfyBody(const Run& r, std::string_view event, const std::string& page) {
  std::string message;
  for (const auto& [k, v] : Details(r, page)) {
    if (k != "Link") message += k + ": " + v + "\n";
  }
  const char* tag = r.status == RunStatus::kSucceeded   ? "white_check_mark"
                    : r.status == RunStatus::kRunning   ? "rocket"
                    : r.status == RunStatus::kCancelled ? "heavy_multiplication_x"
                                                        : "x";
  bool bad = event == "failed";
  return DumpJson({{"title", OneLine(Headline(r, event))},
                   {"message", message},
                   {"tags", tag},
                   {"priority", bad ? "4" : "3"},
                   {"click", page}});
}

std::string EmailBody(const NotifyConfig& n, const Run& r, std::string_view event,
                      const std::string& page, int64_t now, const std::string& message_id) {
  std::string to;
  for (const std::string& addr : n.to) to += (to.empty() ? "" : ", ") + addr;
  std::string text;
  for (const auto& [k, v] : Details(r, page)) text += k + ": " + v + "\r\n";
  // RFC 5322; the date as RFC 2822 wants it, in UTC.
  time_t secs = now / 1000;
  struct tm tm;
  gmtime_r(&secs, &tm);
  char date[64];
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return fmt::format(
      "From: {}\r\nTo: {}\r\nSubject: [jenky] {}\r\nDate: {}\r\nMessage-ID: <{}>\r\n"
      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 8bit\r\n\r\n{}",
      OneLine(n.from), OneLine(to), OneLine(Headline(r, event)), date, message_id, text);
}

// The forge's state for RUN's status.
std::string ForgeState(StatusProvider p, RunStatus s) {
  bool gitlab = p == StatusProvider::kGitLab;
  switch (s) {
    case RunStatus::kQueued: return "pending";
    case RunStatus::kRunning: return gitlab ? "running" : "pending";
    case RunStatus::kSucceeded: return "success";
    case RunStatus::kFailed:
    case RunStatus::kTimedOut: return gitlab ? "failed" : "failure";
    case RunStatus::kInterrupted: return gitlab ? "failed" : "error";
    case RunStatus::kCancelled: return gitlab ? "canceled" : "error";
  }
  return "pending";
}

std::string StatusDescription(const Run& r) {
  std::string d;
  switch (r.status) {
    case RunStatus::kQueued: d = "Deploy queued"; break;
    case RunStatus::kRunning: d = "Deploying"; break;
    case RunStatus::kSucceeded: d = "Deployed"; break;
    case RunStatus::kCancelled: d = "Deploy cancelled"; break;
    case RunStatus::kTimedOut: d = "Deploy timed out"; break;
    case RunStatus::kInterrupted: d = "Deploy interrupted"; break;
    case RunStatus::kFailed: d = "Deploy failed"; break;
  }
  if (r.finished_at && r.started_at) {
    d += " in " + Human(r.finished_at - r.started_at);
  }
  d += fmt::format(" (run {})", r.id);
  return d.substr(0, 140);  // GitHub's limit
}

std::string StatusRepo(const StatusConfig& s, const Run& r) {
  return s.repo.empty() ? RepoFromWebUrl(s, r.trigger.repo_url) : s.repo;
}

// Why no repository was found for RUN's status: for the message's record.
std::string NoRepoReason(const ProjectConfig& p, const Run& r) {
  std::string fix = fmt::format("set repo = \"owner/name\" in [projects.{}.status]", p.name);
  if (r.trigger.repo_url.empty()) {
    return fmt::format(
        "no repository to post the commit status to: run {} ({}) did not come from a webhook "
        "whose payload names one; {}",
        r.id, TriggerKindName(r.trigger.kind), fix);
  }
  return fmt::format(
      "no repository to post the commit status to: the webhook payload's repository '{}' is "
      "not a {} repository address; {}",
      r.trigger.repo_url, StatusProviderName(p.status->provider), fix);
}

OutboxMessage StatusMessage(const ProjectConfig& p, const Run& r, const std::string& page,
                            int64_t now) {
  const StatusConfig& s = *p.status;
  OutboxMessage m;
  m.receiver = "status:" + p.name;
  m.kind = StatusProviderName(s.provider);
  std::string state = ForgeState(s.provider, r.status);
  m.event = "status." + state;
  std::string repo = StatusRepo(s, r);
  if (repo.empty()) {
    // Recorded, failed at once, so the run's messages say why its commit
    // shows no status.
    m.state = MessageState::kFailed;
    m.finished_at = now;
    m.last_error = NoRepoReason(p, r);
    m.body = "{}";
    return m;
  }
  nlohmann::json body = {
      {"state", state}, {"target_url", page}, {"description", StatusDescription(r)}};
  if (s.provider == StatusProvider::kGitLab) {
    m.url = fmt::format("{}/projects/{}/statuses/{}", s.api_url, UrlEncode(repo), r.trigger.commit);
    body["name"] = s.context;
    if (!r.trigger.branch.empty()) body["ref"] = r.trigger.branch;
  } else {
    m.url = fmt::format("{}/repos/{}/statuses/{}", s.api_url, repo, r.trigger.commit);
    body["context"] = s.context;
  }
  m.body = DumpJson(body);
  return m;
}

// GitHub's Deployments API: the deployment when the run is queued, its
// statuses after. The statuses' URL holds "{deployment}" until the outbox
// knows the id GitHub gave it (server/outbox.cc).
OutboxMessage DeploymentMessage(const ProjectConfig& p, const Run& r, const std::string& page,
                                const std::string& repo) {
  const StatusConfig& s = *p.status;
  OutboxMessage m;
  m.receiver = "deploy:" + p.name;
  m.kind = StatusProviderName(s.provider);
  if (r.status == RunStatus::kQueued) {
    m.event = "deployment.create";
    m.url = fmt::format("{}/repos/{}/deployments", s.api_url, repo);
    // auto_merge off, no required contexts: jenky deploys the commit it
    // was given, checks or not; the run says whether that went well.
    m.body = DumpJson({{"ref", r.trigger.commit},
                       {"environment", s.environment},
                       {"auto_merge", false},
                       {"required_contexts", nlohmann::json::array()},
                       {"payload", {{"run", r.id}}},
                       {"description", fmt::format("jenky run {} of {}", r.id, r.project)}});
    return m;
  }
  std::string state = r.status == RunStatus::kRunning     ? "in_progress"
                      : r.status == RunStatus::kSucceeded ? "success"
                      : (r.status == RunStatus::kFailed || r.status == RunStatus::kTimedOut)
                          ? "failure"
                          : "error";
  m.event = "deployment." + state;
  m.url = fmt::format("{}/repos/{}/deployments/{{deployment}}/statuses", s.api_url, repo);
  m.body = DumpJson({{"state", state},
                     {"log_url", page},
                     {"environment", s.environment},
                     {"description", StatusDescription(r)}});
  return m;
}

bool IsCommitSha(std::string_view s) {
  return s.size() >= 7 && s.size() <= 64 &&
         s.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
}

}  // namespace

unsigned EventOf(RunStatus s) {
  switch (s) {
    case RunStatus::kQueued: return 0;
    case RunStatus::kRunning: return kOnStarted;
    case RunStatus::kSucceeded: return kOnSucceeded;
    case RunStatus::kCancelled: return kOnCancelled;
    default: return kOnFailed;
  }
}

std::string RepoFromWebUrl(const StatusConfig& s, std::string_view url) {
  // The path of an http(s) address, without query, fragment, ".git" or
  // slashes at either end.
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos ||
      (url.substr(0, scheme) != "https" && url.substr(0, scheme) != "http")) {
    return "";
  }
  std::string_view rest = url.substr(scheme + 3);
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return "";
  std::string_view path = rest.substr(slash);
  path = path.substr(0, path.find_first_of("?#"));
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.size() > 4 && path.substr(path.size() - 4) == ".git") path.remove_suffix(4);
  if (s.provider == StatusProvider::kGitLab) {
    // An instance under a path ("https://example.com/gitlab/group/app",
    // API "https://example.com/gitlab/api/v4"): its path is not the project's.
    std::string_view api = s.api_url;
    size_t api_scheme = api.find("://");
    size_t api_path =
        api_scheme == std::string_view::npos ? api.npos : api.find('/', api_scheme + 3);
    std::string_view root = api_path == api.npos ? "" : api.substr(api_path);
    root = root.substr(0, root.rfind("/api/v"));
    if (!root.empty() && path.substr(0, root.size()) == root && path.size() > root.size() &&
        path[root.size()] == '/') {
      path.remove_prefix(root.size());
    }
  } else {
    size_t last = path.rfind('/');
    if (last == std::string_view::npos || last == 0) return "";
    size_t owner = path.rfind('/', last - 1);
    path = path.substr(owner == std::string_view::npos ? 0 : owner);
  }
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path.find('/') == std::string_view::npos || path.find("..") != std::string_view::npos ||
      path.find_first_of(" %\\") != std::string_view::npos) {
    return "";
  }
  return std::string(path);
}

std::string RunPageUrl(const std::string& base_url, int64_t run_id) {
  std::string base = base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return fmt::format("{}/runs/{}", base, run_id);
}

std::string Headline(const Run& r, std::string_view event) {
  std::string h = fmt::format("{} #{} {}", r.project, r.id, Verb(event, r));
  if (r.finished_at && r.started_at) {
    h += " after " + Human(r.finished_at - r.started_at);
  }
  return h;
}

std::vector<std::pair<std::string, std::string>> Details(const Run& r, const std::string& page) {
  std::vector<std::pair<std::string, std::string>> d;
  d.emplace_back("Project", r.project);
  d.emplace_back("Run", std::to_string(r.id));
  d.emplace_back("Result", RunStatusName(r.status));
  if (r.finished_at && r.started_at) {
    d.emplace_back("Duration", Human(r.finished_at - r.started_at));
  }
  if (!r.trigger.commit.empty()) d.emplace_back("Commit", Short(r.trigger.commit));
  if (!r.trigger.branch.empty()) d.emplace_back("Branch", r.trigger.branch);
  if (!r.trigger.actor.empty()) d.emplace_back("Actor", r.trigger.actor);
  d.emplace_back("Trigger", TriggerKindName(r.trigger.kind));
  if (!r.reason.empty()) d.emplace_back("Reason", r.reason);
  d.emplace_back("Link", page);
  return d;
}

std::vector<OutboxMessage> MessagesFor(const Config& config, const Run& r,
                                       const RenderContext& ctx) {
  std::vector<OutboxMessage> out;
  const ProjectConfig* p = config.FindProject(r.project);
  std::string page = RunPageUrl(ctx.base_url, r.id);
  std::optional<OutboxMessage> status;
  if (p && p->status && IsCommitSha(r.trigger.commit)) status = StatusMessage(*p, r, page, ctx.now);
  // With no repository, one record says why, when the run ends (not one per
  // state change: queued, running and finished would say the same thing).
  if (status && status->state == MessageState::kFailed && !IsFinished(r.status)) status.reset();
  if (status) {
    out.push_back(std::move(*status));
    if (p->status->deployments) {
      const OutboxMessage& status = out.back();
      if (status.state == MessageState::kFailed) {  // no repository: nor has the deployment
        OutboxMessage d = status;
        d.receiver = "deploy:" + p->name;
        d.event = r.status == RunStatus::kQueued ? "deployment.create" : "deployment.status";
        out.push_back(std::move(d));
      } else {
        std::string repo = StatusRepo(*p->status, r);
        if (r.status != RunStatus::kQueued && !(ctx.deployment_made && ctx.deployment_made())) {
          Run queued = r;
          queued.status = RunStatus::kQueued;
          out.push_back(DeploymentMessage(*p, queued, page, repo));
        }
        out.push_back(DeploymentMessage(*p, r, page, repo));
      }
    }
  }

  unsigned event = EventOf(r.status);
  if (event != 0) {
    bool recovered = false, asked = false;
    for (const NotifyConfig& n : config.notify) {
      if (!n.Wants(r.project)) continue;
      if (event == kOnSucceeded && (n.on & kOnRecovered) && !asked) {
        asked = true;
        auto before = ctx.previous_outcome ? ctx.previous_outcome() : std::nullopt;
        recovered = before && *before != RunStatus::kSucceeded;
      }
      std::string name;
      if (event == kOnSucceeded && recovered && (n.on & kOnRecovered)) {
        name = "recovered";
      } else if (n.on & event) {
        name = NotifyEventName(static_cast<NotifyEvent>(event));
      } else {
        continue;
      }
      OutboxMessage m;
      m.receiver = n.receiver();
      m.kind = NotifyKindName(n.kind);
      m.event = "run." + name;
      switch (n.kind) {
        case NotifyKind::kWebhook: m.body = WebhookBody(r, m.event, page, ctx.now); break;
        case NotifyKind::kSlack: m.body = SlackBody(r, name, page); break;
        case NotifyKind::kDiscord: m.body = DiscordBody(r, name, page, ctx.now); break;
        case NotifyKind::kNtfy: m.body = NtfyBody(r, name, page); break;
        case NotifyKind::kEmail:
          m.body = EmailBody(n, r, name, page, ctx.now,
                             fmt::format("jenky.run{}.{}.{}@jenky", r.id, name, ctx.now));
          break;
      }
      out.push_back(std::move(m));
    }
  }
  for (OutboxMessage& m : out) {
    m.run_id = r.id;
    m.project = r.project;
    m.created_at = ctx.now;
  }
  return out;
}

}  // namespace jenky
