#include "server/engine.h"

#include <sys/stat.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "exec/supervisor.h"
#include "server/engine_active.h"
#include "util/embedded.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/logger.h"
#include "util/time.h"

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

namespace {

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

}  // namespace

Engine::Engine(net::io_context& io, Config config, std::unique_ptr<Store> store,
               std::string supervisor_binary)
    : Engine(io, std::move(config), std::move(store),
             EngineSeams{std::make_unique<SupervisorLauncher>(io),
                         std::make_unique<FileWatcher>(io), NowMillis, nullptr},
             std::move(supervisor_binary)) {}

Engine::Engine(net::io_context& io, Config config, std::unique_ptr<Store> store, EngineSeams seams,
               std::string supervisor_binary)
    : io_(io),
      config_(std::move(config)),
      store_(std::move(store)),
      supervisor_binary_(std::move(supervisor_binary)),
      launcher_(std::move(seams.launcher)),
      files_(std::move(seams.watcher)),
      clock_(std::move(seams.clock)),
      journal_(io, *store_),
      outbox_(io, *store_, config_, std::move(seams.sender), clock_) {
  // What the journal saved with a run's row is durable: the outbox sends it.
  journal_.SetSavedListener([this](const std::vector<OutboxMessage>& m) { outbox_.Saved(m); });
  base_url_ = config_.server.public_url;
}

Engine::~Engine() { Shutdown(); }

std::string Engine::Reload(Config fresh) {
  std::string note;
  if (fresh.server.listen != config_.server.listen ||
      fresh.server.data_dir != config_.server.data_dir) {
    note = "; listen and data_dir changes take effect at the next restart";
    fresh.server.listen = config_.server.listen;
    fresh.server.host = config_.server.host;
    fresh.server.port = config_.server.port;
    fresh.server.data_dir = config_.server.data_dir;
  }
  config_ = std::move(fresh);
  ++config_version_;
  outbox_.Kick();  // a receiver fixed or removed: look again now
  if (!config_.server.public_url.empty()) base_url_ = config_.server.public_url;
  if (!shutting_down_) launcher_->Reconfigure(SpareOptionsFor(config_, supervisor_binary_));
  return note;
}

std::string Engine::LogPath(int64_t id) const {
  return RunDir::For(config_.server.data_dir, id).log();
}
std::string Engine::IndexPath(int64_t id) const {
  return RunDir::For(config_.server.data_dir, id).index();
}
std::string Engine::ScriptPath(int64_t id) const {
  return RunDir::For(config_.server.data_dir, id).script();
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
  launcher_->Shutdown();
  if (log_poll_) log_poll_->cancel();
  // The outbox first: what the journal's last try saves is sent by the next
  // start, not begun now and cut off; what is in flight stays pending.
  outbox_.Shutdown();
  journal_.Shutdown();
  for (auto& [id, a] : active_) {
    a->process.reset();
    a->lock_poll.reset();
    files_->Remove(a->watch_id);
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
  r.created_at = Now();
  return r;
}

Result<Run> Engine::Trigger(const std::string& project, const struct Trigger& trigger) {
  const ProjectConfig* p = config_.FindProject(project);
  if (!p) return Status::Error("no project named '" + project + "'", StatusCode::kNotFound);
  if (const ProjectPause* pause = control().PauseOf(project)) {
    return Status::Error(PausedMessage(*pause), StatusCode::kPaused);
  }
  Run run = NewRun(project, trigger);
  auto decision = scheduler_.Enqueue(project, p->concurrency, run.id, p->max_queued);
  if (!decision.ok()) {
    --next_id_;  // nothing was created
    return Status::Error(decision.status().message(), StatusCode::kQueueFull);
  }
  int64_t id = run.id;
  Active& active = Track(std::move(run));
  active.recorded = false;
  // Start first (if the lane is free), record after: the script's start is on
  // the trigger's critical path, the history row is not. (active_ nodes are
  // stable: Apply only finalizes other, superseded runs.)
  Apply(*decision);
  // A trigger that was answered is on disk: a queued run's row is written
  // before the answer; a started run has its meta.json, and its row (with
  // the messages its start causes) is written behind its script, once that
  // printed (Watch) or 50 ms went by (Journal): Start() rebuilds both from
  // meta.json if jenky dies in between.
  if (active.run.status == RunStatus::kRunning) {
    PersistBehind(active.run);
  } else {
    Persist(active.run);
  }
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
    rec.finished_at = Now();
    Finalize(id, rec);
  }
  for (const auto& [id, reason] : d.cancel) Cancel(id, reason);
  for (int64_t id : d.start) StartRun(id);
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

  std::string meta = DumpJson(RunToJson(r)) + "\n";
  auto launched = launcher_->Launch(a.dir, script, meta, SpecFor(config_, *p, r, base_url_));
  if (!launched.ok()) {
    if (launched.status().kind() != StatusCode::kSupervisorLost) {
      return FailToStart(a, launched.status().message());
    }
    // The script started, and the supervisor that was to watch it is gone.
    ExitRecord rec = launcher_->DeclareInterrupted(a.dir, launched.status().message());
    net::post(io_, [this, id, rec] { Finalize(id, rec); });
    return;
  }

  a.child = launched->pid;
  if (!a.tail) a.tail = std::make_shared<LogTail>(io_, a.dir.log());
  a.process = files_->WatchExit(std::move(launched->pidfd), [this, id] { OnSupervisorExit(id); });
  Watch(a);
  r.status = RunStatus::kRunning;
  r.started_at = Now();
  if (a.recorded) PersistBehind(r);  // (else Trigger records it, started, in a moment)
  a.tail->Notify(io_);               // followers of a queued run see it start
  if (on_log_) on_log_(r.id);
  LogInfo("{}started {} pid={}", RunTag(r.id, r.project),
          r.recipe.empty() ? "script sha256=" + r.script_sha256.substr(0, 12)
                           : "recipe " + r.recipe + " sha256=" + r.script_sha256.substr(0, 12),
          launched->pid);
}

