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
#include "config/notify_config.h"
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
  std::vector<std::string> branches;   // glob patterns; empty = all
  std::vector<std::string> events;     // empty = provider's push event (webhook_events.h)
  std::vector<std::string> tags;       // glob patterns of tags that deploy; empty = none
  std::vector<std::string> workflows;  // CI runs that deploy, by name; empty = all
};

// [projects.X.poll] (config/poll_config.h): the repository jenky asks for
// its heads with `git ls-remote`, for servers a forge cannot reach.
struct PollConfig {
  std::string repo;                   // anything `git ls-remote` takes
  std::vector<std::string> branches;  // globs; empty = the remote's HEAD branch
  Millis interval = std::chrono::minutes(1);
};

// A project's schedule (config/schedule_config.h): cron expressions in a
// time zone.
struct ScheduleConfig {
  std::vector<std::string> cron;  // "0 3 * * 1-5", "@daily"; checked when loaded
  std::string timezone;           // IANA name; "" = the server's local time
  bool catch_up = false;          // a fire missed while jenky was down runs once at start
};

// A deploy input ([projects.NAME.inputs.INPUT], config/inputs_config.h):
// asked for by the UI's deploy dialog, given by `jenky deploy --input` and
// the API's "inputs", validated by the server, passed as JENKY_INPUT_<NAME>.
struct InputConfig {
  enum class Type { kString, kChoice, kBool };
  std::string name;
  Type type = Type::kString;
  std::string default_value;  // "" for none; "true"/"false" for a bool
  std::vector<std::string> choices;
  std::string description;
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
  std::optional<PollConfig> poll;
  std::optional<ScheduleConfig> schedule;
  std::optional<StatusConfig> status;  // commit status on the forge (notify_config.h)
  std::vector<InputConfig> inputs;     // sorted by name
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
  // Webhook payloads (POST /hooks/...) have their own limit: GitHub sends up
  // to 25 MB, and a 2,048-commit push is 1.2 MB of JSON.
  long long max_hook_body_bytes = 25LL << 20;
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
  // How long the outbox keeps a message once it was sent or given up
  // (0 = forever; docs/notifications.md).
  Millis outbox_retention = std::chrono::hours(24 * 30);
  // How long audit log entries are kept (0 = forever).
  Millis audit_retention = std::chrono::hours(24 * 180);
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
  // A second address serving only GET /metrics, without authentication
  // (docs/notifications.md "Metrics"); "" = none. Split as listen is.
  std::string metrics_listen;
  std::string metrics_host;
  int metrics_port = 0;
  // The operator's ssh config, included after jenky's own options in the
  // config jenky gives ssh for its hosts (ProxyJump, bastions); "" = none.
  std::string ssh_config;
};

struct Config {
  std::string path;  // file it came from, "" for the embedded default
  ServerConfig server;
  std::vector<TokenConfig> tokens;
  std::vector<ProjectConfig> projects;
  std::vector<NotifyConfig> notify;  // [[notify]] and [[projects.X.notify]] (notify_config.h)
  std::vector<HostConfig> hosts;     // [hosts.NAME], in file order

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
