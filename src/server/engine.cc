#include "server/engine.h"
#include "util/json.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "exec/supervisor.h"
#include "util/embedded.h"
#include "util/fs.h"
#include "util/hash.h"
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

struct Engine::Active {
  Run run;
  RunDir dir;
  std::shared_ptr<LogTail> tail;
  std::unique_ptr<ExitWatch> process;
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

}  // namespace

Engine::Engine(net::io_context& io, Config config, std::unique_ptr<Store> store,
               std::string supervisor_binary)
    : Engine(io, std::move(config), std::move(store),
             EngineSeams{std::make_unique<SupervisorLauncher>(io),
                         std::make_unique<FileWatcher>(io), NowMillis},
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
      journal_(io, *store_) {
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

Result<std::vector<Run>> Engine::RunsMissingFromStore() {
  // Run directories newer than the database: the server died (or the machine
  // lost power) between starting a run and committing it. meta.json says what
  // the run was; put it back.
  std::vector<Run> missing;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(config_.server.data_dir + "/runs", ec)) {
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
  return missing;
}

Status Engine::Start() {
  // The options spares are made with, already for the queued runs that
  // recovery starts below (Launcher::Start comes after it).
  launcher_->Reconfigure(SpareOptionsFor(config_, supervisor_binary_));
  auto max_id = store_->MaxRunId();
  if (!max_id.ok()) return max_id.status();
  next_id_ = *max_id + 1;

  auto missing = RunsMissingFromStore();
  if (!missing.ok()) return missing.status();
  if (!missing->empty()) {
    LogWarning("recovering {} run(s) missing from the database from their run directories",
               missing->size());
    if (Status s = store_->InsertRuns(*missing); !s.ok()) return s;
    next_id_ = missing->back().id + 1;
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
    if (PathExists(dir.meta()) && (launcher_->LockHeld(dir) || launcher_->ReadExitRecord(dir))) {
      LogWarning(
          "{}was started by the previous server, which stopped before it recorded that; "
          "adopting it",
          RunTag(r.id, r.project));
      r.status = RunStatus::kRunning;
      if (r.started_at == 0) r.started_at = Now();
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
      rec.finished_at = Now();
      Finalize(id, rec);
      continue;
    }
    auto d = scheduler_.Enqueue(p->name, Concurrency::kQueue, id, 1 << 30);
    if (d.ok()) Apply(*d);
  }
  launcher_->Start(SpareOptionsFor(config_, supervisor_binary_));
  if (!files_->ok()) {
    LogWarning(
        "inotify is unavailable ({}; see fs.inotify.max_user_instances): live logs are "
        "polled every 100 ms instead",
        files_->error());
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
  launcher_->Shutdown();
  if (log_poll_) log_poll_->cancel();
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
    if (launched.status().code() != Launcher::kSupervisorLost) {
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
  if (a.recorded) Persist(r);  // (else Trigger records it, started, in a moment)
  a.tail->Notify(io_);         // followers of a queued run see it start
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
    }
  });
  a.tail->size = a.run.log_bytes = FileSize(a.dir.log());
}

void Engine::Adopt(Run run) {
  int64_t id = run.id;
  Active& act = Track(std::move(run));
  scheduler_.Adopt(act.run.project, id);

  if (auto rec = launcher_->ReadExitRecord(act.dir)) {
    LogInfo("{}finished while jenky was down", RunTag(id, act.run.project));
    Finalize(id, *rec);
    return;
  }
  if (!launcher_->LockHeld(act.dir)) {
    if (launcher_->ExitReserved(act.dir)) {
      DeclareGone(id);
      return;
    }
    // No supervisor has held this directory yet (one takes the lock, then
    // exit.reserve): the one the last server started just before it stopped
    // may still be on its way. Its lock is watched for a moment before the
    // run is called lost.
    act.lock_wait_until = Now() + kLockWaitMs;
    act.tail = std::make_shared<LogTail>(io_, act.dir.log());
    Watch(act);
    act.lock_poll = std::make_unique<net::steady_timer>(io_);
    PollLock(id);
    LogInfo("{}adopted; waiting for its supervisor to take the run", RunTag(id, act.run.project));
    return;
  }
  act.tail = std::make_shared<LogTail>(io_, act.dir.log());
  Watch(act);
  UniqueFd pidfd = launcher_->OpenSupervisor(act.dir);
  if (pidfd) {
    act.process = files_->WatchExit(std::move(pidfd), [this, id] { OnSupervisorExit(id); });
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
  if (auto rec = launcher_->ReadExitRecord(it->second->dir)) {
    Finalize(id, *rec);
    return;
  }
  ExitRecord rec = launcher_->DeclareInterrupted(
      it->second->dir,
      "jenky lost the run: its supervisor is gone (machine restarted or process killed)");
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
    if (launcher_->LockHeld(a.dir)) {
      a.lock_wait_until = 0;  // it came
      PollLock(id);
    } else if (a.lock_wait_until > 0 && Now() < a.lock_wait_until) {
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
