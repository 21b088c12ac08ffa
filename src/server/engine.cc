#include "server/engine.h"
#include "util/json.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "exec/process.h"
#include "exec/supervisor.h"
#include "util/embedded.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/logger.h"
#include "util/secret_env.h"
#include "util/time.h"

extern char** environ;

namespace jenky {

namespace {

std::shared_ptr<net::steady_timer> NewSignal(net::io_context& io) {
  auto t = std::make_shared<net::steady_timer>(io);
  t->expires_at(net::steady_timer::time_point::max());
  return t;
}

}  // namespace

void LogTail::Notify(net::io_context& io) {
  auto old = std::exchange(changed, NewSignal(io));
  old->cancel();
}

struct Engine::Active {
  Run run;
  RunDir dir;
  std::shared_ptr<LogTail> tail;
  std::unique_ptr<ProcessWatch> process;
  std::unique_ptr<net::steady_timer> lock_poll;  // adopted run without a pidfd
  // Adopted before its supervisor took the lock: until this time (unix ms)
  // a free lock means "not yet", not "gone".
  int64_t lock_wait_until = 0;
  int watch_id = -1;
  pid_t child = -1;  // our own child: reap it when it exits
  bool cancel_sent = false;
  // Its row is written. A new trigger's is written once, after its start
  // (Trigger), not once queued and again when started.
  bool recorded = true;
};

namespace {

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

bool IsPosixShell(const std::string& shell) {
  static const std::set<std::string> kShells = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash"};
  return kShells.count(std::filesystem::path(shell).filename().string()) > 0;
}

// The bash most projects run their scripts with, for spares to start ahead
// of need (supervisor.h); "" when none uses bash or warm shells are off.
std::string WarmShellFor(const Config& config) {
  if (!config.server.warm_shell) return "";
  std::map<std::string, int> uses;
  for (const ProjectConfig& p : config.projects) {
    if (std::filesystem::path(p.shell).filename() == "bash") ++uses[p.shell];
  }
  std::string best;
  int most = 0;
  for (const auto& [shell, n] : uses) {
    if (n > most) {
      best = shell;
      most = n;
    }
  }
  return best;
}

}  // namespace

Engine::Engine(net::io_context& io, Config config, std::unique_ptr<Store> store,
               std::string supervisor_binary)
    : io_(io), config_(std::move(config)), store_(std::move(store)),
      supervisor_binary_(std::move(supervisor_binary)), files_(io), deliveries_(*store_),
      deliveries_flush_(io) {
  base_url_ = config_.server.public_url;
}

Engine::~Engine() {
  Shutdown();
  FlushDeliveries();  // what requests answered during the drain recorded
}

std::string Engine::Reload(Config fresh) {
  std::string note;
  if (fresh.server.listen != config_.server.listen || fresh.server.data_dir != config_.server.data_dir) {
    note = "; listen and data_dir changes take effect at the next restart";
    fresh.server.listen = config_.server.listen;
    fresh.server.host = config_.server.host;
    fresh.server.port = config_.server.port;
    fresh.server.data_dir = config_.server.data_dir;
  }
  config_ = std::move(fresh);
  if (!config_.server.public_url.empty()) base_url_ = config_.server.public_url;
  // The spare was made for the old configuration (its warm shell, the
  // environment it keeps from scripts): a new one for the new.
  if (spare_.pid > 0 && !shutting_down_) {
    DropSpare();
    SpawnSpare();
  }
  return note;
}

std::string Engine::LogPath(int64_t id) const { return RunDir::For(config_.server.data_dir, id).log(); }
std::string Engine::IndexPath(int64_t id) const { return RunDir::For(config_.server.data_dir, id).index(); }
std::string Engine::ScriptPath(int64_t id) const { return RunDir::For(config_.server.data_dir, id).script(); }

Status Engine::Start() {
  auto max_id = store_->MaxRunId();
  if (!max_id.ok()) return max_id.status();
  next_id_ = *max_id + 1;

  // Run directories newer than the database: the server died (or the machine
  // lost power) between starting a run and committing it. meta.json says what
  // the run was; put it back.
  std::string runs_dir = config_.server.data_dir + "/runs";
  std::vector<Run> missing;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(runs_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    int64_t id = std::stoll(name);
    if (id < next_id_) continue;
    auto meta = ReadFile(entry.path().string() + "/meta.json");
    if (!meta.ok()) continue;
    auto j = nlohmann::json::parse(*meta, nullptr, false);
    if (!j.is_object()) continue;
    Run r = RunFromJson(j);
    r.id = id;
    r.status = RunStatus::kRunning;
    missing.push_back(std::move(r));
  }
  std::sort(missing.begin(), missing.end(), [](const Run& a, const Run& b) { return a.id < b.id; });
  if (!missing.empty()) {
    LogWarning("recovering {} run(s) missing from the database from their run directories",
               missing.size());
    if (Status s = store_->InsertRuns(missing); !s.ok()) return s;
    next_id_ = missing.back().id + 1;
  }

  auto unfinished = store_->UnfinishedRuns();
  if (!unfinished.ok()) return unfinished.status();
  std::vector<Run> queued;
  for (Run& r : *unfinished) {
    if (r.status == RunStatus::kRunning) {
      Adopt(std::move(r));
      continue;
    }
    // Queued in the database, but the last server had started it and died
    // before it recorded that: its supervisor is still at it (the lock is
    // held) or has finished it. Starting it again would run the script twice
    // (and the second supervisor could not take the lock).
    RunDir dir = RunDir::For(config_.server.data_dir, r.id);
    if (PathExists(dir.meta()) && (SupervisorAlive(dir) || ReadExitRecord(dir))) {
      LogWarning("{}was started by the previous server, which stopped before it recorded that; "
                 "adopting it", RunTag(r.id, r.project));
      r.status = RunStatus::kRunning;
      if (r.started_at == 0) r.started_at = NowMillis();
      Persist(r);
      Adopt(std::move(r));
      continue;
    }
    queued.push_back(std::move(r));
  }
  // Queued runs wait again, in their order, behind whatever was adopted.
  for (Run& r : queued) {
    const ProjectConfig* p = config_.FindProject(r.project);
    int64_t id = r.id;
    Track(std::move(r));
    if (!p) {
      ExitRecord rec;
      rec.status = RunStatus::kCancelled;
      rec.reason = "project no longer in the configuration";
      rec.finished_at = NowMillis();
      Finalize(id, rec);
      continue;
    }
    auto d = scheduler_.Enqueue(p->name, Concurrency::kQueue, id, 1 << 30);
    if (d.ok()) Apply(*d);
  }
  // Stages of spares that died with an earlier server (run_dir.h).
  if (int n = RemoveStaleStages(runs_dir); n > 0) {
    LogInfo("removed {} run director{} a spare supervisor left unused", n, n == 1 ? "y" : "ies");
  }
  SpawnSpare();
  if (!files_.ok()) {
    LogWarning("inotify is unavailable ({}; see fs.inotify.max_user_instances): live logs are "
               "polled every 100 ms instead", files_.error());
    log_poll_ = std::make_unique<net::steady_timer>(io_);
    PollLogs();
  }
  return Status::Ok();
}

void Engine::PollLogs() {
  for (auto& [id, a] : active_) {
    if (!a->tail) continue;
    int64_t size = FileSize(a->dir.log());
    if (size != a->tail->size) {
      a->tail->size = a->run.log_bytes = size;
      a->tail->Notify(io_);
      if (on_log_) on_log_(id);
    }
  }
  log_poll_->expires_after(std::chrono::milliseconds(100));
  log_poll_->async_wait([this](boost::system::error_code ec) {
    if (!ec && !shutting_down_) PollLogs();
  });
}

void Engine::Shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  spare_.CloseWarmFds();
  if (spare_.stdin_fd >= 0) {
    close(spare_.stdin_fd);  // the spare reads EOF and exits
    spare_.stdin_fd = -1;
  }
  if (spare_.pidfd >= 0) close(spare_.pidfd);
  if (spare_.pid > 0) waitpid(spare_.pid, nullptr, WNOHANG);
  if (log_poll_) log_poll_->cancel();
  if (save_retry_) save_retry_->cancel();
  // A last try for rows the database refused; what is still refused is
  // rebuilt from the run directories at the next start.
  if (!unsaved_.empty()) RetrySaves();
  deliveries_flush_.cancel();
  FlushDeliveries();
  for (auto& [id, a] : active_) {
    a->process.reset();
    a->lock_poll.reset();
    files_.Remove(a->watch_id);
  }
}

