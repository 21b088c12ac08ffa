// libFuzzer target: config parsing (ParseConfig in src/config/config.h), a
// TOML string to a Config or a list of errors, never an exception or a crash.
//
// Beyond the sanitizers, it checks what the rest of jenky relies on: every
// error has a message and a position that is not negative, and a config
// that loads without errors has only valid project names, exactly one
// script source per project, and tokens as 64 lower-case hex digits.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace {

// The variables configs of the corpus read secrets and tokens from.
const std::map<std::string, std::string>& Env() {
  static const auto* env = new std::map<std::string, std::string>{
      {"HOME", "/home/fuzz"},
      {"JENKY_TOKEN_LAPTOP", "laptop-token-value"},
      {"TAOWAI_HOOK_SECRET", "hook-secret-value"},
      {"DB_PASSWORD", "db-password-value"},
      {"GITLAB_SIGNING_TOKEN", "whsec_ZnV6ei1zaWduaW5nLWtleQ=="},
  };
  return *env;
}

bool IsLowerHex64(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace jenky;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto lookup = [](const std::string& name) -> std::optional<std::string> {
    auto it = Env().find(name);
    if (it == Env().end()) return std::nullopt;
    return it->second;
  };
  ConfigLoad load = ParseConfig(text, "/etc/jenky/jenky.toml", lookup);
  for (const ConfigError& e : load.errors) {
    if (e.message.empty() || e.line < 0 || e.column < 0) __builtin_trap();
    (void)e.ToString();
  }
  if (!load.ok()) return 0;
  const Config& c = load.config;
  for (const ProjectConfig& p : c.projects) {
    if (!IsValidProjectName(p.name)) __builtin_trap();
    int sources = !p.script.empty() + !p.script_file.empty() + !p.recipe.empty();
    if (sources != 1) __builtin_trap();
    if (c.FindProject(p.name) == nullptr) __builtin_trap();
  }
  for (const TokenConfig& t : c.tokens) {
    if (!IsLowerHex64(t.sha256)) __builtin_trap();
  }
  (void)c.SecretEnvNames();
  return 0;
}
