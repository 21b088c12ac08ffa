#include "util/secret_env.h"

#include <sys/prctl.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "util/fs.h"

extern char** environ;

namespace jenky {
namespace {

std::map<std::string, std::string>& Withheld() {
  static auto* withheld = new std::map<std::string, std::string>();
  return *withheld;
}

// The block the kernel shows as /proc/self/environ: fields 50 and 51
// (env_start, env_end) of /proc/self/stat. {0, 0} if unknown.
std::pair<uintptr_t, uintptr_t> EnvironmentBlock() {
  auto stat = ReadFile("/proc/self/stat");
  if (!stat.ok()) return {0, 0};
  // The command name (field 2) may hold spaces; fields count from after it.
  size_t close = stat->rfind(')');
  if (close == std::string::npos) return {0, 0};
  unsigned long long start = 0, end = 0;
  const char* p = stat->c_str() + close + 2;  // field 3
  for (int field = 3; field < 50 && *p; ++field) {
    p = std::strchr(p, ' ');
    if (!p) return {0, 0};
    ++p;
  }
  if (std::sscanf(p, "%llu %llu", &start, &end) != 2) return {0, 0};
  return {static_cast<uintptr_t>(start), static_cast<uintptr_t>(end)};
}

}  // namespace

void HideProcessMemory() { prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }

void WithholdFromEnvironment(const std::vector<std::string>& names) {
  auto [start, end] = EnvironmentBlock();
  for (const auto& name : names) {
    for (char** e = environ; e && *e; ++e) {
      if (std::strncmp(*e, name.c_str(), name.size()) != 0 || (*e)[name.size()] != '=') continue;
      char* entry = *e;
      Withheld()[name] = entry + name.size() + 1;
      unsetenv(name.c_str());
      // Only the block the process started with: strings setenv made are
      // libc's and may be reused by it.
      auto at = reinterpret_cast<uintptr_t>(entry);
      if (at >= start && at < end) explicit_bzero(entry, std::strlen(entry));
      break;
    }
  }
}

std::optional<std::string> LookupEnv(const std::string& name) {
  if (const char* v = std::getenv(name.c_str())) return std::string(v);
  auto it = Withheld().find(name);
  if (it != Withheld().end()) return it->second;
  return std::nullopt;
}

std::vector<std::string> WithheldValues() {
  std::vector<std::string> out;
  for (const auto& [name, value] : Withheld()) out.push_back(value);
  return out;
}

void RestoreForExec() {
  for (const auto& [name, value] : Withheld()) setenv(name.c_str(), value.c_str(), 0);
}

}  // namespace jenky
