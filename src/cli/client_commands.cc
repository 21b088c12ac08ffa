#include "cli/client_commands.h"
#include "util/json.h"

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/run.h"
#include "http/client.h"
#include "util/fs.h"
#include "util/time.h"

namespace jenky {
namespace {

constexpr int kServerError = 6;

}  // namespace

std::optional<Client> Connect(const ClientOptions& o) {
  std::string url = o.server;
  if (url.empty()) {
    const char* env = std::getenv("JENKY_SERVER");
    url = env && *env ? env : "http://127.0.0.1:8080";
  }
  std::string token = o.token;
  if (token.empty()) {
    if (const char* env = std::getenv("JENKY_TOKEN")) token = env;
  }
  std::string cacert = o.cacert;
  if (cacert.empty()) {
    if (const char* env = std::getenv("JENKY_CACERT")) cacert = env;
  }
  auto c = Client::Create(url, token, cacert);
  if (!c.ok()) {
    std::fprintf(stderr, "jenky: %s\n", c.status().message().c_str());
    return std::nullopt;
  }
  return std::move(c).value();
}

bool ResolveTokenFile(ClientOptions& o) {
  if (!o.token.empty() && !o.token_file.empty()) {
    std::fprintf(stderr, "jenky: give --token or --token-file, not both\n");
    return false;
  }
  std::string path = o.token_file;
  if (path.empty() && o.token.empty() && !std::getenv("JENKY_TOKEN")) {
    if (const char* env = std::getenv("JENKY_TOKEN_FILE")) path = env;
  }
  if (path.empty()) return true;
  std::string text;
  if (path == "-") {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0 && text.size() < 65536)
      text.append(buf, n);
  } else {
    auto data = ReadFile(path);
    if (!data.ok()) {
      std::fprintf(stderr, "jenky: cannot read the token file: %s\n",
                   data.status().message().c_str());
      return false;
    }
    text = std::move(*data);
  }
  text = text.substr(0, text.find('\n'));
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  if (text.empty()) {
    std::fprintf(stderr, "jenky: the token file %s is empty; put the token on its first line\n",
                 path == "-" ? "(standard input)" : path.c_str());
    return false;
  }
  o.token = std::move(text);
  return true;
}

namespace {

// Prints the server's error and returns the exit code for it.
int Fail(const ClientResponse& r) {
  std::string msg = ErrorMessage(r);
  std::fprintf(stderr, "jenky: %s\n", msg.c_str());
  if (r.status == 401) {
    std::fprintf(stderr, "jenky: pass a token with --token or JENKY_TOKEN\n");
  }
  return kServerError;
}

std::optional<nlohmann::json> ParseJson(const ClientResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) {
    std::fprintf(stderr, "jenky: the server sent something that is not JSON (HTTP %d)\n", r.status);
    return std::nullopt;
  }
  return j;
}

void WriteOut(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(STDOUT_FILENO, data.data(), data.size());
    if (n <= 0) {
      if (errno == EINTR) continue;
      std::exit(0);  // stdout closed (| head): nothing more to do
    }
    data.remove_prefix(n);
  }
}

std::string Age(int64_t ms) {
  if (ms <= 0) return "-";
  int64_t s = (NowMillis() - ms) / 1000;
  if (s < 60) return fmt::format("{}s ago", s);
  if (s < 3600) return fmt::format("{}m ago", s / 60);
  if (s < 86400) return fmt::format("{}h ago", s / 3600);
  return fmt::format("{}d ago", s / 86400);
}

std::string Duration(const Run& r) {
  if (r.started_at <= 0) return "-";
  int64_t end = r.finished_at > 0 ? r.finished_at : NowMillis();
  int64_t s = (end - r.started_at) / 1000;
  if (s < 60) return fmt::format("{}.{}s", s, ((end - r.started_at) % 1000) / 100);
  return fmt::format("{}m{:02}s", s / 60, s % 60);
}

