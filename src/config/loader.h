// The loader: reads jenky.toml's tables for config.cc and its parts
// (recipe_params.cc), one typed value at a time. Every problem becomes a
// ConfigError at the position of the value (or key) to blame, with what to
// write instead; nothing throws and nothing stops at the first error.
// CheckKeys reports every key a table may not have at its own position.
//
// Lifetime and threads: a Loader lives for one ParseConfig call and appends
// to that call's error list (it keeps references to it and to the
// environment lookup, which must outlive it). One thread.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/toml.h"
#include "util/duration.h"

namespace jenky {

class Loader {
 public:
  Loader(std::string file, const EnvLookup& env, std::vector<ConfigError>& errors)
      : file_(std::move(file)), env_(env), errors_(errors) {}

  // An error at WHERE (file:line:col of this file).
  void Error(const toml::source_region& where, std::string message);
  void Error(const toml::node& where, std::string message);

  // Every key of TABLE not in ALLOWED is an error naming the known ones.
  void CheckKeys(const toml::table& table, std::string_view where,
                 std::initializer_list<std::string_view> allowed);

  // T[KEY] as a value of the type; nullopt when absent, or (an error
  // recorded, "WHERE.KEY must be ...") of another type or malformed.
  std::optional<std::string> String(const toml::table& t, std::string_view key,
                                    std::string_view where);
  std::optional<bool> Bool(const toml::table& t, std::string_view key, std::string_view where);
  std::optional<std::vector<std::string>> Strings(const toml::table& t, std::string_view key,
                                                  std::string_view where);
  // "30s", "5m" (util/duration.h).
  std::optional<Millis> Duration(const toml::table& t, std::string_view key,
                                 std::string_view where);
  // "1MiB", "512k" (util/duration.h).
  std::optional<long long> Size(const toml::table& t, std::string_view key, std::string_view where);

  std::optional<std::string> Env(const std::string& name) { return env_(name); }
  size_t ErrorCount() const { return errors_.size(); }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  const EnvLookup& env_;
  std::vector<ConfigError>& errors_;
};

// P made absolute against BASE_DIR (the config file's directory), normalised;
// "" stays "".
std::string Absolute(const std::string& base_dir, const std::string& p);

// Whether S can name an environment variable ([A-Za-z_][A-Za-z0-9_]*).
bool IsEnvName(std::string_view s);

}  // namespace jenky
