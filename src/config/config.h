// jenky.toml: the server, its tokens and its projects (SPEC.md "Configuration").
//
// Loading never throws and never stops at the first problem: it returns every
// error it found, each with file:line:col and what to do, so `jenky check`
// shows them all at once. A Config that loaded without errors is fully
// resolved: paths are absolute, secrets and token hashes are read from the
// environment, durations are parsed. It is a value; nothing in it changes after
// loading.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/fleet_types.h"
#include "util/duration.h"

namespace jenky {

class TlsContext;  // util/tls.h

enum class Concurrency { kCoalesce, kQueue, kCancelPrevious };
const char* ConcurrencyName(Concurrency c);

// Token scopes; admin implies the others.
enum Scope : unsigned { kScopeRead = 1, kScopeDeploy = 2, kScopeAdmin = 4 };
constexpr unsigned kAllScopes = kScopeRead | kScopeDeploy | kScopeAdmin;

struct TokenConfig {
  std::string name;
  std::string sha256;  // lower-case hex of SHA-256(token)
  std::string env;     // variable it was read from, "" if given as sha256
  unsigned scopes = 0;
};

struct WebhookConfig {
  // A WebhookProviderName (config/webhook_provider.h), checked when loaded;
  // code that acts on it converts it with ParseWebhookProvider.
  std::string provider;
  std::string secret;  // resolved from `secret` or `secret_env`
  std::string secret_env;
  std::string signing_key;  // GitLab signing token, base64-decoded ("whsec_..." in the config)
  std::string signing_token_env;
  std::vector<std::string> branches;  // glob patterns; empty = all
  std::vector<std::string> events;    // empty = provider's push event
};

struct ProjectConfig {
  std::string name;
  std::string description;
  std::string workdir;  // absolute, or "" for data_dir/workspaces/NAME; see WorkdirOf
  std::string shell = "/bin/bash";
  // Exactly one of these three says what runs.
  std::string script;                         // inline text
  std::string script_file;                    // absolute path, read at each run
  std::string recipe;                         // name of an embedded recipe
  std::map<std::string, std::string> params;  // recipe parameters
  Millis timeout = std::chrono::minutes(30);
  Concurrency concurrency = Concurrency::kCoalesce;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::pair<std::string, std::string>> secrets;  // name, value
  int keep_runs = 200;
  int max_queued = 100;         // triggers waiting behind the running one (queue policy)
  long long max_log_bytes = 0;  // 0 = [server] max_log_bytes; see MaxLogBytesOf
  // Limits of each run's cgroup (memory.max, pids.max); 0 = none. They need
  // the cgroup v2 memory and pids controllers: serve refuses a config that
  // has them where the host has not (CheckRunLimits in server/engine.h).
  long long memory_max = 0;
  long long tasks_max = 0;
  std::optional<WebhookConfig> webhook;
  // Set when the project has `targets`: it deploys to those hosts over ssh
  // instead of this machine (config/hosts_config.h, docs/fleet.md).
  std::optional<FleetConfig> fleet;
};

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";
  std::string host = "127.0.0.1";  // split from listen
  int port = 8080;
  std::string data_dir;
  std::string public_url;  // "" = derived from listen
  std::vector<std::string> allowed_origins;
  // Host names this server answers to besides IP addresses, localhost, the
  // machine's name and public_url's host (http/request_guard.h): ".x" also
  // takes x's subdomains, "*" any name.
  std::vector<std::string> allowed_hosts;
  // Reverse proxies (addresses, networks) whose X-Forwarded-For names the
  // client (util/client_address.h); from anyone else it is ignored.
  std::vector<std::string> trusted_proxies;
  long long max_body_bytes = 1 << 20;
  Millis kill_grace = std::chrono::seconds(10);  // TERM -> KILL on cancel/timeout
  // Spare supervisors start bash ahead of need (supervisor.h, "warm shell").
  bool warm_shell = true;
  int max_auth_failures = 10;
  // A WebSocket viewer that sends nothing (not even a pong to our pings) for
  // this long is gone; pings go out at half of it.
  Millis ws_idle_timeout = std::chrono::seconds(30);
  // A WebSocket viewer of a live log that falls this far behind is closed.
  long long ws_max_lag_bytes = 8 << 20;
  // A run whose log would grow past this is stopped (its script's tree ended)
  // and fails: a runaway script must not fill the disk. Big enough for the
  // 1 GiB capture benchmark.
  long long max_log_bytes = 1LL << 30;
  // Request bodies and webhook payloads nesting arrays/objects deeper than
  // this are refused (400) before they are parsed.
  int max_json_depth = 64;
  // Longest request target (path and query); longer ones get 414.
  long long max_url_bytes = 8 << 10;
  // Open client connections; more are answered 503 and closed.
  int max_connections = 20000;
  // Open connections from one address (loopback and trusted_proxies aside).
  int max_connections_per_address = 256;
  // How long a UI sign-in (session cookie) lasts.
  Millis session_lifetime = std::chrono::hours(24 * 7);
  // WebSocket viewers at once, in all and of one run; more are refused (503).
  int ws_max_viewers = 20000;
  int ws_max_viewers_per_run = 10000;
  // HTTPS: PEM certificate (chain) and private key, absolute; both or neither.
  std::string tls_cert;
  std::string tls_key;
  // Loaded and checked from the two files when the config was; null = plain HTTP.
  std::shared_ptr<const TlsContext> tls;
  // A TLS client that has not finished its handshake by then is dropped.
  Millis tls_handshake_timeout = std::chrono::seconds(10);
  // The operator's ssh config, included after jenky's own options in the
  // config jenky gives ssh for its hosts (ProxyJump, bastions); "" = none.
  std::string ssh_config;
};