Engine::Active& Engine::Track(Run run) {
  int64_t id = run.id;
  auto a = std::make_unique<Active>();
  a->dir = RunDir::For(config_.server.data_dir, id);
  a->run = std::move(run);
  Active& ref = *a;
  active_[id] = std::move(a);
  return ref;
}

Run Engine::NewRun(const std::string& project, const struct Trigger& trigger) {
  Run r;
  r.id = next_id_++;
  r.project = project;
  r.status = RunStatus::kQueued;
  r.trigger = trigger;
  r.created_at = NowMillis();
  return r;
}

Result<Run> Engine::Trigger(const std::string& project, const struct Trigger& trigger) {
  const ProjectConfig* p = config_.FindProject(project);
  if (!p) return Status::Error("no project named '" + project + "'", "not_found");
  Run run = NewRun(project, trigger);
  auto decision = scheduler_.Enqueue(project, p->concurrency, run.id, p->max_queued);
  if (!decision.ok()) {
    --next_id_;  // nothing was created
    return Status::Error(decision.status().message(), "queue_full");
  }
  int64_t id = run.id;
  Active& active = Track(std::move(run));
  active.recorded = false;
  // Start first (if the lane is free), record after: the script's start is on
  // the trigger's critical path, the history row is not; the run directory's
  // meta.json covers the moment in between (Start() recovers from it).
  Apply(*decision);
  // Written before the answer: a trigger that was answered is on disk. (active_
  // nodes are stable: Apply only finalizes other, superseded runs.)
  Persist(active.run);
  active.recorded = true;
  LogInfo("{}queued trigger={}{}{}", RunTag(id, project), TriggerKindName(trigger.kind),
          trigger.actor.empty() ? "" : " actor=" + trigger.actor,
          trigger.commit.empty() ? "" : " commit=" + trigger.commit);
  if (on_new_run_) on_new_run_(project);
  auto found = GetRun(id);
  if (found.ok() && found->has_value()) return **found;
  return Status::Error("run " + std::to_string(id) + " vanished");
}

