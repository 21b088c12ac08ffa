#include "config/server_config.h"

#include <unistd.h>

#include <fmt/format.h>

#include "config/notify_load.h"
#include "util/client_address.h"
#include "util/tls.h"

namespace jenky {

namespace {

// [server] tls_cert / tls_key: both or neither, and a pair that works, or
// the server does not start (and a reload keeps the running pair).
void LoadTls(Loader& L, const toml::table& t, const std::string& base_dir, ServerConfig& s) {
  if (auto d = L.Duration(t, "tls_handshake_timeout", "server")) {
    if (*d < std::chrono::milliseconds(100)) {
      L.Error(*t.get("tls_handshake_timeout"),
              "server.tls_handshake_timeout must be at least 100ms");
    } else {
      s.tls_handshake_timeout = *d;
    }
  }
  auto cert = L.String(t, "tls_cert", "server");
  auto key = L.String(t, "tls_key", "server");
  if (!cert && !key) return;
  if (!cert || !key) {
    L.Error(*t.get(cert ? "tls_cert" : "tls_key"),
            fmt::format("server.{} is set but server.{} is not: HTTPS needs both, the certificate "
                        "(PEM, with its chain) and its private key; set both, or neither to "
                        "serve plain HTTP",
                        cert ? "tls_cert" : "tls_key", cert ? "tls_key" : "tls_cert"));
    return;
  }
  s.tls_cert = Absolute(base_dir, *cert);
  s.tls_key = Absolute(base_dir, *key);
  auto ctx = TlsContext::Server(s.tls_cert, s.tls_key);
  if (!ctx.ok()) {
    L.Error(*t.get(ctx.status().kind() == StatusCode::kTlsKey ? "tls_key" : "tls_cert"),
            ctx.status().message());
    return;
  }
  s.tls = *ctx;
}

// [server]'s limits and timeouts.
void LoadServerLimits(Loader& L, const toml::table& t, ServerConfig& s) {
  if (auto size = L.String(t, "max_body", "server")) {
    auto n = ParseSize(*size);
    if (!n.ok()) L.Error(*t.get("max_body"), "server.max_body: " + n.status().message());
    else s.max_body_bytes = *n;
  }
  if (auto n = L.Size(t, "max_hook_body", "server")) s.max_hook_body_bytes = *n;
  if (auto d = L.Duration(t, "kill_grace", "server")) s.kill_grace = *d;
  if (auto b = L.Bool(t, "warm_shell", "server")) s.warm_shell = *b;
  if (auto size = L.String(t, "ws_max_lag", "server")) {
    auto n = ParseSize(*size);
    if (!n.ok()) L.Error(*t.get("ws_max_lag"), "server.ws_max_lag: " + n.status().message());
    else s.ws_max_lag_bytes = *n;
  }
  if (auto d = L.Duration(t, "ws_idle_timeout", "server")) {
    if (*d < std::chrono::seconds(1))
      L.Error(*t.get("ws_idle_timeout"), "server.ws_idle_timeout must be at least 1s");
    else s.ws_idle_timeout = *d;
  }
  if (auto n = L.Size(t, "max_log_bytes", "server")) s.max_log_bytes = *n;
  if (auto n = L.Size(t, "max_url", "server")) {
    // Below 256 bytes jenky's own URLs (a run's log with offset and line) break.
    if (*n < 256) L.Error(*t.get("max_url"), "server.max_url must be at least 256B");
    else s.max_url_bytes = *n;
  }
  if (auto d = L.Duration(t, "session_lifetime", "server")) {
    if (*d < std::chrono::seconds(1)) {
      L.Error(*t.get("session_lifetime"), "server.session_lifetime must be at least 1s");
    } else {
      s.session_lifetime = *d;
    }
  }
  // "0s" keeps the audit log forever (control.h).
  if (auto d = L.Duration(t, "audit_retention", "server")) s.audit_retention = *d;
  // A whole number in [LO, HI]; WHAT says what it counts, for the error.
  auto count = [&](const char* key, int lo, int hi, const char* what, int& out) {
    const toml::node* n = t.get(key);
    if (!n) return;
    auto v = n->value<int64_t>();
    if (!v || *v < lo || *v > hi) {
      L.Error(*n,
              fmt::format("server.{} must be a whole number of {}, {} to {}", key, what, lo, hi));
    } else {
      out = static_cast<int>(*v);
    }
  };
  count("max_auth_failures", 0, 1'000'000, "failures per minute (0 = no limit)",
        s.max_auth_failures);
  count("ws_max_viewers", 1, 1'000'000, "WebSocket viewers", s.ws_max_viewers);
  count("ws_max_viewers_per_run", 1, 1'000'000, "WebSocket viewers of one run",
        s.ws_max_viewers_per_run);
  count("max_json_depth", 2, 10'000, "levels", s.max_json_depth);
  count("max_connections", 1, 1'000'000, "connections", s.max_connections);
  count("max_connections_per_address", 0, 1'000'000, "connections (0 = no limit)",
        s.max_connections_per_address);
}

// [server] allowed_origins, allowed_hosts, trusted_proxies: who may call
// jenky from a browser, by which name, and through which proxies.
void LoadCallers(Loader& L, const toml::table& t, ServerConfig& s) {
  if (auto origins = L.Strings(t, "allowed_origins", "server")) {
    for (auto& o : *origins) {
      while (!o.empty() && o.back() == '/') o.pop_back();
      if ((o.rfind("http://", 0) != 0 && o.rfind("https://", 0) != 0) ||
          o.find('/', o.find("://") + 3) != std::string::npos) {
        L.Error(*t.get("allowed_origins"),
                fmt::format("server.allowed_origins: '{}' is not an origin; write scheme, host and "
                            "port only, like \"https://deploy.example.com\"",
                            o));
      }
    }
    s.allowed_origins = *origins;
  }
  if (auto hosts = L.Strings(t, "allowed_hosts", "server")) {
    for (const auto& h : *hosts) {
      if (h.empty() || h.find_first_of("/: \t") != std::string::npos) {
        L.Error(*t.get("allowed_hosts"),
                fmt::format("server.allowed_hosts: '{}' is not a host name; write names only, "
                            "like \"deploy.example.com\", \".example.com\" (and its subdomains) "
                            "or \"*\" (any name)",
                            h));
      }
    }
    s.allowed_hosts = *hosts;
  }
  if (auto proxies = L.Strings(t, "trusted_proxies", "server")) {
    if (auto set = AddressSet::Parse(*proxies); !set.ok()) {
      L.Error(*t.get("trusted_proxies"), "server.trusted_proxies: " + set.status().message());
    }
    s.trusted_proxies = *proxies;
  }
}

}  // namespace

void LoadServer(Loader& L, const toml::table& t, const std::string& base_dir, Config& c) {
  L.CheckKeys(t, "[server]",
              {"listen",
               "data_dir",
               "public_url",
               "allowed_origins",
               "allowed_hosts",
               "trusted_proxies",
               "max_body",
               "kill_grace",
               "max_auth_failures",
               "ws_idle_timeout",
               "ws_max_lag",
               "ws_max_viewers",
               "ws_max_viewers_per_run",
               "max_log_bytes",
               "max_json_depth",
               "max_url",
               "max_connections",
               "max_connections_per_address",
               "session_lifetime",
               "tls_cert",
               "tls_key",
               "tls_handshake_timeout",
               "warm_shell",
               "max_hook_body",
               "metrics_listen",
               "audit_retention",
               "ssh_config",
               "outbox_retention"});
  LoadMetricsListen(L, t, c.server);
  if (auto listen = L.String(t, "listen", "server")) {
    if (!SplitHostPort(*listen, c.server.host, c.server.port)) {
      L.Error(*t.get("listen"), fmt::format("server.listen '{}' is not HOST:PORT; write it like "
                                            "\"127.0.0.1:8080\" or \"[::1]:8080\"",
                                            *listen));
    } else {
      c.server.listen = *listen;
    }
  }
  if (auto dir = L.String(t, "data_dir", "server")) c.server.data_dir = Absolute(base_dir, *dir);
  if (auto url = L.String(t, "public_url", "server")) {
    if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
      L.Error(*t.get("public_url"),
              "server.public_url must start with http:// or https://, like "
              "\"https://deploy.example.com\"");
    }
    while (!url->empty() && url->back() == '/') url->pop_back();
    c.server.public_url = *url;
  }
  LoadCallers(L, t, c.server);
  LoadServerLimits(L, t, c.server);
  LoadTls(L, t, base_dir, c.server);
  if (auto f = L.String(t, "ssh_config", "server")) {
    // The operator's ssh config, included in the one jenky gives ssh for its
    // fleet's hosts (docs/fleet.md).
    c.server.ssh_config = Absolute(base_dir, *f);
    if (access(c.server.ssh_config.c_str(), R_OK) != 0 ||
        c.server.ssh_config.find('"') != std::string::npos) {
      L.Error(*t.get("ssh_config"),
              fmt::format("server.ssh_config '{}' cannot be read by jenky; give a readable ssh "
                          "config file, or remove the key",
                          c.server.ssh_config));
    }
  }
}

}  // namespace jenky