void Engine::FailToStart(Active& a, const std::string& reason) {
  LogError("{}cannot start: {}", RunTag(a.run.id, a.run.project), reason);
  ExitRecord rec;
  rec.status = RunStatus::kFailed;
  rec.reason = reason;
  rec.started_at = rec.finished_at = Now();
  int64_t id = a.run.id;
  // Finalize starts the next run; defer so callers' iterators stay valid.
  net::post(io_, [this, id, rec] { Finalize(id, rec); });
}

void Engine::Watch(Active& a) {
  int64_t id = a.run.id;
  a.watch_id = files_->Watch(a.dir.path, [this, id](const std::string& name) {
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
      // The script printed: its start's row, behind it, goes now (after
      // the viewers' handlers the tail queued).
      if (journal_.behind()) net::post(io_, [this] { journal_.WriteBehind(); });
    }
  });
  a.tail->size = a.run.log_bytes = FileSize(a.dir.log());
}

void Engine::OnSupervisorExit(int64_t id) {
  auto it = active_.find(id);
  if (it == active_.end()) return;
  Active& a = *it->second;
  // Our own child is checked before it is declared gone: a wake-up of its
  // pidfd watch that is not its exit must not cost a live run. ProcessWatch
  // already checks the pidfd (watcher.h says why); this is a second line.
  // Then the lock tells.
  if (a.child > 0 && launcher_->ChildRunning(a.child)) {
    if (a.process) {
      LogWarning(
          "{}supervisor pid={} is still running after an exit notification; watching "
          "its lock instead",
          RunTag(id, a.run.project), a.child);
      ExitWatch* watch = a.process.release();  // it may be the caller
      net::post(io_, [watch] { delete watch; });
    }
    if (!a.lock_poll) a.lock_poll = std::make_unique<net::steady_timer>(io_);
    PollLock(id);
    return;
  }
  std::optional<ExitRecord> rec = launcher_->ReadExitRecord(a.dir);
  if (!rec) {
    LogError("{}supervisor exited without recording a result", RunTag(id, a.run.project));
    rec = launcher_->DeclareInterrupted(
        a.dir, "jenky lost the run: its supervisor exited without a result");
  }
  Finalize(id, *rec);
}

Result<Run> Engine::Cancel(int64_t run_id, const std::string& reason) {
  auto it = active_.find(run_id);
  if (it == active_.end()) {
    auto stored = store_->GetRun(run_id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      return Status::Error("no run with id " + std::to_string(run_id), StatusCode::kNotFound);
    }
    return Status::Error(fmt::format("run {} already {}", run_id, RunStatusName((*stored)->status)),
                         StatusCode::kConflict);
  }
  Active& a = *it->second;
  if (a.run.status == RunStatus::kQueued) {
    scheduler_.RemovePending(a.run.project, run_id);
    ExitRecord rec;
    rec.status = RunStatus::kCancelled;
    rec.reason = reason;
    rec.finished_at = Now();
    Run before = a.run;
    Finalize(run_id, rec);
    auto stored = store_->GetRun(run_id);
    if (stored.ok() && stored->has_value()) return **stored;
    return before;
  }
  if (!a.cancel_sent) {
    a.cancel_sent = true;
    LogInfo("{}cancelling: {}", RunTag(run_id, a.run.project), reason);
    bool sent = launcher_->Cancel(a.dir, a.process ? a.process->pidfd() : -1, reason);
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
  r.resources = rec.resources;
  if (!r.started_at) r.started_at = rec.started_at;  // the server's own start time wins
  r.finished_at = rec.finished_at ? rec.finished_at : Now();
  if (was_running) r.log_bytes = std::max(rec.log_bytes, FileSize(a->dir.log()));
  Persist(r);
  files_->Remove(a->watch_id);
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
                   ? LogLevel::kInfo
                   : LogLevel::kWarning;
  LogLine(level, fmt::format("{}{}{} duration={}ms log_bytes={}", RunTag(id, r.project),
                             RunStatusName(r.status), detail,
                             r.started_at ? r.finished_at - r.started_at : 0, r.log_bytes));
  // The pidfd watch may be the caller; let it unwind before it is destroyed.
  ExitWatch* watch = a->process.release();
  net::post(io_, [watch] { delete watch; });
  if (on_change_) on_change_();
  // A run that held the project's lane (running, or failed while starting)
  // hands it on; a dropped queued run never had it.
  if (scheduler_.Running(r.project) == id) {
    Apply(scheduler_.Finished(r.project, id));
    Prune(r.project);
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
  return journal_.GetRun(id);
}

Result<std::vector<Run>> Engine::ListRuns(const std::string& project, int limit, int64_t before) {
  auto runs = journal_.ListRuns(project, limit, before);
  if (!runs.ok()) return runs;
  for (Run& r : *runs) {
    if (auto it = active_.find(r.id); it != active_.end()) r = it->second->run;  // live state
  }
  return runs;
}

Result<std::optional<Run>> Engine::RunForDelivery(const std::string& project,
                                                  const std::string& delivery) {
  return journal_.FindRunByDelivery(project, delivery);
}

Result<std::optional<Run>> Engine::LastRun(const std::string& project) {
  auto runs = ListRuns(project, 1, 0);
  if (!runs.ok()) return runs.status();
  if (runs->empty()) return std::optional<Run>();
  return std::optional<Run>(runs->front());
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
