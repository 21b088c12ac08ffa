#include "exec/run_spec.h"

#include <unistd.h>

#include <cerrno>
#include <optional>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "util/hash.h"
#include "util/json.h"
#include "util/utf8.h"

namespace jenky {

namespace {

// JSON carries text; any other bytes (an environment value may hold anything
// but NUL) travel as {"hex": "..."}, so that the run gets them unchanged.
nlohmann::json Bytes(const std::string& s) {
  if (IsValidUtf8(s)) return s;
  return nlohmann::json{{"hex", HexEncode(s)}};
}

nlohmann::json Bytes(const std::vector<std::string>& v) {
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& s : v) out.push_back(Bytes(s));
  return out;
}

std::string StringOf(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  std::optional<std::string> bytes = HexDecode(j.at("hex").get_ref<const std::string&>());
  if (!bytes) throw std::invalid_argument("bad hex string");
  return *bytes;
}

std::vector<std::string> StringsOf(const nlohmann::json& j) {
  std::vector<std::string> out;
  for (const auto& e : j) out.push_back(StringOf(e));
  return out;
}

}  // namespace

std::string EncodeRunSpec(const RunSpec& s) {
  nlohmann::json j = {{"run_dir", Bytes(s.run_dir)}, {"run_id", s.run_id},
                      {"project", Bytes(s.project)}, {"argv", Bytes(s.argv)},
                      {"env", Bytes(s.env)},         {"workdir", Bytes(s.workdir)},
                      {"timeout_ms", s.timeout_ms},  {"kill_grace_ms", s.kill_grace_ms},
                      {"secrets", Bytes(s.secrets)}, {"max_log_bytes", s.max_log_bytes},
                      {"staged", s.staged},          {"warm_started", s.warm_started},
                      {"memory_max", s.memory_max},  {"tasks_max", s.tasks_max}};
  return DumpJson(j) + "\n";  // (one line: JSON escapes every newline in it)
}

Result<RunSpec> DecodeRunSpec(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return Status::Error("run spec is not a JSON object");
  RunSpec s;
  try {
    s.run_dir = StringOf(j.at("run_dir"));
    s.run_id = j.at("run_id").get<int64_t>();
    s.project = StringOf(j.at("project"));
    s.argv = StringsOf(j.at("argv"));
    s.env = StringsOf(j.at("env"));
    s.workdir = StringOf(j.at("workdir"));
    s.timeout_ms = j.at("timeout_ms").get<int64_t>();
    s.kill_grace_ms = j.at("kill_grace_ms").get<int64_t>();
    if (j.contains("secrets")) s.secrets = StringsOf(j.at("secrets"));
    s.max_log_bytes = j.value("max_log_bytes", int64_t{0});
    s.staged = j.value("staged", false);
    s.warm_started = j.value("warm_started", false);
    s.memory_max = j.value("memory_max", int64_t{0});
    s.tasks_max = j.value("tasks_max", int64_t{0});
  } catch (const std::exception& e) {
    return Status::Error(std::string("run spec: ") + e.what());
  }
  if (s.argv.empty()) return Status::Error("run spec: empty argv");
  return s;
}

std::string ReadRunSpecLine(int fd) {
  std::string input;
  char buf[65536];
  while (input.empty() || input.back() != '\n') {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    input.append(buf, static_cast<size_t>(n));
  }
  return input;
}

}  // namespace jenky
