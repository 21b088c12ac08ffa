#include "server/serve.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include <boost/asio/signal_set.hpp>

#include "config/config.h"
#include "exec/process.h"
#include "http/api.h"
#include "http/log_hub.h"
#include "http/server.h"
#include "server/engine.h"
#include "store/store.h"
#include "util/fs.h"
#include "util/logger.h"
#include "util/secret_env.h"
#include "util/systemd.h"

namespace jenky {
namespace {

// Finds and loads the configuration; prints every error and returns false.
bool LoadConfig(const std::string& explicit_path, Config& out) {
  std::string path = explicit_path;
  if (path.empty() && PathExists("jenky.toml")) path = "jenky.toml";
  if (path.empty()) {
    out = DefaultConfig();
    return true;
  }
  if (!PathExists(path)) {
    LogError("config file {} does not exist; create it or drop --config to use the embedded default",
             path);
    return false;
  }
  ConfigLoad load = LoadConfigFile(path);
  if (!load.ok()) {
    for (const auto& e : load.errors) LogError("{}", e.ToString());
    LogError("{} has {} error(s); fix them (`jenky check --config {}` shows them again)", path,
             load.errors.size(), path);
    return false;
  }
  out = std::move(load.config);
  return true;
}

// Loopback, also as an IPv4-mapped IPv6 address (::ffff:127.0.0.1).
bool IsLoopback(const net::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).is_loopback();
  }
  return a.is_loopback();
}

// "no [[tokens]] means loopback only" for a socket jenky did not bind itself
// (systemd's, or its own from before an upgrade): refused like a --listen.
Status CheckOpenWithoutTokens(const Config& config, const tcp::endpoint& bound) {
  if (!config.tokens.empty() || IsLoopback(bound.address())) return Status::Ok();
  return Status::Error(fmt::format(
      "refusing to serve on {} (a socket passed by systemd) without [[tokens]]: anyone who can "
      "reach it could deploy. Add a [[tokens]] entry to {} or make the socket listen on "
      "127.0.0.1 (ListenStream=127.0.0.1:{} in jenky.socket)",
      bound.address().to_string(), config.path.empty() ? "the config" : config.path, bound.port()));
}

std::string UrlFor(const tcp::endpoint& ep, bool tls) {
  std::string host = ep.address().to_string();
  if (ep.address().is_v6()) host = "[" + host + "]";
  return (tls ? "https://" : "http://") + host + ":" + std::to_string(ep.port());
}

// Logs what serving CONFIG's TLS pair means; WHEN is "" at start, "SIGHUP: " on reload.
void LogTls(const ServerConfig& server, const char* when) {
  if (!server.tls) return;
  LogInfo("{}TLS: serving {} ({}, key {})", when, server.tls_cert, server.tls->summary(),
          server.tls_key);
  for (const auto& w : server.tls->warnings()) LogWarning("{}{}", when, w);
}

}  // namespace

int Check(const std::string& config_path) {
  std::string path = config_path.empty() ? "jenky.toml" : config_path;
  if (!PathExists(path)) {
    std::fprintf(stderr, "error: %s does not exist%s\n", path.c_str(),
                 config_path.empty() ? "; pass --config FILE" : "");
    return 1;
  }
  ConfigLoad load = LoadConfigFile(path);
  for (const auto& e : load.errors) std::fprintf(stderr, "%s\n", e.ToString().c_str());
  if (!load.ok()) {
    std::fprintf(stderr, "%zu error(s) in %s\n", load.errors.size(), path.c_str());
    return 1;
  }
  if (load.config.server.tls) {
    for (const auto& w : load.config.server.tls->warnings()) {
      std::fprintf(stderr, "warning: %s\n", w.c_str());
    }
  }
  std::printf("%s: ok (%zu project(s), %zu token(s))\n", path.c_str(), load.config.projects.size(),
              load.config.tokens.size());
  return 0;
}

// The configuration SERVE runs with: the file (or default) plus the command
// line's overrides. Prints every problem; 0 when usable, else an exit code.
int BuildConfig(const ServeOptions& options, Config& config) {
  if (!LoadConfig(options.config_path, config)) return 1;
  if (!options.listen.empty()) {
    if (!SplitHostPort(options.listen, config.server.host, config.server.port)) {
      LogError("--listen '{}' is not HOST:PORT; write it like 127.0.0.1:8080", options.listen);
      return 2;
    }
    config.server.listen = options.listen;
  }
  if (!options.data_dir.empty()) {
    config.server.data_dir = std::filesystem::absolute(options.data_dir).lexically_normal().string();
  }
  if (options.demo && !config.FindProject("demo")) config.projects.push_back(DemoProject());
  if (config.tokens.empty() && !IsLoopbackHost(config.server.host)) {
    LogError("refusing to listen on {} without [[tokens]]: jenky serves without authentication "
             "only on a loopback address; add a [[tokens]] entry to the config or listen on "
             "127.0.0.1", config.server.listen);
    return 1;
  }
  return 0;
}

