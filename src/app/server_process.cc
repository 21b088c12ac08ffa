#include "app/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <sstream>

#include <boost/asio/signal_set.hpp>

#include "exec/process.h"
#include "http/api.h"
#include "http/log_hub.h"
#include "http/server.h"
#include "server/engine.h"
#include "server/poller.h"
#include "server/run_env.h"
#include "server/schedules.h"
#include "store/store.h"
#include "util/fs.h"
#include "util/logger.h"
#include "util/secret_env.h"
#include "util/systemd.h"
#include "util/time.h"

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
    LogError(
        "config file {} does not exist; create it or drop --config to use the embedded default",
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

HttpLimits LimitsFor(const ServerConfig& server) {
  HttpLimits limits;
  limits.body_bytes = static_cast<uint64_t>(server.max_body_bytes);
  limits.hook_body_bytes = static_cast<uint64_t>(server.max_hook_body_bytes);
  limits.target_bytes = static_cast<size_t>(server.max_url_bytes);
  limits.max_connections = server.max_connections;
  limits.max_connections_per_address = server.max_connections_per_address;
  if (auto proxies = AddressSet::Parse(server.trusted_proxies); proxies.ok()) {
    limits.exempt = *proxies;
  }
  limits.handshake_timeout = server.tls_handshake_timeout;
  return limits;
}

// Takes the data directory's server.lock: one server per data directory, as
// two would both adopt and record the same runs. -1 when another has it.
int LockDataDir(const std::string& data_dir) {
  int fd = open((data_dir + "/server.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  // A server that was just killed may hold the lock a moment longer (through
  // a child it was spawning): wait up to 2 s before calling it a second server.
  for (int i = 0; fd >= 0 && i < 100; ++i) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
    usleep(20'000);
  }
  if (fd >= 0) close(fd);
  return -1;
}

}  // namespace

Status CheckOpenWithoutTokens(const Config& config, const tcp::endpoint& bound) {
  if (!config.tokens.empty() || IsLoopback(bound.address())) return Status::Ok();
  return Status::Error(fmt::format(
      "refusing to serve on {} (a socket passed by systemd) without [[tokens]]: anyone who can "
      "reach it could deploy. Add a [[tokens]] entry to {} or make the socket listen on "
      "127.0.0.1 (ListenStream=127.0.0.1:{} in jenky.socket)",
      bound.address().to_string(), config.path.empty() ? "the config" : config.path, bound.port()));
}

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
    config.server.data_dir =
        std::filesystem::absolute(options.data_dir).lexically_normal().string();
  }
  if (options.demo && !config.FindProject("demo")) config.projects.push_back(DemoProject());
  // memory_max and tasks_max need controllers this host may not have.
  if (Status s = CheckRunLimits(config); !s.ok()) {
    std::istringstream lines(s.message());
    for (std::string line; std::getline(lines, line);) LogError("{}", line);
    return 1;
  }
  if (config.tokens.empty() && !IsLoopbackHost(config.server.host)) {
    LogError(
        "refusing to listen on {} without [[tokens]]: jenky serves without authentication "
        "only on a loopback address; add a [[tokens]] entry to the config or listen on "
        "127.0.0.1",
        config.server.listen);
    return 1;
  }
  return 0;
}

ServerProcess::ServerProcess(ServeOptions options) : options_(std::move(options)) {}

ServerProcess::~ServerProcess() {
  // The API and the hub refer to the engine, the server to the API.
  metrics_server_.reset();
  server_.reset();
  hub_.reset();
  api_.reset();
  engine_.reset();
  if (lock_fd_ >= 0) close(lock_fd_);
}