void Engine::Apply(const Decision& d) {
  struct Changed {
    Engine* e;
    ~Changed() {
      if (e->on_change_) e->on_change_();
    }
  } changed{this};
  for (const auto& [id, reason] : d.drop) {
    ExitRecord rec;
    rec.status = RunStatus::kCancelled;
    rec.reason = reason;
    rec.finished_at = NowMillis();
    Finalize(id, rec);
  }
  for (const auto& [id, reason] : d.cancel) Cancel(id, reason);
  for (int64_t id : d.start) StartRun(id);
}

std::map<std::string, std::string> Engine::ServerEnv(const ProjectConfig* p) const {
  // The server's own environment (PATH, HOME, LANG, ...) minus what is not a
  // script's business: other projects' secrets, token variables, systemd's
  // protocol variables and jenky's own client settings.
  std::set<std::string> withheld;
  for (const auto& name : config_.SecretEnvNames()) withheld.insert(name);
  if (p) {
    for (const auto& [name, value] : p->secrets) withheld.erase(name);
  }
  for (const char* name : {"NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                           "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"}) {
    withheld.insert(name);
  }
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string key(kv.substr(0, eq));
    if (withheld.count(key) || key.rfind("JENKY_", 0) == 0) continue;
    env[key] = std::string(kv.substr(eq + 1));
  }
  return env;
}

std::vector<std::string> Engine::MaskedValues() const {
  // Every project's, not only the run's own: a script that reads another
  // project's secret by other means must not be able to print it either.
  std::set<std::string> values;
  for (const auto& p : config_.projects) {
    for (const auto& [name, value] : p.secrets) values.insert(value);
    if (p.webhook && !p.webhook->secret.empty()) values.insert(p.webhook->secret);
  }
  // Token and webhook values the server read from its environment.
  for (auto& v : WithheldValues()) values.insert(std::move(v));
  std::vector<std::string> out;
  for (const auto& v : values) {
    // Shorter ones would mask ordinary text (config refuses them for secrets).
    if (v.size() >= 4 && v.find_first_not_of(" \t\r\n") != std::string::npos) out.push_back(v);
  }
  return out;
}

