#include "exec/fleet_driver.h"

#include <glob.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "exec/fleet_host.h"
#include "exec/process.h"
#include "util/fs.h"
#include "util/json.h"

extern char** environ;

namespace jenky {

using nlohmann::json;

std::string EncodeFleetPlan(const FleetPlan& p) {
  json hosts = json::array();
  for (const auto& h : p.hosts) {
    json env = json::array();
    for (const auto& [k, v] : h.env) env.push_back({k, v});
    hosts.push_back({{"name", h.name},
                     {"address", h.address},
                     {"user", h.user},
                     {"port", h.port},
                     {"identity_file", h.identity_file},
                     {"env", env}});
  }
  const RolloutConfig& r = p.rollout;
  json j = {{"project", p.project},
            {"run_id", p.run_id},
            {"run_dir", p.run_dir},
            {"data_dir", p.data_dir},
            {"workdir", p.workdir},
            {"shell", p.shell},
            {"ssh_config", p.ssh_config},
            {"script_file", p.script_file},
            {"build", p.build},
            {"upload", p.upload},
            {"upload_flat", p.upload_flat},
            {"keep_releases", p.keep_releases},
            {"prepare", p.prepare},
            {"health", p.health},
            {"rollback", p.rollback},
            {"deploy_dir", p.deploy_dir},
            {"hosts", hosts},
            {"forward_env", p.forward_env},
            {"secret_names", p.secret_names},
            {"kill_grace_ms", p.kill_grace_ms},
            {"rollout",
             {{"batch", r.batch},
              {"batch_percent", r.batch_percent},
              {"pause_ms", r.pause.count()},
              {"max_failures", r.max_failures},
              {"on_failure", OnFailureName(r.on_failure)},
              {"parallel", r.parallel},
              {"health_timeout_ms", r.health_timeout.count()}}}};
  return DumpJson(j);
}

Result<FleetPlan> DecodeFleetPlan(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Status::Error("the fleet plan is not a JSON object");
  try {
    FleetPlan p;
    p.project = j.at("project");
    p.run_id = j.at("run_id");
    for (auto [key, field] : {std::pair{"run_dir", &p.run_dir},
                              {"data_dir", &p.data_dir},
                              {"workdir", &p.workdir},
                              {"shell", &p.shell},
                              {"ssh_config", &p.ssh_config},
                              {"script_file", &p.script_file},
                              {"build", &p.build},
                              {"prepare", &p.prepare},
                              {"health", &p.health},
                              {"rollback", &p.rollback},
                              {"deploy_dir", &p.deploy_dir}}) {
      *field = j.at(key).get<std::string>();
    }
    p.upload = j.at("upload").get<std::vector<std::string>>();
    p.upload_flat = j.value("upload_flat", false);
    p.keep_releases = j.value("keep_releases", 5);
    p.forward_env = j.at("forward_env").get<std::vector<std::string>>();
    p.secret_names = j.at("secret_names").get<std::vector<std::string>>();
    p.kill_grace_ms = j.at("kill_grace_ms");
    const json& r = j.at("rollout");
    p.rollout.batch = r.at("batch");
    p.rollout.batch_percent = r.at("batch_percent");
    p.rollout.pause = Millis(r.at("pause_ms").get<int64_t>());
    p.rollout.max_failures = r.at("max_failures");
    std::string f = r.at("on_failure");
    p.rollout.on_failure = f == "stop"       ? OnFailure::kStop
                           : f == "continue" ? OnFailure::kContinue
                                             : OnFailure::kRollback;
    p.rollout.parallel = r.at("parallel");
    p.rollout.health_timeout = Millis(r.at("health_timeout_ms").get<int64_t>());
    for (const json& h : j.at("hosts")) {
      HostConfig hc;
      hc.name = h.at("name");
      hc.address = h.at("address");
      hc.user = h.at("user");
      hc.port = h.at("port");
      hc.identity_file = h.at("identity_file");
      for (const json& kv : h.at("env")) hc.env.emplace_back(kv.at(0), kv.at(1));
      p.hosts.push_back(std::move(hc));
    }
    return p;
  } catch (const json::exception& e) {
    return Status::Error(std::string("the fleet plan is malformed: ") + e.what());
  }
}

namespace {

std::atomic<bool> g_cancelled{false};

void OnTerm(int) { g_cancelled.store(true); }

// FN(i) for i in [0, N), at most PARALLEL at once.
void ParallelFor(size_t n, int parallel, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  size_t count = std::min<size_t>(n, std::max(1, parallel));
  for (size_t t = 0; t < count; ++t) {
    threads.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
    });
  }
  for (auto& t : threads) t.join();
}

