// Adoption and recovery: what the Engine does at start with the runs the last
// server left behind, and how it watches a run it did not start (the matrix
// in docs/architecture.md, "Adoption and recovery"; tests/unit/engine_test.cc).

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "server/engine.h"
#include "server/engine_active.h"
#include "util/fs.h"
#include "util/logger.h"
#include "util/time.h"

namespace jenky {

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
    // meta.json is written just before the launch, with no start time; a run
    // without a row at all was started by its trigger.
    if (r.started_at == 0) r.started_at = r.created_at;
    missing.push_back(std::move(r));
  }
  std::sort(missing.begin(), missing.end(), [](const Run& a, const Run& b) { return a.id < b.id; });
  return missing;
}

Status Engine::Start() {
  // The options spares are made with, already for the queued runs that
  // recovery starts below (Launcher::Start comes after it).
  launcher_->Reconfigure(SpareOptionsFor(config_, supervisor_binary_));
  // Messages still pending from before are sent; new ones are numbered after them.
  if (Status s = outbox_.Start(); !s.ok()) return s;
  auto max_id = store_->MaxRunId();
  if (!max_id.ok()) return max_id.status();
  next_id_ = *max_id + 1;

  auto missing = RunsMissingFromStore();
  if (!missing.ok()) return missing.status();
  if (!missing->empty()) {
    LogWarning("recovering {} run(s) missing from the database from their run directories",
               missing->size());
    for (const Run& r : *missing) {
      // The messages its start caused were to be written with its row: made
      // again (a start's messages never ask how the run before ended).
      auto messages = outbox_.MessagesFor(r, base_url_, {});
      if (Status s = store_->SaveRunAndMessages(r, messages); !s.ok()) return s;
      outbox_.Saved(messages);
    }
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

}  // namespace jenky