struct Config {
  std::string path;  // file it came from, "" for the embedded default
  ServerConfig server;
  std::vector<TokenConfig> tokens;
  std::vector<ProjectConfig> projects;
  std::vector<HostConfig> hosts;  // [hosts.NAME], in file order

  const HostConfig* FindHost(std::string_view name) const;  // (hosts_config.cc)

  const ProjectConfig* FindProject(std::string_view name) const;
  // Names of every environment variable the config reads a secret from; these
  // are withheld from scripts that did not ask for them.
  std::vector<std::string> SecretEnvNames() const;
};

struct ConfigError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  std::string ToString() const;  // "file:line:col: message"
};

struct ConfigLoad {
  Config config;
  std::vector<ConfigError> errors;
  bool ok() const { return errors.empty(); }
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

ConfigLoad LoadConfigFile(const std::string& path, const EnvLookup& env = ProcessEnv());
ConfigLoad ParseConfig(std::string_view text, const std::string& path, const EnvLookup& env);

// What `jenky serve` uses when there is no config file: 127.0.0.1:8080, data in
// $XDG_DATA_HOME/jenky (or ~/.local/share/jenky), no projects.
Config DefaultConfig(const EnvLookup& env = ProcessEnv());
std::string DefaultDataDir(const EnvLookup& env);

// The project `serve --demo` adds: the embedded "demo" recipe.
ProjectConfig DemoProject();

// The log limit of PROJECT's runs: its own max_log_bytes, else the server's.
long long MaxLogBytesOf(const ServerConfig& server, const ProjectConfig& project);

// Where PROJECT's script runs; created before its first run if missing.
std::string WorkdirOf(const ServerConfig& server, const ProjectConfig& project);

// Splits "HOST:PORT" / "[::1]:PORT"; false if malformed.
bool SplitHostPort(std::string_view listen, std::string& host, int& port);
bool IsLoopbackHost(std::string_view host);
bool IsValidProjectName(std::string_view name);
bool IsAllWhitespace(std::string_view s);

}  // namespace jenky