// Sleeps up to D, less if cancelled.
void Sleep(Millis d) {
  auto end = std::chrono::steady_clock::now() + d;
  while (!g_cancelled.load() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

class Fleet {
 public:
  explicit Fleet(FleetPlan plan) : plan_(std::move(plan)) {}
  int Run();

 private:
  bool Setup();
  bool Build();
  bool ExpandUploads();
  void Prepare(HostLink& l);
  void Switch(size_t i);
  bool Healthy(HostLink& l, std::string* reason);
  void SwitchBatches();
  void RollBackSwitched();
  void SettleTheRest();
  void RollBackTo(HostLink& l);
  int Summary();
  int Failures() const;
  std::string ReadScript();

  FleetPlan plan_;
  std::unique_ptr<FleetOutput> out_;
  FleetContext ctx_;
  std::counting_semaphore<64> gate_{10};
  std::vector<std::unique_ptr<HostLink>> links_;
  std::vector<char> switched_;  // per link: its `current` may have moved
  std::string script_;
  std::string stop_reason_;
  std::string control_dir_;
};

bool Fleet::Setup() {
  std::vector<std::string> secrets;
  for (const auto& name : plan_.secret_names) {
    if (const char* v = getenv(name.c_str())) secrets.emplace_back(v);
  }
  out_ = std::make_unique<FleetOutput>(secrets);
  char tmpl[] = "/tmp/jenky-fleet-XXXXXX";  // short: socket paths are at most 107 bytes
  if (!mkdtemp(tmpl)) {
    out_->Line("", fmt::format("jenky: cannot make a directory for ssh: {}", strerror(errno)));
    return false;
  }
  control_dir_ = tmpl;
  auto ssh = WriteSshSetup(plan_.run_dir, plan_.data_dir, control_dir_ + "/c", plan_.ssh_config);
  if (!ssh.ok()) {
    out_->Line("", "jenky: " + ssh.status().message());
    return false;
  }
  ctx_.run_dir = plan_.run_dir;
  ctx_.release = std::to_string(plan_.run_id);
  ctx_.deploy_dir = plan_.deploy_dir;
  ctx_.shell = plan_.shell;
  ctx_.workdir = plan_.workdir;
  ctx_.upload = plan_.upload;
  ctx_.upload_flat = plan_.upload_flat;
  ctx_.keep_releases = plan_.keep_releases;
  ctx_.ssh = *ssh;
  ctx_.out = out_.get();
  ctx_.cancelled = &g_cancelled;
  ctx_.connect_gate = &gate_;
  ctx_.kill_grace_ms = plan_.kill_grace_ms;
  for (const auto& name : plan_.forward_env) {
    if (const char* v = getenv(name.c_str())) ctx_.env.emplace_back(name, v);
  }
  std::vector<std::string> names;
  for (const auto& h : plan_.hosts) {
    names.push_back(h.name);
    links_.push_back(std::make_unique<HostLink>(ctx_, h));
    WriteHostState(plan_.run_dir, links_.back()->state());
    out_->AddHost(plan_.run_dir, h.name);
  }
  switched_.assign(links_.size(), 0);
  WriteHostOrder(plan_.run_dir, names);
  auto text = ReadFile(plan_.script_file);
  script_ = text.ok() ? *text : "";
  return true;
}

bool Fleet::Build() {
  if (plan_.build.empty()) return true;
  out_->Line("", "jenky: build (here, in " + plan_.workdir + ")");
  SpawnOptions o;
  o.argv = {plan_.shell, "-e", "-c", plan_.build};
  for (char** e = environ; e && *e; ++e) o.env.emplace_back(*e);
  o.workdir = plan_.workdir;
  o.stdout_fd = 1;
  o.stderr_fd = 1;
  o.new_process_group = true;
  Result<pid_t> pid = Spawn(o);
  if (!pid.ok()) {
    stop_reason_ = "the build could not start: " + pid.status().message();
    return false;
  }
  int status = 0;
  bool signalled = false;
  while (waitpid(*pid, &status, WNOHANG) == 0) {
    if (g_cancelled.load() && !signalled) {
      kill(-*pid, SIGTERM);
      signalled = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  stop_reason_ = g_cancelled.load() ? "cancelled"
                 : WIFEXITED(status)
                     ? fmt::format("the build exited with status {}", WEXITSTATUS(status))
                     : fmt::format("the build was killed by signal {}", WTERMSIG(status));
  return false;
}

// A flat upload's patterns (a recipe's artifacts), matched in the workdir
// now that the build has run: each match goes under its base name, so two
// with one name would collide.
bool Fleet::ExpandUploads() {
  if (!plan_.upload_flat) return true;
  std::vector<std::string> paths;
  std::map<std::string, std::string> names;
  for (const std::string& pattern : plan_.upload) {
    std::string full = pattern[0] == '/' ? pattern : plan_.workdir + "/" + pattern;
    std::vector<std::string> found;
    glob_t g = {};
    if (pattern.find_first_of("*?[") != std::string::npos) {
      if (glob(full.c_str(), GLOB_MARK, nullptr, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i) found.emplace_back(g.gl_pathv[i]);
      }
      globfree(&g);
      // A directory matched is itself (not its contents), unless the
      // pattern ends in '/'.
      for (auto& f : found) {
        if (pattern.back() != '/' && f.size() > 1 && f.back() == '/') f.pop_back();
      }
    } else if (struct stat st; lstat(full.c_str(), &st) == 0) {
      found.push_back(full);
    }
    if (found.empty()) {
      stop_reason_ = fmt::format(
          "the artifact '{}' is not in {} after the build; nothing was "
          "uploaded",
          pattern, plan_.workdir);
      out_->Line("", "jenky: " + stop_reason_);
      return false;
    }
    for (const auto& f : found) {
      std::string name = f.back() == '/' ? "(contents)" : f.substr(f.rfind('/') + 1);
      if (auto [it, fresh] = names.emplace(name, f); !fresh) {
        stop_reason_ = fmt::format("two artifacts would both be releases/{}/{} ('{}' and '{}')",
                                   ctx_.release, name, it->second, f);
        out_->Line("", "jenky: " + stop_reason_);
        return false;
      }
      out_->Line("", fmt::format("jenky: artifact {} -> releases/{}/{}", f, ctx_.release,
                                 f.back() == '/' ? "" : name));
      paths.push_back(f);
    }
  }
  ctx_.upload = paths;
  return true;
}

void Fleet::Prepare(HostLink& l) {
  if (g_cancelled.load()) return;
  l.SetStatus(HostStatus::kPreparing);
  if (!l.Connect() || !l.Upload()) return;
  std::string reason;
  // (Always a step: it publishes the upload, or makes the empty release.)
  if (!l.Step(RemoteStep::kPrepare, plan_.prepare, &reason)) {
    l.SetStatus(HostStatus::kFailed, "prepare: " + reason);
    return;
  }
  l.SetStatus(HostStatus::kPrepared);
}

bool Fleet::Healthy(HostLink& l, std::string* reason) {
  if (plan_.health.empty()) return true;
  auto deadline = std::chrono::steady_clock::now() + plan_.rollout.health_timeout;
  for (int attempt = 1;; ++attempt) {
    if (l.Step(RemoteStep::kHealth, plan_.health, reason)) return true;
    if (g_cancelled.load() || *reason == "cancelled") return false;
    if (std::chrono::steady_clock::now() + std::chrono::seconds(1) >= deadline) {
      *reason = fmt::format("health check still failing after {} ({} attempts): {}",
                            FormatDuration(plan_.rollout.health_timeout), attempt, *reason);
      return false;
    }
    Sleep(std::chrono::seconds(1));
  }
}

void Fleet::Switch(size_t i) {
  HostLink& l = *links_[i];
  if (g_cancelled.load()) return;
  l.SetStatus(HostStatus::kSwitching);
  switched_[i] = 1;
  std::string reason;
  bool ok = l.Step(RemoteStep::kSwitch, script_, &reason);
  if (!ok) reason = "switch: " + reason;
  if (ok && !Healthy(l, &reason)) ok = false;
  if (ok) {
    l.SetStatus(HostStatus::kHealthy);
    return;
  }
  // A host that failed its own switch goes back at once under `rollback`,
  // whatever the rest of the rollout does.
  if (g_cancelled.load()) {
    l.SetStatus(HostStatus::kFailed, "cancelled");
    return;
  }
  if (plan_.rollout.on_failure == OnFailure::kRollback) {
    std::string rb;
    const std::string& text = plan_.rollback.empty() ? script_ : plan_.rollback;
    if (l.Step(RemoteStep::kRollback, text, &rb)) reason += "; rolled back to its previous release";
    else reason += "; its rollback failed too: " + rb;
    switched_[i] = 0;
  }
  l.SetStatus(HostStatus::kFailed, reason);
}

int Fleet::Failures() const {
  return static_cast<int>(std::count_if(links_.begin(), links_.end(), [](const auto& l) {
    return l->state().status == HostStatus::kFailed;
  }));
}

void Fleet::SwitchBatches() {
  std::vector<size_t> ready;
  for (size_t i = 0; i < links_.size(); ++i) {
    if (links_[i]->state().status == HostStatus::kPrepared) ready.push_back(i);
  }
  const int size = BatchSize(plan_.rollout, static_cast<int>(links_.size()));
  const size_t batches = (ready.size() + size - 1) / size;
  for (size_t b = 0; b < batches && !g_cancelled.load(); ++b) {
    if (b > 0 && plan_.rollout.pause.count() > 0) {
      out_->Line("", fmt::format("jenky: pause {}", FormatDuration(plan_.rollout.pause)));
      Sleep(plan_.rollout.pause);
      if (g_cancelled.load()) break;
    }
    std::vector<size_t> batch(ready.begin() + b * size,
                              ready.begin() + std::min(ready.size(), (b + 1) * size));
    std::string names;
    for (size_t i : batch) names += (names.empty() ? "" : ", ") + links_[i]->host().name;
    out_->Line("", fmt::format("jenky: switching batch {} of {}: {}", b + 1, batches, names));
    ParallelFor(batch.size(), size, [&](size_t k) { Switch(batch[k]); });
    int failures = Failures();
    if (failures > plan_.rollout.max_failures && plan_.rollout.on_failure != OnFailure::kContinue) {
      stop_reason_ = fmt::format("the rollout stopped: {} host(s) failed, max_failures is {}",
                                 failures, plan_.rollout.max_failures);
      out_->Line("", "jenky: " + stop_reason_);
      if (plan_.rollout.on_failure == OnFailure::kRollback) RollBackSwitched();
      return;
    }
  }
}

void Fleet::RollBackSwitched() {
  std::vector<size_t> back;
  for (size_t i = 0; i < links_.size(); ++i) {
    if (switched_[i] && links_[i]->state().status == HostStatus::kHealthy) back.push_back(i);
  }
  if (back.empty()) return;
  out_->Line("", fmt::format("jenky: rolling back {} switched host(s)", back.size()));
  const std::string& text = plan_.rollback.empty() ? script_ : plan_.rollback;
  ParallelFor(back.size(), plan_.rollout.parallel, [&](size_t k) {
    HostLink& l = *links_[back[k]];
    std::string reason;
    if (l.Step(RemoteStep::kRollback, text, &reason)) {
      l.SetStatus(HostStatus::kRolledBack, stop_reason_);
    } else {
      l.SetStatus(HostStatus::kFailed, "rollback failed: " + reason);
    }
  });
}

// Hosts the rollout did not reach end skipped; a prepared release they have
// is removed (not after a cancel: the connections are gone).
void Fleet::SettleTheRest() {
  // After a cancel the supervisor kills what is left after kill_grace:
  // the socket directory goes first.
  if (g_cancelled.load()) RemoveTree(control_dir_);
  std::string why = g_cancelled.load()     ? "cancelled"
                    : stop_reason_.empty() ? "not reached"
                                           : stop_reason_;
  ParallelFor(links_.size(), plan_.rollout.parallel, [&](size_t i) {
    HostLink& l = *links_[i];
    HostStatus s = l.state().status;
    if (IsFinalHostStatus(s)) return;
    if (g_cancelled.load()) {
      l.SetStatus(s == HostStatus::kPending || s == HostStatus::kPrepared ? HostStatus::kSkipped
                                                                          : HostStatus::kFailed,
                  "cancelled");
      return;
    }
    std::string reason;
    if (s == HostStatus::kPrepared && !l.Step(RemoteStep::kClean, "", &reason)) {
      why += "; removing its prepared release failed: " + reason;
    }
    l.SetStatus(HostStatus::kSkipped, why);
  });
  ParallelFor(links_.size(), plan_.rollout.parallel, [&](size_t i) { links_[i]->Disconnect(); });
  RemoveTree(control_dir_);
}

int Fleet::Summary() {
  out_->Line("", fmt::format("jenky: {:<20} {:<12} {}", "HOST", "STATUS", "REASON"));
  int healthy = 0;
  for (const auto& l : links_) {
    const HostState& s = l->state();
    healthy += s.status == HostStatus::kHealthy;
    std::string row =
        fmt::format("jenky: {:<20} {:<12} {}", s.name, HostStatusName(s.status), s.reason);
    // No trailing blanks where there is no reason: a wrapped log view
    // would give them a row of their own.
    row.erase(row.find_last_not_of(' ') + 1);
    out_->Line("", row);
  }
  out_->Line("", fmt::format("jenky: {} of {} host(s) healthy", healthy, links_.size()));
  if (healthy == static_cast<int>(links_.size())) return 0;
  // The run's reason (the supervisor reads it when the driver exits 1).
  std::vector<HostState> states;
  for (const auto& l : links_) states.push_back(l->state());
  std::string why = FleetFailureReason(states, stop_reason_);
  out_->Line("", "jenky: " + why);
  WriteFileAtomic(FleetReasonPath(plan_.run_dir), why + "\n", 0644);
  return 1;
}

// `jenky rollback PROJECT`: every host back to an earlier release at once
// (a rollback is urgent: no batches), health-checked.
void Fleet::RollBackTo(HostLink& l) {
  if (g_cancelled.load()) return;
  l.SetStatus(HostStatus::kPreparing);
  if (!l.Connect()) return;
  l.SetStatus(HostStatus::kSwitching);
  std::string reason;
  const std::string& text = plan_.rollback.empty() ? script_ : plan_.rollback;
  if (!l.Step(RemoteStep::kRollbackTo, text, &reason)) {
    l.SetStatus(HostStatus::kFailed, "rollback: " + reason);
  } else if (!Healthy(l, &reason)) {
    l.SetStatus(HostStatus::kFailed, reason);
  } else {
    l.SetStatus(HostStatus::kHealthy);
  }
}

int Fleet::Run() {
  if (!Setup()) return 1;
  const char* action = getenv("JENKY_ACTION");
  if (action && std::string_view(action) == "rollback") {
    const char* to = getenv("JENKY_ROLLBACK_TO");
    out_->Line("", fmt::format("jenky: fleet rollback of {} on {} host(s) to {}", plan_.project,
                               links_.size(),
                               to && *to ? fmt::format("release {}", to) : "the previous release"));
    ParallelFor(links_.size(), plan_.rollout.parallel, [&](size_t i) { RollBackTo(*links_[i]); });
    SettleTheRest();
    return Summary();
  }
  out_->Line("", fmt::format("jenky: fleet deploy of {} to {} host(s), release {}", plan_.project,
                             links_.size(), ctx_.release));
  if (Build() && ExpandUploads()) {
    ParallelFor(links_.size(), plan_.rollout.parallel, [&](size_t i) { Prepare(*links_[i]); });
    int failures = Failures();
    if (failures > plan_.rollout.max_failures && plan_.rollout.on_failure != OnFailure::kContinue) {
      stop_reason_ = fmt::format("not switched: {} host(s) failed to prepare, max_failures is {}",
                                 failures, plan_.rollout.max_failures);
    } else {
      SwitchBatches();
    }
  }
  SettleTheRest();
  return Summary();
}

}  // namespace

int FleetMain() {
  const char* text = getenv(kFleetPlanVar);
  if (!text) {
    std::fprintf(stderr, "jenky __fleet: %s is not set (the server starts this)\n", kFleetPlanVar);
    return 2;
  }
  Result<FleetPlan> plan = DecodeFleetPlan(text);
  if (!plan.ok()) {
    std::fprintf(stderr, "jenky __fleet: %s\n", plan.status().message().c_str());
    return 2;
  }
  unsetenv(kFleetPlanVar);  // not for ssh, rsync or the build
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  struct sigaction sa = {};
  sa.sa_handler = OnTerm;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return Fleet(std::move(*plan)).Run();
}

}  // namespace jenky
