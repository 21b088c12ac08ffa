// jenky: parses the command line and hands over to the module that does the
// work. Nothing else lives here.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>

#include "app/hosts_command.h"
#include "app/serve.h"
#include "cli/client_commands.h"
#include "cli/control_commands.h"
#include "exec/fleet_driver.h"
#include "exec/supervisor.h"
#include "service/service.h"
#include "service/unit.h"
#include "util/embedded.h"
#include "util/secret_env.h"

namespace {

constexpr int kUsage = 2;

int ScriptsList() {
  for (const auto& r : jenky::Recipes()) {
    std::string_view name = r.name.substr(0, r.name.size() - 3);
    std::string_view summary = jenky::RecipeSummary(r.data);
    std::printf("%-18.*s %.*s\n", static_cast<int>(name.size()), name.data(),
                static_cast<int>(summary.size()), summary.data());
    for (const auto& p : jenky::RecipeParams(r.data)) {
      std::string kind = p.required ? "required" : "default '" + p.default_value + "'";
      std::printf("    %-16s %-22s %s\n", p.name.c_str(), kind.c_str(), p.description.c_str());
    }
  }
  return 0;
}

int ScriptsShow(const std::string& name) {
  auto text = jenky::FindRecipe(name);
  if (!text) {
    std::fprintf(stderr, "jenky: no recipe named '%s'; `jenky scripts list` shows them\n",
                 name.c_str());
    return 1;
  }
  std::fwrite(text->data(), 1, text->size(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A fleet run's driver, started by its supervisor as the run's script.
  if (argc == 2 && std::string_view(argv[1]) == "__fleet") return jenky::FleetMain();
  // The supervisor is this same binary; keep its start as cheap as possible.
  if (argc >= 2 && std::string_view(argv[1]) == "__supervise") {
    std::string warm_shell, stage_in, cgroup_tree;
    jenky::WarmFds fds;
    bool have_fds = false;
    bool ok = argc % 2 == 0;  // flag and value pairs
    for (int i = 2; ok && i + 1 < argc; i += 2) {
      std::string_view flag(argv[i]);
      if (flag == "--warm-shell") {
        warm_shell = argv[i + 1];
      } else if (flag == "--stage") {
        stage_in = argv[i + 1];
      } else if (flag == "--cgroup") {
        cgroup_tree = argv[i + 1];
      } else if (flag == "--warm-fds") {
        char end = 0;
        have_fds = std::sscanf(argv[i + 1], "%d,%d,%d%c", &fds.go_read, &fds.data, &fds.go_write,
                               &end) == 3;
        ok = have_fds;
      } else {
        ok = false;
      }
    }
    // It holds the masker's secret values, and its script may ptrace its
    // ancestors: its memory is not the script's to read (util/secret_env.h).
    jenky::HideProcessMemory();
    if (ok) {
      return jenky::SupervisorMain(warm_shell, stage_in, have_fds ? &fds : nullptr, cgroup_tree);
    }
    std::fprintf(stderr,
                 "usage: jenky __supervise [--warm-shell SHELL [--warm-fds R,D,W]] "
                 "[--stage RUNS_DIR] [--cgroup TREE] (internal: started by jenky serve)\n");
    return 2;
  }

  CLI::App app{"jenky: self-hosted continuous deployment"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for all commands");

  jenky::ServeOptions serve;
  auto* serve_cmd = app.add_subcommand("serve", "Run the server (HTTP API, UI, runs)");
  serve_cmd->add_option("--config", serve.config_path,
                        "Config file (default ./jenky.toml if present)");
  serve_cmd->add_option("--listen", serve.listen,
                        "HOST:PORT to listen on (port 0 = any free port)");
  serve_cmd->add_option("--data-dir", serve.data_dir, "Where runs, logs and history are kept");
  serve_cmd->add_flag("--demo", serve.demo, "Add a demo project that shows off a live deploy");
  serve_cmd->add_option("--web-dir", serve.web_dir,
                        "Serve the web UI from this directory (UI development)");

  jenky::ClientOptions client;
  auto add_client_flags = [&](CLI::App* cmd) {
    cmd->add_option("--server", client.server,
                    "Server URL (default $JENKY_SERVER or http://127.0.0.1:8080)");
    cmd->add_option("--token", client.token,
                    "API token (default $JENKY_TOKEN); --token-file keeps "
                    "it out of the process list");
    cmd->add_option("--token-file", client.token_file,
                    "Read the API token from this file's first "
                    "line, - for standard input (default $JENKY_TOKEN_FILE)");
    cmd->add_option(
        "--cacert", client.cacert,
        "CA certificate (PEM) to verify an https:// server with (default $JENKY_CACERT, "
        "else the system's trusted CAs)");
  };

  std::string project, ref, commit;
  bool follow = false, json = false;
  int limit = 20;
  long long run_id = 0;

  auto* deploy = app.add_subcommand("deploy", "Start a deploy of PROJECT");
  deploy->add_option("PROJECT", project, "Project name")->required();
  deploy->add_flag("-f,--follow", follow, "Stream the log and exit with the run's result");
  deploy->add_option("--ref", ref, "Git ref to deploy (JENKY_REF), e.g. refs/heads/main");
  deploy->add_option("--commit", commit, "Commit to deploy (JENKY_COMMIT)");
  std::vector<std::string> inputs;
  deploy->add_option("--input", inputs,
                     "NAME=VALUE: one of the project's declared inputs (JENKY_INPUT_NAME); "
                     "repeat for more");
  add_client_flags(deploy);

  std::string reason;
  auto* pause = app.add_subcommand("pause", "Pause PROJECT: nothing deploys until it is resumed");
  pause->add_option("PROJECT", project, "Project name")->required();
  pause->add_option("--reason", reason, "Why (shown on the project's page and in the audit log)");
  add_client_flags(pause);
  auto* resume = app.add_subcommand("resume", "Resume a paused PROJECT");
  resume->add_option("PROJECT", project, "Project name")->required();
  add_client_flags(resume);
  auto* audit = app.add_subcommand("audit", "Print the audit log, newest first (admin scope)");
  audit->add_option("--project", project, "Only this project's entries");
  audit->add_option("--limit", limit, "How many")->check(CLI::Range(1, 1000));
  audit->add_flag("--json", json, "Print the API's JSON");
  add_client_flags(audit);

  auto* runs = app.add_subcommand("runs", "List recent runs, newest first");
  runs->add_option("PROJECT", project, "Only this project's runs");
  runs->add_option("--limit", limit, "How many")->check(CLI::Range(1, 500));
  runs->add_flag("--json", json, "Print the API's JSON");
  add_client_flags(runs);

  auto* logs = app.add_subcommand("logs", "Print a run's log");
  logs->add_option("RUN_ID", run_id, "Run id")->required()->check(CLI::PositiveNumber);
  logs->add_flag("-f,--follow", follow, "Keep streaming until the run ends; exit with its result");
  std::string log_host;
  logs->add_option("--host", log_host, "A fleet run's host: its own log, not the merged one");
  add_client_flags(logs);

  auto* cancel = app.add_subcommand("cancel", "Cancel a queued or running run");
  cancel->add_option("RUN_ID", run_id, "Run id")->required()->check(CLI::PositiveNumber);
  add_client_flags(cancel);

  long long rollback_to = 0;
  auto* rollback = app.add_subcommand(
      "rollback", "Switch PROJECT back to an earlier release (recorded as a run)");
  rollback->add_option("PROJECT", project, "Project name")->required();
  rollback
      ->add_option("--to", rollback_to,
                   "The run whose release to go back to (default: the previous)")
      ->check(CLI::PositiveNumber);
  rollback->add_flag("-f,--follow", follow, "Stream the log and exit with the run's result");
  add_client_flags(rollback);

  std::string check_config;
  auto* check = app.add_subcommand("check", "Validate a config file; errors as file:line:col");
  check->add_option("--config", check_config, "Config file (default ./jenky.toml)");

  jenky::HostsArgs hosts_args;
  auto* hosts = app.add_subcommand("hosts", "The fleet's ssh hosts: list, check, trust");
  hosts->require_subcommand(1);
  for (auto* sub :
       {hosts->add_subcommand("list", "Each host, its tags, whether its key is trusted"),
        hosts->add_subcommand("check", "Reach each host (or NAME) over ssh"),
        hosts->add_subcommand("trust", "Scan NAME's host key and record it")}) {
    sub->add_option("--config", hosts_args.config_path, "Config file (default ./jenky.toml)");
    sub->add_option("--data-dir", hosts_args.data_dir, "Data directory (default: the config's)");
    if (sub->get_name() != "list") sub->add_option("NAME", hosts_args.name, "Host name");
    if (sub->get_name() == "trust") {
      sub->get_option("NAME")->required();
      sub->add_option("--fingerprint", hosts_args.fingerprint,
                      "Record only the key with this SHA256:... fingerprint");
      sub->add_flag("--yes", hosts_args.yes, "Record every key offered without asking");
    }
    sub->callback([&hosts_args, sub] { hosts_args.action = sub->get_name(); });
  }

  std::string recipe;
  auto* scripts = app.add_subcommand("scripts", "Deploy recipes embedded in this binary");
  scripts->require_subcommand(1);
  auto* scripts_list = scripts->add_subcommand("list", "Name each recipe with its description");
  auto* scripts_show = scripts->add_subcommand("show", "Print one recipe");
  scripts_show->add_option("NAME", recipe, "Recipe name")->required();

  jenky::ServiceOptions svc;
  bool dry_run = false;
  std::string upgrade_binary, upgrade_target;
  auto* service = app.add_subcommand("service", "Host jenky under systemd");
  service->require_subcommand(1);
  auto add_service_flags = [&](CLI::App* cmd) {
    cmd->add_option("--user", svc.user, "User (and group) jenky runs as (default jenky)");
    cmd->add_option("--config", svc.config, "Config file (default /etc/jenky/jenky.toml)");
    cmd->add_option("--data-dir", svc.data_dir, "Data directory (default /var/lib/jenky)");
    cmd->add_option("--listen", svc.listen, "Address systemd listens on (default 127.0.0.1:8080)");
    cmd->add_option("--binary", svc.binary,
                    "Where the binary is installed (default /usr/local/bin/jenky)");
    cmd->add_option("--watchdog", svc.watchdog_sec, "WatchdogSec in seconds (default 30)")
        ->check(CLI::Range(2, 3600));
  };
  auto* service_print = service->add_subcommand("print", "Print jenky.service and jenky.socket");
  add_service_flags(service_print);
  jenky::AppUnitOptions app_opts;
  service_print->add_option("--app", app_opts.name,
                            "Print instead a unit for an application deployed "
                            "with the systemd-release recipe");
  service_print->add_option("--releases", app_opts.releases,
                            "With --app: the recipe's releases "
                            "directory (default /var/lib/jenky-apps/APP)");
  service_print->add_option("--exec", app_opts.command,
                            "With --app: the command in current/ "
                            "(default: APP)");
  service_print->add_option("--app-user", app_opts.user, "With --app: the user the app runs as");
  auto* service_install =
      service->add_subcommand("install", "Install, enable and start jenky under systemd");
  add_service_flags(service_install);
  service_install->add_flag("--dry-run", dry_run, "Show every step; change nothing");
  auto* service_uninstall =
      service->add_subcommand("uninstall", "Stop and remove jenky's units (data stays)");
  service_uninstall->add_flag("--dry-run", dry_run, "Show every step; change nothing");

  // Hidden: scripts/package.sh takes the .deb's units and starter config from here.
  std::string package_dir;
  auto* package_files = app.add_subcommand("__package-files",
                                           "Write the Debian package's "
                                           "jenky.service, jenky.socket and jenky.toml into DIR");
  package_files->group("");
  add_service_flags(package_files);
  package_files->add_option("DIR", package_dir, "Where to write them")->required();

  auto* upgrade =
      app.add_subcommand("upgrade", "Replace the jenky binary and restart without losing deploys");
  upgrade->add_option("NEW_BINARY", upgrade_binary, "The new jenky binary")->required();
  upgrade->add_option("--target", upgrade_target,
                      "The installed binary to replace (default: this one)");
  upgrade->add_flag("--dry-run", dry_run, "Show every step; change nothing");
  add_client_flags(upgrade);

  auto* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kUsage;
  }

  if (*serve_cmd) {
    serve.argv.assign(argv, argv + argc);
    return jenky::Serve(serve);
  }
  if (*service_print) {
    if (!app_opts.name.empty()) {
      if (app_opts.releases.empty()) app_opts.releases = "/var/lib/jenky-apps/" + app_opts.name;
      if (app_opts.command.empty()) app_opts.command = app_opts.name;
      std::printf("# /etc/systemd/system/%s.service\n%s", app_opts.name.c_str(),
                  jenky::AppServiceUnit(app_opts).c_str());
      return 0;
    }
    return jenky::ServicePrint(svc);
  }
  if (*service_install) {
    if (const char* path = std::getenv("PATH")) svc.path_env = path;
    return jenky::ServiceInstall(svc, dry_run);
  }
  if (*service_uninstall) return jenky::ServiceUninstall(dry_run);
  if (*package_files) return jenky::ServiceWritePackageFiles(svc, package_dir);
  bool client_command = false;
  for (const CLI::App* sub : app.get_subcommands()) {
    client_command = client_command || sub->get_name() == "upgrade" ||
                     sub->get_name() == "deploy" || sub->get_name() == "runs" ||
                     sub->get_name() == "logs" || sub->get_name() == "cancel" ||
                     sub->get_name() == "rollback" || sub->get_name() == "pause" ||
                     sub->get_name() == "resume" || sub->get_name() == "audit";
  }
  if (client_command && !jenky::ResolveTokenFile(client)) return kUsage;
  if (*upgrade) {
    std::string url = client.server;
    if (url.empty()) {
      const char* env = std::getenv("JENKY_SERVER");
      url = env && *env ? env : "http://127.0.0.1:8080";
    }
    if (!client.token.empty()) setenv("JENKY_TOKEN", client.token.c_str(), 1);
    if (!client.cacert.empty()) setenv("JENKY_CACERT", client.cacert.c_str(), 1);
    return jenky::Upgrade(upgrade_binary, upgrade_target, dry_run, url);
  }
  if (*deploy) return jenky::DeployCommand(client, project, follow, ref, commit, inputs);
  if (*pause) return jenky::PauseCommand(client, project, reason, true);
  if (*resume) return jenky::PauseCommand(client, project, "", false);
  if (*audit) return jenky::AuditCommand(client, project, limit, json);
  if (*runs) return jenky::RunsCommand(client, project, limit, json);
  if (*logs) return jenky::LogsCommand(client, run_id, follow, log_host);
  if (*cancel) return jenky::CancelCommand(client, run_id);
  if (*rollback) return jenky::RollbackCommand(client, project, rollback_to, follow);
  if (*check) return jenky::Check(check_config);
  if (*hosts) return jenky::Hosts(hosts_args);
  if (*scripts_list) return ScriptsList();
  if (*scripts_show) return ScriptsShow(recipe);
  if (*version) {
    std::printf("jenky %s\n", JENKY_VERSION);
    return 0;
  }
  return kUsage;
}
