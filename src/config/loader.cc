#include "config/loader.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

namespace jenky {

void Loader::Error(const toml::source_region& where, std::string message) {
  errors_.push_back({file_, static_cast<int>(where.begin.line),
                     static_cast<int>(where.begin.column), std::move(message)});
}
void Loader::Error(const toml::node& where, std::string message) {
  Error(where.source(), std::move(message));
}

// Every key of TABLE not in ALLOWED is an error.
void Loader::CheckKeys(const toml::table& table, std::string_view where,
                       std::initializer_list<std::string_view> allowed) {
  for (auto&& [key, node] : table) {
    if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
    std::string list;
    for (auto a : allowed) list += fmt::format("{}{}", list.empty() ? "" : ", ", a);
    Error(key.source(),
          fmt::format("unknown key '{}' in {}; known keys are: {}", key.str(), where, list));
  }
}

std::optional<std::string> Loader::String(const toml::table& t, std::string_view key,
                                          std::string_view where) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (auto s = n->value<std::string>()) return *s;
  Error(*n, fmt::format("{}.{} must be a string", where, key));
  return std::nullopt;
}

std::optional<bool> Loader::Bool(const toml::table& t, std::string_view key,
                                 std::string_view where) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (auto b = n->value<bool>()) return *b;
  Error(*n, fmt::format("{}.{} must be true or false (without quotes)", where, key));
  return std::nullopt;
}

std::optional<std::vector<std::string>> Loader::Strings(const toml::table& t, std::string_view key,
                                                        std::string_view where) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  const toml::array* arr = n->as_array();
  if (!arr) {
    Error(*n, fmt::format("{}.{} must be an array of strings, like [\"a\", \"b\"]", where, key));
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const toml::node& item : *arr) {
    if (auto s = item.value<std::string>()) {
      out.push_back(*s);
    } else {
      Error(item, fmt::format("{}.{} must contain only strings", where, key));
    }
  }
  return out;
}

std::optional<Millis> Loader::Duration(const toml::table& t, std::string_view key,
                                       std::string_view where) {
  auto s = String(t, key, where);
  if (!s) return std::nullopt;
  auto d = ParseDuration(*s);
  if (!d.ok()) {
    Error(*t.get(key), fmt::format("{}.{}: {}", where, key, d.status().message()));
    return std::nullopt;
  }
  return *d;
}

std::optional<long long> Loader::Size(const toml::table& t, std::string_view key,
                                      std::string_view where) {
  auto s = String(t, key, where);
  if (!s) return std::nullopt;
  auto n = ParseSize(*s);
  if (!n.ok()) {
    Error(*t.get(key), fmt::format("{}.{}: {}", where, key, n.status().message()));
    return std::nullopt;
  }
  return *n;
}

std::string Absolute(const std::string& base_dir, const std::string& p) {
  if (p.empty()) return p;
  std::filesystem::path path(p);
  if (path.is_absolute()) return path.lexically_normal().string();
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

bool IsEnvName(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace jenky