int ServerProcess::Open() {
  const std::string& data_dir = config_.server.data_dir;
  // A data directory jenky creates is its own (an existing one keeps its mode).
  if (!PathExists(data_dir)) MakeDirs(data_dir, 0750);
  if (Status s = MakeDirs(data_dir + "/runs", 0750); !s.ok()) {
    LogError("{}; pass --data-dir DIR or set [server].data_dir to a writable directory",
             s.message());
    return 1;
  }
  lock_fd_ = LockDataDir(data_dir);
  if (lock_fd_ < 0) {
    LogError("another jenky serve is using {}; stop it first, or give this one its own --data-dir",
             data_dir);
    return 1;
  }
  auto store = Store::Open(data_dir + "/jenky.db");
  if (!store.ok()) {
    LogError("{}", store.status().message());
    return 1;
  }
  self_ = SelfExecutable();
  engine_ = std::make_unique<Engine>(io_, config_, std::move(store).value(), self_);
  std::function<void()> restart;
  if (!options_.argv.empty()) restart = [this] { ReExec(); };
  api_ = std::make_unique<Api>(*engine_, options_.web_dir, restart);
  hub_ = std::make_unique<LogHub>(io_, *engine_);
  api_->set_log_hub(hub_.get());
  // The next process loads the config (and the TLS pair) again: one that
  // would not start must not replace one that serves.
  api_->set_restart_check([this] {
    Config next;
    if (BuildConfig(options_, next) != 0) {
      return Status::Error(
          "the configuration does not load (the server log has its errors; "
          "`jenky check` shows them): fix it and upgrade again; the running "
          "jenky keeps serving");
    }
    return listening_ ? CheckOpenWithoutTokens(next, *listening_) : Status::Ok();
  });
  server_ = std::make_unique<HttpServer>(
      io_, [api = api_.get()](Exchange& ex) { return api->Handle(ex); }, LimitsFor(config_.server));
  server_->SetTls(config_.server.tls);
  // Signals are handled from before the first line a caller may act on.
  WatchSignals();
  // Under systemd socket activation the listening socket is already there
  // (connections queue in it while jenky restarts); else bind our own.
  std::vector<int> passed = TakeListenFds();
  Result<tcp::endpoint> bound = passed.empty()
                                    ? server_->Listen(config_.server.host, config_.server.port)
                                    : server_->Adopt(passed.front());
  if (!bound.ok()) {
    LogError("{}", bound.status().message());
    return 1;
  }
  if (Status s = CheckOpenWithoutTokens(config_, *bound); !s.ok()) {
    LogError("{}", s.message());
    return 1;
  }
  listening_ = *bound;
  std::string url = UrlFor(*bound, server_->tls());
  LogInfo("listening on {}", url);
  LogTls(config_.server, "");
  if (!passed.empty()) LogInfo("listening socket passed by systemd (socket activation)");
  engine_->SetBaseUrl(config_.server.public_url.empty() ? url : config_.server.public_url);
  if (Status s = ListenForMetrics(); !s.ok()) {
    LogError("{}", s.message());
    return 1;
  }
  LogInfo(
      "data in {}; {} project(s){}", data_dir, config_.projects.size(),
      config_.path.empty() ? " (no config file: embedded default)" : ", config " + config_.path);
  if (Status s = engine_->Start(); !s.ok()) {
    LogError("{}", s.message());
    return 1;
  }
  StartPollsAndSchedules();
  return 0;
}

void ServerProcess::StartPollsAndSchedules() {
  std::vector<std::string> git_env;
  for (const auto& [k, v] : ServerEnv(config_, nullptr)) git_env.push_back(k + "=" + v);
  git_env.push_back("GIT_TERMINAL_PROMPT=0");  // a poll never waits for a password
  poller_ = std::make_unique<Poller>(io_, *engine_, SystemGit(io_, std::move(git_env)));
  poller_->Sync();
  schedules_ = std::make_unique<Schedules>(io_, *engine_, NowMillis,
                                           config_.server.data_dir + "/schedules.json");
  schedules_->Start();
  api_->set_schedules(schedules_.get());
}

Status ServerProcess::ListenForMetrics() {
  if (config_.server.metrics_listen.empty()) return Status::Ok();
  metrics_server_ = std::make_unique<HttpServer>(
      io_, [api = api_.get()](Exchange& ex) { return api->HandleMetricsOnly(ex); },
      LimitsFor(config_.server));
  auto m = metrics_server_->Listen(config_.server.metrics_host, config_.server.metrics_port);
  if (!m.ok()) return Status::Error("metrics_listen: " + m.status().message());
  LogInfo("metrics on {}/metrics", UrlFor(*m, false));
  return Status::Ok();
}

int ServerProcess::Run() {
  signal(SIGPIPE, SIG_IGN);
  // Scripts run as this user: they must not read this process's memory or
  // the environment it started with (util/secret_env.h).
  HideProcessMemory();
  if (int rc = BuildConfig(options_, config_); rc != 0) return rc;
  WithholdFromEnvironment(config_.SecretEnvNames());
  if (int rc = Open(); rc != 0) return rc;
  // systemd: ready once listening and reconciled; status as runs come and go;
  // watchdog pings from the loop itself, so a hung loop gets restarted.
  SdNotify("READY=1\n" + StatusLine());
  engine_->SetChangeListener([this] { SdNotify(StatusLine()); });
  if (auto interval = WatchdogInterval(); interval.count() > 0) PetWatchdog(interval);
  io_.run();
  return 0;
}