// A fleet run's hosts as a table on stderr (stdout has the log alone).
void PrintHosts(const nlohmann::json& run) {
  auto hosts = run.find("hosts");
  if (hosts == run.end() || !hosts->is_array()) return;
  std::fprintf(stderr, "%-20s %-12s %s\n", "HOST", "STATUS", "REASON");
  for (const auto& h : *hosts) {
    std::string row = fmt::format("{:<20} {:<12} {}", h.value("name", ""), h.value("status", ""),
                                  h.value("reason", ""));
    std::fprintf(stderr, "%s\n", row.substr(0, row.find_last_not_of(' ') + 1).c_str());
  }
}

// "&host=NAME" (percent-encoded) for a fleet host's own log, "" for the run's.
std::string HostQuery(const std::string& host) {
  if (host.empty()) return "";
  std::string q = "&host=";
  for (unsigned char c : host) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      q += static_cast<char>(c);
    } else {
      q += fmt::format("%{:02X}", c);
    }
  }
  return q;
}

// Streams run ID's log (HOST: that fleet host's own log) from OFFSET to
// stdout until the run ends, riding out server restarts and dropped
// connections. Returns the run's exit code.
int Follow(Client& client, int64_t id, int64_t offset, const std::string& host = "") {
  using namespace std::chrono_literals;
  auto give_up_at = std::chrono::steady_clock::now() + 120s;
  auto backoff = 200ms;
  bool warned = false;
  bool connected = false;
  for (;;) {
    std::string error_body;
    auto status = client.Stream(
        fmt::format("/api/v1/runs/{}/log?follow=1&offset={}{}", id, offset, HostQuery(host)),
        [&](std::string_view data) {
          WriteOut(data);
          offset += static_cast<int64_t>(data.size());
          connected = true;
        },
        &error_body);
    if (status.ok()) connected = true;
    if (!status.ok() && !connected) {
      // Never reached the server: nothing to resume, say so at once.
      std::fprintf(stderr, "jenky: %s\n", status.status().message().c_str());
      return kServerError;
    }
    if (status.ok() && *status / 100 != 2) {
      ClientResponse r{*status, error_body, ""};
      return Fail(r);
    }
    if (status.ok() || offset > 0) {
      auto run = client.Get(fmt::format("/api/v1/runs/{}", id));
      if (run.ok() && run->status == 200) {
        nlohmann::json rj = nlohmann::json::parse(run->body, nullptr, false);
        Run r = RunFromJson(rj);
        if (IsFinished(r.status)) {
          if (warned) std::fprintf(stderr, "jenky: reconnected\n");
          PrintHosts(rj);
          if (r.status != RunStatus::kSucceeded) {
            std::fprintf(stderr, "jenky: run %lld %s%s%s\n", static_cast<long long>(id),
                         RunStatusName(r.status), r.reason.empty() ? "" : ": ", r.reason.c_str());
          }
          return ExitCodeFor(r.status);
        }
        if (status.ok()) {
          backoff = 200ms;
          give_up_at = std::chrono::steady_clock::now() + 120s;
          continue;  // the stream ended early (server stopping): resume
        }
      }
    }
    if (std::chrono::steady_clock::now() > give_up_at) {
      std::fprintf(stderr, "jenky: %s; giving up\n", status.status().message().c_str());
      return kServerError;
    }
    if (!warned) {
      std::fprintf(stderr, "jenky: connection to %s lost; reconnecting...\n", client.url().c_str());
      warned = true;
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

// POSTs BODY to TARGET, which creates a run (202 + Run); prints its id, or
// follows it to the end when FOLLOW. DESCRIBE says what the run does.
int StartRun(Client& client, const std::string& target, const nlohmann::json& body, bool follow,
             const std::function<std::string(const Run&)>& describe) {
  auto r = client.Post(target, DumpJson(body));
  if (!r.ok()) {
    std::fprintf(stderr, "jenky: %s\n", r.status().message().c_str());
    return kServerError;
  }
  if (r->status != 202) return Fail(*r);
  auto j = ParseJson(*r);
  if (!j) return kServerError;
  Run run = RunFromJson(*j);
  std::fprintf(stderr, "jenky: run %lld %s\n", static_cast<long long>(run.id),
               describe(run).c_str());
  if (!follow) {
    std::printf("%lld\n", static_cast<long long>(run.id));
    return 0;
  }
  return Follow(client, run.id, 0);
}

}  // namespace

int DeployCommand(const ClientOptions& o, const std::string& project, bool follow,
                  const std::string& ref, const std::string& commit,
                  const std::vector<std::string>& inputs) {
  nlohmann::json body = {{"kind", "cli"}};
  for (const std::string& in : inputs) {
    size_t eq = in.find('=');
    if (eq == 0 || eq == std::string::npos) {
      std::fprintf(stderr, "jenky: --input takes NAME=VALUE (e.g. --input level=debug), not '%s'\n",
                   in.c_str());
      return 2;
    }
    body["inputs"][in.substr(0, eq)] = in.substr(eq + 1);
  }
  auto client = Connect(o);
  if (!client) return kServerError;
  if (!ref.empty()) body["ref"] = ref;
  if (!commit.empty()) body["commit"] = commit;
  return StartRun(*client, "/api/v1/projects/" + project + "/runs", body, follow,
                  [](const Run& run) {
                    return fmt::format("of {} {}", run.project, RunStatusName(run.status));
                  });
}

int RunsCommand(const ClientOptions& o, const std::string& project, int limit, bool json) {
  auto client = Connect(o);
  if (!client) return kServerError;
  std::string target = project.empty() ? "/api/v1/runs" : "/api/v1/projects/" + project + "/runs";
  target += fmt::format("?limit={}", limit);
  auto r = client->Get(target);
  if (!r.ok()) {
    std::fprintf(stderr, "jenky: %s\n", r.status().message().c_str());
    return kServerError;
  }
  if (r->status != 200) return Fail(*r);
  if (json) {
    WriteOut(r->body);
    return 0;
  }
  auto j = ParseJson(*r);
  if (!j || !j->is_array()) return kServerError;
  std::string out =
      fmt::format("{:>6}  {:<16} {:<11} {:<8} {:<10} {:<9} {:>8}  {}\n", "ID", "PROJECT", "STATUS",
                  "TRIGGER", "COMMIT", "CREATED", "DURATION", "REASON");
  for (const auto& item : *j) {
    Run run = RunFromJson(item);
    out += fmt::format("{:>6}  {:<16} {:<11} {:<8} {:<10} {:<9} {:>8}  {}\n", run.id, run.project,
                       RunStatusName(run.status), TriggerKindName(run.trigger.kind),
                       run.trigger.commit.substr(0, 10), Age(run.created_at), Duration(run),
                       run.reason);
  }
  if (j->empty()) out += "(no runs yet)\n";
  WriteOut(out);
  return 0;
}

int LogsCommand(const ClientOptions& o, long long run_id, bool follow, const std::string& host) {
  auto client = Connect(o);
  if (!client) return kServerError;
  if (follow) return Follow(*client, run_id, 0, host);
  std::string error_body;
  std::string query = HostQuery(host);
  if (!query.empty()) query[0] = '?';
  auto status =
      client->Stream(fmt::format("/api/v1/runs/{}/log{}", run_id, query), WriteOut, &error_body);
  if (!status.ok()) {
    std::fprintf(stderr, "jenky: %s\n", status.status().message().c_str());
    return kServerError;
  }
  if (*status != 200) return Fail(ClientResponse{*status, error_body, ""});
  return 0;
}

int CancelCommand(const ClientOptions& o, long long run_id) {
  auto client = Connect(o);
  if (!client) return kServerError;
  auto r = client->Post(fmt::format("/api/v1/runs/{}/cancel", run_id), "");
  if (!r.ok()) {
    std::fprintf(stderr, "jenky: %s\n", r.status().message().c_str());
    return kServerError;
  }
  if (r->status != 202) return Fail(*r);
  std::fprintf(stderr, "jenky: cancelling run %lld\n", run_id);
  return 0;
}

int RollbackCommand(const ClientOptions& o, const std::string& project, long long to_run,
                    bool follow) {
  auto client = Connect(o);
  if (!client) return kServerError;
  nlohmann::json body = {{"kind", "cli"}};
  if (to_run > 0) body["to"] = to_run;
  std::string to =
      to_run > 0 ? fmt::format("the release of run {}", to_run) : "the previous release";
  return StartRun(*client, "/api/v1/projects/" + project + "/rollback", body, follow,
                  [&](const Run&) { return fmt::format("rolls {} back to {}", project, to); });
}

}  // namespace jenky