int Serve(const ServeOptions& options) {
  signal(SIGPIPE, SIG_IGN);
  // Scripts run as this user: they must not read this process's memory or
  // the environment it started with (util/secret_env.h).
  HideProcessMemory();
  Config config;
  if (int rc = BuildConfig(options, config); rc != 0) return rc;
  WithholdFromEnvironment(config.SecretEnvNames());

  const std::string& data_dir = config.server.data_dir;
  // A data directory jenky creates is its own (an existing one keeps its mode).
  if (!PathExists(data_dir)) MakeDirs(data_dir, 0750);
  if (Status s = MakeDirs(data_dir + "/runs", 0750); !s.ok()) {
    LogError("{}; pass --data-dir DIR or set [server].data_dir to a writable directory", s.message());
    return 1;
  }
  // One server per data directory: two would both adopt and record the same runs.
  std::string lock_path = data_dir + "/server.lock";
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  // A server that was just killed may hold the lock a moment longer (through a
  // child it was spawning): wait up to 2 s before calling it a second server.
  bool locked = false;
  for (int i = 0; lock_fd >= 0 && i < 100 && !locked; ++i) {
    locked = flock(lock_fd, LOCK_EX | LOCK_NB) == 0;
    if (!locked) usleep(20'000);
  }
  if (!locked) {
    LogError("another jenky serve is using {}; stop it first, or give this one its own --data-dir",
             data_dir);
    return 1;
  }
  auto store = Store::Open(data_dir + "/jenky.db");
  if (!store.ok()) {
    LogError("{}", store.status().message());
    return 1;
  }

  net::io_context io(1);
  std::string self = SelfExecutable();
  Engine engine(io, config, std::move(store).value(), self);
  HttpServer* server_ptr = nullptr;
  LogHub* hub_ptr = nullptr;
  // `jenky upgrade` outside systemd: re-execute the (new) binary at our path,
  // handing it the listening socket the way systemd would (LISTEN_FDS), so
  // connections queue meanwhile; runs live on in their supervisors.
  auto reexec = [&engine, &server_ptr, &hub_ptr, self, argv = options.argv] {
    int fd = server_ptr ? server_ptr->listen_fd() : -1;
    if (fd < 0 || access(self.c_str(), X_OK) != 0) {
      LogError("cannot re-execute {}: no listening socket or not executable", self);
      return;
    }

    // Viewers get 1001 and their offset (written now; the kernel sends it
    // after the exec closes their sockets).
    if (hub_ptr) hub_ptr->Shutdown();
    engine.Shutdown();
    if (fd != 3) {
      dup2(fd, 3);
      close(fd);
    }
    fcntl(3, F_SETFD, 0);
    setenv("LISTEN_FDS", "1", 1);
    setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
    RestoreForExec();  // the next jenky reads its secrets from the environment again
    // Everything else (server.lock included) is close-on-exec.
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(self.c_str(), args.data());
    LogError("re-executing {} failed: {}; exiting", self, std::strerror(errno));
    _exit(1);
  };
  Api api(engine, options.web_dir, options.argv.empty() ? std::function<void()>() : reexec);
  LogHub hub(io, engine);
  api.set_log_hub(&hub);
  // The next process loads the config (and the TLS pair) again: one that
  // would not start must not replace one that serves.
  const tcp::endpoint* listening_ptr = nullptr;
  api.set_restart_check([&options, &listening_ptr] {
    Config next;
    if (BuildConfig(options, next) != 0) {
      return Status::Error("the configuration does not load (the server log has its errors; "
                           "`jenky check` shows them): fix it and upgrade again; the running "
                           "jenky keeps serving");
    }
    if (listening_ptr) return CheckOpenWithoutTokens(next, *listening_ptr);
    return Status::Ok();
  });
  hub_ptr = &hub;
  HttpLimits limits;
  limits.body_bytes = static_cast<uint64_t>(config.server.max_body_bytes);
  limits.target_bytes = static_cast<size_t>(config.server.max_url_bytes);
  limits.max_connections = config.server.max_connections;
  limits.max_connections_per_address = config.server.max_connections_per_address;
  if (auto proxies = AddressSet::Parse(config.server.trusted_proxies); proxies.ok()) {
    limits.exempt = *proxies;
  }
  limits.handshake_timeout = config.server.tls_handshake_timeout;
  HttpServer server(io, [&api](Exchange& ex) { return api.Handle(ex); }, limits);
  server.SetTls(config.server.tls);
  server_ptr = &server;
  // Signals are handled from before the first line a caller may act on.
  net::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  // Under systemd socket activation the listening socket is already there
  // (connections queue in it while jenky restarts); else bind our own.
  std::vector<int> passed = TakeListenFds();
  Result<tcp::endpoint> bound = passed.empty() ? server.Listen(config.server.host, config.server.port)
                                               : server.Adopt(passed.front());
  if (!bound.ok()) {
    LogError("{}", bound.status().message());
    return 1;
  }
  if (Status s = CheckOpenWithoutTokens(config, *bound); !s.ok()) {
    LogError("{}", s.message());
    return 1;
  }
  const tcp::endpoint listening = *bound;
  listening_ptr = &listening;
  std::string url = UrlFor(*bound, server.tls());
  LogInfo("listening on {}", url);
  LogTls(config.server, "");
  if (!passed.empty()) LogInfo("listening socket passed by systemd (socket activation)");
  engine.SetBaseUrl(config.server.public_url.empty() ? url : config.server.public_url);
  LogInfo("data in {}; {} project(s){}", data_dir, config.projects.size(),
          config.path.empty() ? " (no config file: embedded default)" : ", config " + config.path);
  if (Status s = engine.Start(); !s.ok()) {
    LogError("{}", s.message());
    return 1;
  }

  // systemd: ready once listening and reconciled; status as runs come and go;
  // watchdog pings from the loop itself, so a hung loop gets restarted.
  auto status_line = [&engine] {
    return fmt::format("STATUS={} running deploy(s), {} queued", engine.RunningCount(),
                       engine.QueuedCount());
  };
  SdNotify("READY=1\n" + status_line());
  engine.SetChangeListener([status_line] { SdNotify(status_line()); });
  net::steady_timer watchdog(io);
  std::function<void()> pet;
  if (auto interval = WatchdogInterval(); interval.count() > 0) {
    pet = [&watchdog, &pet, interval] {
      SdNotify("WATCHDOG=1");
      watchdog.expires_after(interval);
      watchdog.async_wait([&pet](boost::system::error_code ec) {
        if (!ec) pet();
      });
    };
    pet();
  }

  std::function<void(const boost::system::error_code&, int)> on_signal;
  on_signal = [&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      // Reload: a config with errors is rejected and the running one kept.
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      SdNotify(fmt::format("RELOADING=1\nMONOTONIC_USEC={}",
                           ts.tv_sec * 1000000LL + ts.tv_nsec / 1000));
      Config fresh;
      Status open_check = Status::Ok();
      if (BuildConfig(options, fresh) != 0) {
        LogError("SIGHUP: the new configuration has errors (above); keeping the current one");
      } else if (!(open_check = CheckOpenWithoutTokens(fresh, listening)).ok()) {
        LogError("SIGHUP: {}; keeping the current configuration", open_check.message());
      } else {
        // Renewed certificate files take effect here, for new connections;
        // open ones keep the pair they started with.
        if (static_cast<bool>(fresh.server.tls) != server.tls()) {
          LogWarning("SIGHUP: TLS is now {} for new connections on the same port",
                     fresh.server.tls ? "on" : "off");
        }
        server.SetTls(fresh.server.tls);
        LogTls(fresh.server, "SIGHUP: ");
        WithholdFromEnvironment(fresh.SecretEnvNames());
        std::string note = engine.Reload(std::move(fresh));
        LogInfo("SIGHUP: configuration reloaded: {} project(s){}", engine.config().projects.size(), note);
      }
      SdNotify("READY=1\n" + status_line());
      signals.async_wait(on_signal);
      return;
    }
    SdNotify("STOPPING=1");
    LogInfo("{}: stopping; {} running deploy(s) continue and will be adopted by the next start",
            sig == SIGINT ? "SIGINT" : "SIGTERM", engine.RunningCount());
    // Stop accepting (with socket activation new connections queue for the
    // next jenky), then let requests in flight finish, for 2 s at most.
    server.Stop();
    hub.Shutdown();
    engine.Shutdown();
    watchdog.cancel();
    auto drain = std::make_shared<net::steady_timer>(io);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    auto check = std::make_shared<std::function<void()>>();
    // The pending wait owns the check; the check holds itself only weakly
    // (a strong self-reference is a cycle that is never freed).
    *check = [&io, &server, &hub, drain, deadline, weak = std::weak_ptr(check)] {
      if ((server.connections() == 0 && hub.viewers() == 0) ||
          std::chrono::steady_clock::now() >= deadline) {
        io.stop();
        return;
      }
      drain->expires_after(std::chrono::milliseconds(20));
      drain->async_wait([self = weak.lock()](boost::system::error_code) { (*self)(); });
    };
    (*check)();
  };
  signals.async_wait(on_signal);
  io.run();
  close(lock_fd);
  return 0;
}

}  // namespace jenky
