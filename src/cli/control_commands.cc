#include "cli/control_commands.h"

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/client_commands.h"
#include "http/client.h"
#include "util/json.h"

namespace jenky {
namespace {

constexpr int kServerError = 6;

int Failed(const Result<ClientResponse>& r) {
  if (!r.ok()) {
    std::fprintf(stderr, "jenky: %s\n", r.status().message().c_str());
  } else {
    std::fprintf(stderr, "jenky: %s\n", ErrorMessage(*r).c_str());
    if (r->status == 401) std::fprintf(stderr, "jenky: pass a token with --token or JENKY_TOKEN\n");
  }
  return kServerError;
}

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "-";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

}  // namespace

int PauseCommand(const ClientOptions& o, const std::string& project, const std::string& reason,
                 bool pause) {
  auto client = Connect(o);
  if (!client) return kServerError;
  nlohmann::json body = nlohmann::json::object();
  if (pause && !reason.empty()) body["reason"] = reason;
  auto r = client->Post(fmt::format("/api/v1/projects/{}/{}", project, pause ? "pause" : "resume"),
                        DumpJson(body));
  if (!r.ok() || r->status != 200) return Failed(r);
  if (pause) {
    std::fprintf(stderr, "jenky: %s is paused%s: nothing deploys until `jenky resume %s`\n",
                 project.c_str(), reason.empty() ? "" : (" (" + reason + ")").c_str(),
                 project.c_str());
  } else {
    std::fprintf(stderr, "jenky: %s is resumed: it deploys again\n", project.c_str());
  }
  return 0;
}

int AuditCommand(const ClientOptions& o, const std::string& project, int limit, bool json) {
  auto client = Connect(o);
  if (!client) return kServerError;
  std::string target = fmt::format("/api/v1/audit?limit={}", limit);
  if (!project.empty()) target += "&project=" + project;
  auto r = client->Get(target);
  if (!r.ok() || r->status != 200) return Failed(r);
  if (json) {
    std::fwrite(r->body.data(), 1, r->body.size(), stdout);
    std::fputc('\n', stdout);
    return 0;
  }
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_array()) {
    std::fprintf(stderr, "jenky: the server sent something that is not an audit log\n");
    return kServerError;
  }
  std::string out = fmt::format("{:<24}  {:<22} {:<14} {:<16} {:>6}  {:<15} {}\n", "TIME", "ACTOR",
                                "ACTION", "PROJECT", "RUN", "ADDRESS", "DETAIL");
  for (const auto& e : j) {
    out += fmt::format("{:<24}  {:<22} {:<14} {:<16} {:>6}  {:<15} {}\n", Str(e, "time"),
                       Str(e, "actor"), Str(e, "action"), Str(e, "project"), Str(e, "run"),
                       Str(e, "address"), Str(e, "detail") == "-" ? "" : Str(e, "detail"));
  }
  if (j.empty()) out += "(no entries)\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace jenky