std::string ServerProcess::StatusLine() const {
  return fmt::format("STATUS={} running deploy(s), {} queued", engine_->RunningCount(),
                     engine_->QueuedCount());
}

void ServerProcess::PetWatchdog(std::chrono::microseconds interval) {
  SdNotify("WATCHDOG=1");
  watchdog_.expires_after(interval);
  watchdog_.async_wait([this, interval](boost::system::error_code ec) {
    if (!ec) PetWatchdog(interval);
  });
}

void ServerProcess::WatchSignals() {
  if (!watching_) {
    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    signals_.add(SIGHUP);
    watching_ = true;
  }
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig != SIGHUP) return Stop(sig);
    Reload();
    WatchSignals();
  });
}

void ServerProcess::Reload() {
  // A config with errors is rejected and the running one kept.
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  SdNotify(
      fmt::format("RELOADING=1\nMONOTONIC_USEC={}", ts.tv_sec * 1000000LL + ts.tv_nsec / 1000));
  Config fresh;
  Status open_check = Status::Ok();
  if (BuildConfig(options_, fresh) != 0) {
    LogError("SIGHUP: the new configuration has errors (above); keeping the current one");
    engine_->control().Audit(
        {0, 0, "signal", "config-reload", "", 0, "", "refused: the configuration has errors"});
  } else if (!(open_check = CheckOpenWithoutTokens(fresh, *listening_)).ok()) {
    LogError("SIGHUP: {}; keeping the current configuration", open_check.message());
    engine_->control().Audit(
        {0, 0, "signal", "config-reload", "", 0, "", "refused: " + open_check.message()});
  } else {
    // Renewed certificate files take effect here, for new connections; open
    // ones keep the pair they started with.
    if (static_cast<bool>(fresh.server.tls) != server_->tls()) {
      LogWarning("SIGHUP: TLS is now {} for new connections on the same port",
                 fresh.server.tls ? "on" : "off");
    }
    server_->SetTls(fresh.server.tls);
    LogTls(fresh.server, "SIGHUP: ");
    WithholdFromEnvironment(fresh.SecretEnvNames());
    std::string note = engine_->Reload(std::move(fresh));
    poller_->Sync();
    schedules_->Sync();
    LogInfo("SIGHUP: configuration reloaded: {} project(s){}", engine_->config().projects.size(),
            note);
    engine_->control().Audit(
        {0, 0, "signal", "config-reload", "", 0, "",
         fmt::format("{} project(s){}", engine_->config().projects.size(), note)});
  }
  SdNotify("READY=1\n" + StatusLine());
}

void ServerProcess::Stop(int sig) {
  SdNotify("STOPPING=1");
  LogInfo("{}: stopping; {} running deploy(s) continue and will be adopted by the next start",
          sig == SIGINT ? "SIGINT" : "SIGTERM", engine_->RunningCount());
  // Stop accepting (with socket activation new connections queue for the
  // next jenky), then let requests in flight finish, for 2 s at most.
  server_->Stop();
  if (metrics_server_) metrics_server_->Stop();
  hub_->Shutdown();
  poller_->Stop();
  schedules_->Stop();
  engine_->Shutdown();
  watchdog_.cancel();
  auto drain = std::make_shared<net::steady_timer>(io_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  auto check = std::make_shared<std::function<void()>>();
  // The pending wait owns the check; the check holds itself only weakly (a
  // strong self-reference is a cycle that is never freed).
  *check = [this, drain, deadline, weak = std::weak_ptr(check)] {
    if ((server_->connections() == 0 && hub_->viewers() == 0) ||
        std::chrono::steady_clock::now() >= deadline) {
      io_.stop();
      return;
    }
    drain->expires_after(std::chrono::milliseconds(20));
    drain->async_wait([self = weak.lock()](boost::system::error_code) { (*self)(); });
  };
  (*check)();
}

void ServerProcess::ReExec() {
  int fd = server_ ? server_->listen_fd() : -1;
  if (fd < 0 || access(self_.c_str(), X_OK) != 0) {
    LogError("cannot re-execute {}: no listening socket or not executable", self_);
    return;
  }
  // Viewers get 1012 and their offset (written now; the kernel sends it
  // after the exec closes their sockets).
  hub_->Shutdown();
  if (poller_) poller_->Stop();
  if (schedules_) schedules_->Stop();
  engine_->Shutdown();
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
  for (const auto& a : options_.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(self_.c_str(), args.data());
  LogError("re-executing {} failed: {}; exiting", self_, std::strerror(errno));
  _exit(1);
}

int Serve(const ServeOptions& options) {
  ServerProcess process(options);
  return process.Run();
}

}  // namespace jenky