std::vector<std::string> Engine::ScriptEnv(const ProjectConfig& p, const Run& r) const {
  std::map<std::string, std::string> env = ServerEnv(&p);
  for (const auto& [k, v] : p.env) env[k] = v;
  for (const auto& [k, v] : p.secrets) env[k] = v;
  env["JENKY_RUN_ID"] = std::to_string(r.id);
  env["JENKY_PROJECT"] = r.project;
  env["JENKY_TRIGGER"] = TriggerKindName(r.trigger.kind);
  env["JENKY_REF"] = r.trigger.ref;
  env["JENKY_BRANCH"] = r.trigger.branch;
  env["JENKY_COMMIT"] = r.trigger.commit;
  env["JENKY_ACTOR"] = r.trigger.actor;
  env["JENKY_DELIVERY"] = r.trigger.delivery;
  env["JENKY_LOG_URL"] = base_url_ + "/runs/" + std::to_string(r.id);
  // The run's directory; also how jenky finds the run's processes if its
  // supervisor is ever killed (KillProcessesWithEnv).
  env["JENKY_RUN_DIR"] = RunDir::For(config_.server.data_dir, r.id).path;
  env["JENKY_ACTION"] = r.trigger.action;
  if (r.trigger.action == "rollback") {
    env["JENKY_ROLLBACK_TO"] = r.trigger.rollback_to ? std::to_string(r.trigger.rollback_to) : "";
  }
  if (!p.recipe.empty()) {
    for (const auto& [k, v] : p.params) {
      std::string upper = k;
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      env["JENKY_PARAM_" + upper] = v;
    }
  }
  std::vector<std::string> out;
  out.reserve(env.size());
  for (auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

void Engine::StartRun(int64_t id) {
  auto it = active_.find(id);
  if (it == active_.end()) return;
  Active& a = *it->second;
  Run& r = a.run;
  const ProjectConfig* p = config_.FindProject(r.project);
  if (!p) return FailToStart(a, "project no longer in the configuration");

  std::string script;
  if (!p->recipe.empty()) {
    script = std::string(FindRecipe(p->recipe).value_or(""));
    r.recipe = p->recipe;
  } else if (!p->script_file.empty()) {
    auto text = ReadFile(p->script_file);
    if (!text.ok()) return FailToStart(a, "cannot read script_file: " + text.status().message());
    script = std::move(*text);
  } else {
    script = p->script;
  }
  r.script_sha256 = Sha256Hex(script);

  // The run directory first: once the supervisor has it, the run no longer
  // needs this process. No fsync here, on the trigger's path: the supervisor
  // makes the directory durable when the run ends (and a run lost before
  // that is `interrupted`).
  std::string meta = DumpJson(RunToJson(r)) + "\n";
  if (spare_.pid > 0 && !SpareAlive()) {
    LogWarning("the spare supervisor pid={} died; starting another", spare_.pid);
    DropSpare();
  }
  if (spare_.pid <= 0) SpawnSpare();
  bool staged = UseStage(a.dir, script, meta);
  if (!staged) {
    if (Status s = MakeDirs(a.dir.path, 0750); !s.ok()) return FailToStart(a, s.message());
    if (Status s = WriteFile(a.dir.script(), script, 0640); !s.ok()) {
      return FailToStart(a, s.message());
    }
    // Also the check that the disk has room for the run's files: a run that
    // cannot have them fails here, with the reason, before any process starts.
    if (Status s = WriteFile(a.dir.meta(), meta, 0640); !s.ok()) return FailToStart(a, s.message());
  }
  std::string workdir = WorkdirOf(config_.server, *p);
  if (!PathExists(workdir)) {
    if (Status s = MakeDirs(workdir); !s.ok()) {
      if (staged) DropSpare();  // its stage is this run's directory now
      return FailToStart(a, s.message());
    }
  }

  RunSpec spec;
  spec.run_dir = a.dir.path;
  spec.run_id = r.id;
  spec.project = r.project;
  spec.argv = {p->shell};
  if (IsPosixShell(p->shell)) spec.argv.push_back("-e");
  spec.argv.push_back(a.dir.script());
  spec.env = ScriptEnv(*p, r);
  spec.workdir = workdir;
  spec.timeout_ms = p->timeout.count();
  spec.kill_grace_ms = config_.server.kill_grace.count();
  spec.max_log_bytes = MaxLogBytesOf(config_.server, *p);
  spec.staged = staged;
  spec.secrets = MaskedValues();

  if (spare_.pid <= 0) return FailToStart(a, "cannot start a supervisor process");
  Spare sup = std::exchange(spare_, Spare{});
  // A staged run's warm shell starts from here, while the spare reads its
  // RunSpec: the two run side by side (supervisor.h, WarmFds).
  if (staged) spec.warm_started = HandOffToWarmShell(sup, spec);
  sup.CloseWarmFds();
  std::string text = EncodeRunSpec(spec);
  Status sent = WriteAll(sup.stdin_fd, text, "supervisor stdin");
  close(sup.stdin_fd);
  if (!sent.ok()) {
    close(sup.pidfd);
    waitpid(sup.pid, nullptr, WNOHANG);
    if (spec.warm_started) {
      // The script started, and the supervisor that was to watch it is gone.
      ExitRecord rec = DeclareInterrupted(a.dir, "its supervisor died before it was handed the run");
      net::post(io_, [this, id, rec] { Finalize(id, rec); });
      return;
    }
    return FailToStart(a, sent.message());
  }
  if (!staged) {
    // The supervisor is on its way. The empty log lets followers open it
    // before the first byte (the supervisor creates it too, whoever comes
    // first). A stage has one.
    int log_fd = open(a.dir.log().c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (log_fd >= 0) close(log_fd);
  }

  a.child = sup.pid;
  if (!a.tail) a.tail = std::make_shared<LogTail>(io_, a.dir.log());
  a.process = std::make_unique<ProcessWatch>(io_, sup.pidfd, [this, id] { OnSupervisorExit(id); });
  Watch(a);
  r.status = RunStatus::kRunning;
  r.started_at = NowMillis();
  if (a.recorded) Persist(r);  // (else Trigger records it, started, in a moment)
  a.tail->Notify(io_);  // followers of a queued run see it start
  if (on_log_) on_log_(r.id);
  LogInfo("{}started {} pid={}", RunTag(r.id, r.project),
          r.recipe.empty() ? "script sha256=" + r.script_sha256.substr(0, 12)
                           : "recipe " + r.recipe + " sha256=" + r.script_sha256.substr(0, 12),
          sup.pid);
  // The next trigger's supervisor, off this trigger's path: a moment later,
  // so that starting it does not compete with this script for the CPU.
  auto timer = std::make_shared<net::steady_timer>(io_, std::chrono::milliseconds(20));
  timer->async_wait([this, timer](boost::system::error_code ec) {
    if (!ec && spare_.pid <= 0 && !shutting_down_) SpawnSpare();
  });
}

void Engine::FailToStart(Active& a, const std::string& reason) {
  LogError("{}cannot start: {}", RunTag(a.run.id, a.run.project), reason);
  ExitRecord rec;
  rec.status = RunStatus::kFailed;
  rec.reason = reason;
  rec.started_at = rec.finished_at = NowMillis();
  int64_t id = a.run.id;
  // Finalize starts the next run; defer so callers' iterators stay valid.
  net::post(io_, [this, id, rec] { Finalize(id, rec); });
}

bool Engine::UseStage(const RunDir& dir, const std::string& script, const std::string& meta) {
  if (spare_.pid <= 0 || spare_.stage.empty()) return false;
  // Only a complete stage has this name (the spare makes it under another).
  if (!IsDirectory(spare_.stage)) return false;
  RunDir stage{spare_.stage};
  // The files exist: writing them creates nothing. On a failure (a full
  // disk, a directory already named DIR) the run is started the other way,
  // which reports what is wrong; the stage stays the spare's, to be written
  // over by the next run.
  return Overwrite(stage.script(), script).ok() && Overwrite(stage.meta(), meta).ok() &&
         rename(stage.path.c_str(), dir.path.c_str()) == 0;
}

void Engine::Spare::CloseWarmFds() {
  for (int* fd : {&go_fd, &data_fd}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

bool Engine::HandOffToWarmShell(Spare& sup, const RunSpec& spec) {
  if (sup.go_fd < 0 || sup.data_fd < 0) return false;
  std::optional<std::string> data = WarmStartData(spec, sup.warm_shell, sup.warm_env);
  // (A failed write to the go pipe, EPIPE, means the shell is gone; the
  // supervisor then starts the script the other way.)
  return data && WriteAll(sup.data_fd, *data, "warm shell data").ok() &&
         write(sup.go_fd, "g", 1) == 1;
}

bool Engine::SpareAlive() const {
  if (spare_.pidfd < 0) return spare_.pid > 0;
  struct pollfd pfd = {spare_.pidfd, POLLIN, 0};
  return poll(&pfd, 1, 0) == 0;  // a pidfd is readable once its process exited
}

void Engine::DropSpare() {
  if (spare_.pid <= 0) return;
  Spare old = std::exchange(spare_, Spare{});
  old.CloseWarmFds();
  close(old.stdin_fd);  // it reads EOF, removes its stage and exits
  if (old.pidfd < 0) return;
  pid_t pid = old.pid;
  auto watch = std::make_shared<std::unique_ptr<ProcessWatch>>();
  *watch = std::make_unique<ProcessWatch>(io_, old.pidfd, [this, pid, watch] {
    waitpid(pid, nullptr, WNOHANG);
    net::post(io_, [watch] { watch->reset(); });
  });
}

void Engine::SpawnSpare() {
  if (shutting_down_) return;
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0) {
    LogError("pipe for a supervisor: {}", std::strerror(errno));
    return;
  }
  SpawnOptions o;
  o.argv = {supervisor_binary_, "__supervise"};
  std::string warm = WarmShellFor(config_);
  // The warm shell's go pipe and data memfd: made here, so that this process
  // can start a staged run's shell itself (HandOffToWarmShell).
  int go[2] = {-1, -1};
  int data = -1;
  if (!warm.empty() && pipe2(go, O_CLOEXEC) == 0) {
    data = memfd_create("jenky-warm-run", MFD_CLOEXEC);
    if (data < 0) {
      close(go[0]);
      close(go[1]);
      go[0] = go[1] = -1;
    }
  }
  if (!warm.empty()) o.argv.insert(o.argv.end(), {"--warm-shell", warm});
  if (data >= 0) {
    o.argv.insert(o.argv.end(), {"--warm-fds", "3,4,5"});
    o.extra_fds = {{go[0], 3}, {data, 4}, {go[1], 5}};
  }
  std::string runs_dir = config_.server.data_dir + "/runs";
  o.argv.insert(o.argv.end(), {"--stage", runs_dir});
  // Not the server's whole environment: what scripts never get, a supervisor
  // (and its warm shell) has no need of either.
  for (const auto& [k, v] : ServerEnv(nullptr)) o.env.push_back(k + "=" + v);
  if (const char* js = getenv("JOURNAL_STREAM")) {
    o.env.push_back(std::string("JOURNAL_STREAM=") + js);  // its log lines, as the server's
  }
  o.stdin_fd = in[0];
  o.stderr_fd = STDERR_FILENO;
  o.new_session = true;  // not in the server's session: a terminal's ^C is not for runs
  o.blocked_signals = SupervisorSignals();  // a cancel before it can block them waits
  auto pid = Spawn(o);
  close(in[0]);
  if (go[0] >= 0) close(go[0]);  // the shell's, once the spare has started it
  if (!pid.ok()) {
    close(in[1]);
    if (data >= 0) {
      close(go[1]);
      close(data);
    }
    LogError("cannot start supervisor {}: {}", supervisor_binary_, pid.status().message());
    return;
  }
  spare_.pid = *pid;
  spare_.pidfd = PidfdOpen(*pid);
  spare_.stdin_fd = in[1];
  spare_.warm_shell = data >= 0 ? warm : "";
  if (data >= 0) spare_.warm_env = WarmShellEnv(o.env);
  spare_.go_fd = data >= 0 ? go[1] : -1;
  spare_.data_fd = data;
  spare_.stage = RunDir::StagePath(runs_dir, *pid);
}

void Engine::Watch(Active& a) {
  int64_t id = a.run.id;
  a.watch_id = files_.Watch(a.dir.path, [this, id](const std::string& name) {
    if (name != "log") return;
    auto it = active_.find(id);
    if (it == active_.end() || !it->second->tail) return;
    Active& act = *it->second;
    int64_t size = FileSize(act.dir.log());
    if (size != act.tail->size) {
      act.tail->size = size;
      act.run.log_bytes = size;
      act.tail->Notify(io_);
      if (on_log_) on_log_(id);
    }
  });
  a.tail->size = a.run.log_bytes = FileSize(a.dir.log());
}

void Engine::Adopt(Run run) {
  int64_t id = run.id;
  Active& act = Track(std::move(run));
  scheduler_.Adopt(act.run.project, id);

  if (auto rec = ReadExitRecord(act.dir)) {
    LogInfo("{}finished while jenky was down", RunTag(id, act.run.project));
    Finalize(id, *rec);
    return;
  }
  if (!SupervisorAlive(act.dir)) {
    if (PathExists(act.dir.exit_reserve())) {
      DeclareGone(id);
      return;
    }
    // No supervisor has held this directory yet (one takes the lock, then
    // exit.reserve): the one the last server started just before it stopped
    // may still be on its way. Its lock is watched for a moment before the
    // run is called lost.
    act.lock_wait_until = NowMillis() + kLockWaitMs;
    act.tail = std::make_shared<LogTail>(io_, act.dir.log());
    Watch(act);
    act.lock_poll = std::make_unique<net::steady_timer>(io_);
    PollLock(id);
    LogInfo("{}adopted; waiting for its supervisor to take the run", RunTag(id, act.run.project));
    return;
  }
  act.tail = std::make_shared<LogTail>(io_, act.dir.log());
  Watch(act);
  int pidfd = -1;
  if (auto sid = ReadSupervisorId(act.dir)) pidfd = PidfdOpenVerified(sid->pid, sid->start_time);
  if (pidfd >= 0) {
    act.process = std::make_unique<ProcessWatch>(io_, pidfd, [this, id] { OnSupervisorExit(id); });
  } else {
    // Alive by its lock but not identifiable by pid: watch the lock instead.
    act.lock_poll = std::make_unique<net::steady_timer>(io_);
    PollLock(id);
  }
  LogInfo("{}adopted running run", RunTag(id, act.run.project));
}

void Engine::DeclareGone(int64_t id) {
  auto it = active_.find(id);
  if (it == active_.end()) return;
  if (auto rec = ReadExitRecord(it->second->dir)) {
    Finalize(id, *rec);
    return;
  }
  ExitRecord rec = DeclareInterrupted(it->second->dir, "jenky lost the run: its supervisor is gone "
                                                       "(machine restarted or process killed)");
  LogWarning("{}interrupted: supervisor gone", RunTag(id, it->second->run.project));
  Finalize(id, rec);
}

void Engine::PollLock(int64_t id) {
  auto it = active_.find(id);
  if (it == active_.end() || !it->second->lock_poll) return;
  bool waiting = it->second->lock_wait_until > 0;
  it->second->lock_poll->expires_after(std::chrono::milliseconds(waiting ? 20 : 500));
  it->second->lock_poll->async_wait([this, id](boost::system::error_code ec) {
    if (ec) return;
    auto it = active_.find(id);
    if (it == active_.end()) return;
    Active& a = *it->second;
    if (SupervisorAlive(a.dir)) {
      a.lock_wait_until = 0;  // it came
      PollLock(id);
    } else if (a.lock_wait_until > 0 && NowMillis() < a.lock_wait_until) {
      PollLock(id);
    } else if (a.lock_wait_until > 0) {
      DeclareGone(id);  // it never came
    } else {
      OnSupervisorExit(id);
    }
  });
}

void Engine::OnSupervisorExit(int64_t id) {
  auto it = active_.find(id);
  if (it == active_.end()) return;
  Active& a = *it->second;
  // Our own child is checked before it is declared gone: a wake-up of its
  // pidfd watch that is not its exit must not cost a live run. ProcessWatch
  // already checks the pidfd (watcher.h says why); this is a second line.
  // Then the lock tells.
  if (a.child > 0 && waitpid(a.child, nullptr, WNOHANG) == 0) {
    if (a.process) {
      LogWarning("{}supervisor pid={} is still running after an exit notification; watching "
                 "its lock instead", RunTag(id, a.run.project), a.child);
      ProcessWatch* watch = a.process.release();  // it may be the caller
      net::post(io_, [watch] { delete watch; });
    }
    if (!a.lock_poll) a.lock_poll = std::make_unique<net::steady_timer>(io_);
    PollLock(id);
    return;
  }
  std::optional<ExitRecord> rec = ReadExitRecord(a.dir);
  if (!rec) {
    LogError("{}supervisor exited without recording a result", RunTag(id, a.run.project));
    rec = DeclareInterrupted(a.dir, "jenky lost the run: its supervisor exited without a result");
  }
  Finalize(id, *rec);
}

Result<Run> Engine::Cancel(int64_t run_id, const std::string& reason) {
  auto it = active_.find(run_id);
  if (it == active_.end()) {
    auto stored = store_->GetRun(run_id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      return Status::Error("no run with id " + std::to_string(run_id), "not_found");
    }
    return Status::Error(fmt::format("run {} already {}", run_id, RunStatusName((*stored)->status)),
                         "conflict");
  }
  Active& a = *it->second;
  if (a.run.status == RunStatus::kQueued) {
    scheduler_.RemovePending(a.run.project, run_id);
    ExitRecord rec;
    rec.status = RunStatus::kCancelled;
    rec.reason = reason;
    rec.finished_at = NowMillis();
    Run before = a.run;
    Finalize(run_id, rec);
    auto stored = store_->GetRun(run_id);
    if (stored.ok() && stored->has_value()) return **stored;
    return before;
  }
  if (!a.cancel_sent) {
    a.cancel_sent = true;
    LogInfo("{}cancelling: {}", RunTag(run_id, a.run.project), reason);
    WriteFileAtomic(a.dir.cancel(), reason);
    int fd = a.process ? a.process->pidfd() : -1;
    bool sent = fd >= 0 && PidfdSendSignal(fd, SIGTERM) == 0;
    if (!sent) {
      if (auto sid = ReadSupervisorId(a.dir)) {
        int vfd = PidfdOpenVerified(sid->pid, sid->start_time);
        if (vfd >= 0) {
          sent = PidfdSendSignal(vfd, SIGTERM) == 0;
          close(vfd);
        }
      }
    }
    if (!sent) LogWarning("{}could not signal the supervisor", RunTag(run_id, a.run.project));
  }
  return a.run;
}

void Engine::Finalize(int64_t id, const ExitRecord& rec) {
  auto it = active_.find(id);
  if (it == active_.end()) return;
  std::unique_ptr<Active> a = std::move(it->second);
  active_.erase(it);
  Run& r = a->run;
  bool was_running = r.status == RunStatus::kRunning;
  r.status = rec.status;
  r.exit_code = rec.exit_code;
  r.reason = rec.reason;
  if (!r.started_at) r.started_at = rec.started_at;  // the server's own start time wins
  r.finished_at = rec.finished_at ? rec.finished_at : NowMillis();
  if (was_running) r.log_bytes = std::max(rec.log_bytes, FileSize(a->dir.log()));
  Persist(r);
  files_.Remove(a->watch_id);
  if (a->tail) {
    a->tail->size = r.log_bytes;
    a->tail->finished = true;
    a->tail->Notify(io_);
  }
  if (on_log_) on_log_(id);
  std::string detail;
  if (r.exit_code) detail += fmt::format(" exit_code={}", *r.exit_code);
  if (!r.reason.empty()) detail += " reason=\"" + r.reason + "\"";
  auto level = r.status == RunStatus::kSucceeded || r.status == RunStatus::kCancelled
                   ? LogLevel::kInfo : LogLevel::kWarning;
  LogLine(level, fmt::format("{}{}{} duration={}ms log_bytes={}", RunTag(id, r.project),
                             RunStatusName(r.status), detail,
                             r.started_at ? r.finished_at - r.started_at : 0, r.log_bytes));
  // The pidfd watch may be the caller; let it unwind before it is destroyed.
  ProcessWatch* watch = a->process.release();
  net::post(io_, [watch] { delete watch; });
  if (on_change_) on_change_();
  // A run that held the project's lane (running, or failed while starting)
  // hands it on; a dropped queued run never had it.
  if (scheduler_.Running(r.project) == id) {
    Apply(scheduler_.Finished(r.project, id));
    Prune(r.project);
  }
}

void Engine::Persist(const Run& run) {
  // Behind an earlier refused write: keep the order, wait for the retry.
  if (!unsaved_.empty()) {
    unsaved_[run.id] = run;
    return;
  }
  if (Status s = store_->SaveRun(run); !s.ok()) {
    LogError("{}{}; keeping it in memory and retrying every second", RunTag(run.id, run.project),
             s.message());
    unsaved_[run.id] = run;
    ScheduleRetry();
  }
}

void Engine::ScheduleRetry() {
  if (shutting_down_) return;
  if (!save_retry_) save_retry_ = std::make_unique<net::steady_timer>(io_);
  save_retry_->expires_after(std::chrono::seconds(1));
  save_retry_->async_wait([this](boost::system::error_code ec) {
    if (!ec) RetrySaves();
  });
}

void Engine::RetrySaves() {
  size_t saved = 0;
  while (!unsaved_.empty()) {
    auto it = unsaved_.begin();
    if (!store_->SaveRun(it->second).ok()) break;
    unsaved_.erase(it);
    ++saved;
  }
  if (!unsaved_.empty()) {
    ScheduleRetry();  // still refused: the first failure was logged already
  } else if (saved > 0) {
    LogInfo("the database takes writes again: saved {} run(s) kept in memory", saved);
  }
}

void Engine::Prune(const std::string& project) {
  const ProjectConfig* p = config_.FindProject(project);
  if (!p) return;
  auto ids = store_->RunsToPrune(project, p->keep_runs);
  if (!ids.ok()) return;
  for (int64_t id : *ids) {
    RunDir dir = RunDir::For(config_.server.data_dir, id);
    if (Status s = RemoveTree(dir.path); !s.ok()) {
      LogWarning("{}prune: {}", RunTag(id, project), s.message());
      continue;
    }
    store_->MarkPruned(id);
  }
  if (!ids->empty()) LogInfo("project={} pruned the logs of {} old run(s)", project, ids->size());
}

Result<std::optional<Run>> Engine::GetRun(int64_t id) {
  auto it = active_.find(id);
  if (it != active_.end()) return std::optional<Run>(it->second->run);
  if (auto u = unsaved_.find(id); u != unsaved_.end()) return std::optional<Run>(u->second);
  return store_->GetRun(id);
}

Result<std::vector<Run>> Engine::ListRuns(const std::string& project, int limit, int64_t before) {
  auto runs = store_->ListRuns(project, limit, before);
  if (!runs.ok()) return runs;
  // Runs whose row is not written yet, or is stale, come from memory.
  std::set<int64_t> listed;
  for (const Run& r : *runs) listed.insert(r.id);
  for (const auto& [id, run] : unsaved_) {
    if (!listed.count(id) && (project.empty() || run.project == project) &&
        (before == 0 || id < before)) {
      runs->push_back(run);
    }
  }
  if (runs->size() != listed.size()) {
    std::sort(runs->begin(), runs->end(), [](const Run& a, const Run& b) { return a.id > b.id; });
    if (runs->size() > static_cast<size_t>(limit)) runs->resize(limit);
  }
  for (Run& r : *runs) {
    if (auto it = active_.find(r.id); it != active_.end()) {
      r = it->second->run;  // live status and log size
    } else if (auto u = unsaved_.find(r.id); u != unsaved_.end()) {
      r = u->second;
    }
  }
  return runs;
}

Result<std::optional<Run>> Engine::RunForDelivery(const std::string& project,
                                                  const std::string& delivery) {
  for (const auto& [id, run] : unsaved_) {
    if (run.project == project && run.trigger.delivery == delivery) return std::optional<Run>(run);
  }
  return store_->FindRunByDelivery(project, delivery);
}

Result<std::optional<Run>> Engine::LastRun(const std::string& project) {
  auto runs = ListRuns(project, 1, 0);
  if (!runs.ok()) return runs.status();
  if (runs->empty()) return std::optional<Run>();
  return std::optional<Run>(runs->front());
}

void Engine::RecordDelivery(const Delivery& d) {
  deliveries_.Record(d);
  if (deliveries_flush_armed_ || shutting_down_) return;
  deliveries_flush_armed_ = true;
  deliveries_flush_.expires_after(std::chrono::milliseconds(250));
  deliveries_flush_.async_wait([this](boost::system::error_code ec) {
    deliveries_flush_armed_ = false;
    if (!ec) FlushDeliveries();
  });
}

void Engine::FlushDeliveries() {
  if (Status s = deliveries_.Flush(); !s.ok()) LogError("webhook deliveries: {}", s.message());
}

std::shared_ptr<LogTail> Engine::Tail(int64_t run_id) {
  auto it = active_.find(run_id);
  if (it == active_.end()) return nullptr;
  if (!it->second->tail) {
    // Queued: no log yet. Followers wait on a tail that the start will reuse.
    it->second->tail = std::make_shared<LogTail>(io_, it->second->dir.log());
  }
  return it->second->tail;
}

}  // namespace jenky
