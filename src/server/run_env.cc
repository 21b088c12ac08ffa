#include "server/run_env.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <tuple>

#include "config/inputs_config.h"
#include "config/notify_load.h"
#include "exec/cgroup.h"
#include "exec/fleet_driver.h"
#include "exec/process.h"
#include "exec/run_dir.h"
#include "exec/supervisor.h"
#include "util/secret_env.h"

extern char** environ;

namespace jenky {

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

SpareOptions SpareOptionsFor(const Config& config, const std::string& supervisor_binary) {
  SpareOptions o;
  o.supervisor_binary = supervisor_binary;
  o.runs_dir = config.server.data_dir + "/runs";
  o.warm_shell = WarmShellFor(config);
  // Not the server's whole environment: what scripts never get, a supervisor
  // (and its warm shell) has no need of either.
  for (const auto& [k, v] : ServerEnv(config, nullptr)) o.env.push_back(k + "=" + v);
  if (const char* js = getenv("JOURNAL_STREAM")) {
    o.env.push_back(std::string("JOURNAL_STREAM=") + js);  // its log lines, as the server's
  }
  return o;
}

std::map<std::string, std::string> ServerEnv(const Config& config, const ProjectConfig* p) {
  // The server's own environment (PATH, HOME, LANG, ...) minus what is not a
  // script's business: other projects' secrets, token variables, systemd's
  // protocol variables and jenky's own client settings.
  std::set<std::string> withheld;
  for (const auto& name : config.SecretEnvNames()) withheld.insert(name);
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

std::vector<std::string> MaskedValues(const Config& config) {
  // Every project's, not only the run's own: a script that reads another
  // project's secret by other means must not be able to print it either.
  std::set<std::string> values;
  for (const auto& p : config.projects) {
    for (const auto& [name, value] : p.secrets) values.insert(value);
    if (p.webhook && !p.webhook->secret.empty()) values.insert(p.webhook->secret);
  }
  // Notification URLs, signing secrets, passwords and forge tokens.
  for (auto& v : NotifySecretValues(config)) values.insert(std::move(v));
  // Token and webhook values the server read from its environment.
  for (auto& v : WithheldValues()) values.insert(std::move(v));
  std::vector<std::string> out;
  for (const auto& v : values) {
    // Shorter ones would mask ordinary text (config refuses them for secrets).
    if (v.size() >= 4 && v.find_first_not_of(" \t\r\n") != std::string::npos) out.push_back(v);
  }
  return out;
}

std::vector<std::string> ScriptEnv(const Config& config, const ProjectConfig& p, const Run& r,
                                   const std::string& base_url) {
  std::map<std::string, std::string> env = ServerEnv(config, &p);
  for (const auto& [k, v] : p.env) env[k] = v;
  for (const auto& [k, v] : p.secrets) env[k] = v;
  env["JENKY_RUN_ID"] = std::to_string(r.id);
  env["JENKY_PROJECT"] = r.project;
  env["JENKY_TRIGGER"] = TriggerKindName(r.trigger.kind);
  env["JENKY_REF"] = r.trigger.ref;
  env["JENKY_BRANCH"] = r.trigger.branch;
  env["JENKY_TAG"] = TagOf(r.trigger);
  env["JENKY_COMMIT"] = r.trigger.commit;
  env["JENKY_ACTOR"] = r.trigger.actor;
  env["JENKY_DELIVERY"] = r.trigger.delivery;
  env["JENKY_LOG_URL"] = base_url + "/runs/" + std::to_string(r.id);
  // The run's directory; also how jenky finds the run's processes if its
  // supervisor is ever killed (KillProcessesWithEnv).
  env["JENKY_RUN_DIR"] = RunDir::For(config.server.data_dir, r.id).path;
  env["JENKY_ACTION"] = r.trigger.action;
  if (r.trigger.action == "rollback") {
    env["JENKY_ROLLBACK_TO"] = r.trigger.rollback_to ? std::to_string(r.trigger.rollback_to) : "";
  }
  // Deploy inputs: the project's defaults, then what the trigger asked for
  // (validated then; a webhook's run has the defaults).
  for (const InputConfig& in : p.inputs) env[InputEnvName(in.name)] = in.default_value;
  for (const auto& [k, v] : r.trigger.inputs) env[InputEnvName(k)] = v;
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

namespace {

// A fleet project's plan for its run (exec/fleet_driver.h), from the config.
std::string FleetPlanFor(const Config& config, const ProjectConfig& p, const Run& run,
                         const RunDir& dir) {
  const FleetConfig& f = *p.fleet;
  FleetPlan plan;
  plan.project = p.name;
  plan.run_id = run.id;
  plan.run_dir = dir.path;
  plan.data_dir = config.server.data_dir;
  plan.workdir = WorkdirOf(config.server, p);
  plan.shell = p.shell;
  plan.ssh_config = config.server.ssh_config;
  plan.script_file = dir.script();
  plan.build = f.build;
  plan.upload = f.upload;
  plan.upload_flat = f.upload_flat;
  plan.keep_releases = f.keep_releases;
  plan.prepare = f.prepare;
  plan.health = f.health;
  plan.rollback = f.rollback;
  plan.deploy_dir = f.deploy_dir;
  plan.rollout = f.rollout;
  plan.kill_grace_ms = config.server.kill_grace.count();
  for (const auto& name : f.hosts) plan.hosts.push_back(*config.FindHost(name));
  for (const auto& [k, v] : p.env) plan.forward_env.push_back(k);
  for (const auto& [k, v] : p.secrets) {
    plan.forward_env.push_back(k);
    plan.secret_names.push_back(k);
  }
  // A recipe's parameters (its remote mode reads them on each host).
  if (!p.recipe.empty()) {
    for (const std::string& kv : ScriptEnv(config, p, run, "")) {
      if (kv.rfind("JENKY_PARAM_", 0) == 0) plan.forward_env.push_back(kv.substr(0, kv.find('=')));
    }
  }
  for (const char* k : {"JENKY_RUN_ID", "JENKY_PROJECT", "JENKY_TRIGGER", "JENKY_REF",
                        "JENKY_BRANCH", "JENKY_COMMIT", "JENKY_ACTOR", "JENKY_DELIVERY",
                        "JENKY_LOG_URL", "JENKY_ACTION", "JENKY_ROLLBACK_TO"}) {
    plan.forward_env.push_back(k);
  }
  return EncodeFleetPlan(plan);
}

}  // namespace

RunSpec SpecFor(const Config& config, const ProjectConfig& p, const Run& run,
                const std::string& base_url) {
  RunDir dir = RunDir::For(config.server.data_dir, run.id);
  RunSpec spec;
  spec.run_dir = dir.path;
  spec.run_id = run.id;
  spec.project = run.project;
  spec.argv = {p.shell};
  if (IsPosixShell(p.shell)) spec.argv.push_back("-e");
  spec.argv.push_back(dir.script());
  spec.env = ScriptEnv(config, p, run, base_url);
  if (p.fleet) {
    // The run's script is the fleet driver (this binary), which runs the
    // saved script on each host (docs/fleet.md).
    spec.argv = {SelfExecutable(), "__fleet"};
    spec.env.push_back(std::string(kFleetPlanVar) + "=" + FleetPlanFor(config, p, run, dir));
  }
  spec.workdir = WorkdirOf(config.server, p);
  spec.timeout_ms = p.timeout.count();
  spec.kill_grace_ms = config.server.kill_grace.count();
  spec.max_log_bytes = MaxLogBytesOf(config.server, p);
  spec.memory_max = p.memory_max;
  spec.tasks_max = p.tasks_max;
  spec.secrets = MaskedValues(config);
  return spec;
}

Status CheckRunLimits(const Config& config) {
  std::optional<Result<CgroupTree>> tree;  // looked for only if some project has limits
  std::string errors;
  for (const ProjectConfig& p : config.projects) {
    for (auto [value, controller, key] : {std::tuple{p.memory_max, "memory", "memory_max"},
                                          std::tuple{p.tasks_max, "pids", "tasks_max"}}) {
      if (value <= 0) continue;
      if (!tree) tree = OpenCgroupTree();
      Status s = RequireController(*tree, controller, "projects." + p.name + "." + key);
      if (!s.ok()) errors += (errors.empty() ? "" : "\n") + s.message();
    }
  }
  if (!errors.empty()) return Status::Error(errors);
  return Status::Ok();
}

}  // namespace jenky
