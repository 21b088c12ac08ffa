#include "service/service.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "config/config.h"
#include "exec/process.h"
#include "http/client.h"
#include "util/fs.h"
#include "util/logger.h"

extern char** environ;

namespace jenky {
namespace {

constexpr const char* kServicePath = "/etc/systemd/system/jenky.service";
constexpr const char* kSocketPath = "/etc/systemd/system/jenky.socket";

struct Step {
  std::string what;
  std::function<Status()> run;
};

// Runs the steps in order, or only prints them; stops at the first failure.
int RunSteps(const std::vector<Step>& steps, bool dry_run) {
  for (size_t i = 0; i < steps.size(); ++i) {
    std::printf("%s%zu. %s\n", dry_run ? "would " : "", i + 1, steps[i].what.c_str());
    std::fflush(stdout);
    if (dry_run) continue;
    Status s = steps[i].run();
    if (!s.ok()) {
      std::fprintf(stderr, "jenky: step %zu failed: %s\n", i + 1, s.message().c_str());
      return 1;
    }
  }
  if (dry_run) std::printf("(dry run: nothing was changed)\n");
  return 0;
}

std::vector<std::string> CurrentEnv() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.push_back(*e);
  return env;
}

// Runs ARGV with this process's stdout/stderr; its exit status, or an error.
Result<int> RunCommand(const std::vector<std::string>& argv) {
  SpawnOptions o;
  o.argv = argv;
  o.env = CurrentEnv();
  o.stdout_fd = STDOUT_FILENO;
  o.stderr_fd = STDERR_FILENO;
  auto pid = Spawn(o);
  if (!pid.ok()) return pid.status();
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Status Command(const std::vector<std::string>& argv) {
  auto rc = RunCommand(argv);
  if (!rc.ok()) return rc.status();
  if (*rc != 0) {
    std::string line;
    for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
    return Status::Error(fmt::format("`{}` exited with status {}", line, *rc));
  }
  return Status::Ok();
}

bool Quiet(const std::vector<std::string>& argv) {
  SpawnOptions o;
  o.argv = argv;
  o.env = CurrentEnv();
  auto pid = Spawn(o);
  if (!pid.ok()) return false;
  int status = 0;
  waitpid(*pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string PidOneName() {
  auto comm = ReadFile("/proc/1/comm");
  if (!comm.ok()) return "unknown";
  std::string s = *comm;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

Status CheckSystemd() {
  if (!PathExists("/run/systemd/system")) {
    return Status::Error(fmt::format(
        "systemd is not running on this machine (PID 1 is '{}'); run `jenky serve` under your "
        "own process supervisor instead, or see the units with `jenky service print`",
        PidOneName()));
  }
  return Status::Ok();
}

Status CheckRoot(const std::string& what) {
  if (geteuid() != 0) {
    return Status::Error(
        fmt::format("{} needs root: run it with sudo (or see what it would do "
                    "with --dry-run)",
                    what));
  }
  return Status::Ok();
}

// Copies FROM to TO atomically (TO.tmp, fsync, rename), mode 0755.
Status InstallFile(const std::string& from, const std::string& to) {
  auto data = ReadFile(from);
  if (!data.ok()) return data.status();
  if (Status s = MakeDirs(std::filesystem::path(to).parent_path().string()); !s.ok()) return s;
  return WriteFileAtomic(to, *data, 0755);
}

}  // namespace

std::string StarterConfig(const ServiceOptions& o) {
  return fmt::format(R"(# jenky's configuration. `jenky check --config {config}` validates it;
# `systemctl reload jenky` applies it (a config with errors is refused and
# the running one kept). Every key: `man jenky` and the project's docs.

[server]
# Under systemd, jenky.socket holds the listening address and this line is
# not used: change it with `systemctl edit jenky.socket` (ListenStream=).
# Without [[tokens]] jenky serves only on a loopback address.
listen = "{listen}"
data_dir = "{data_dir}"
# public_url = "https://deploy.example.com"

# An API token: put its SHA-256 here, give the token itself to the client
# (`jenky deploy --token`, $JENKY_TOKEN).
# [[tokens]]
# name = "laptop"
# sha256 = "<printf %s TOKEN | sha256sum>"
# scopes = ["read", "deploy"]

# A project: its script runs in workdir as the user jenky runs as.
# [projects.myapp]
# workdir = "/srv/myapp"
# script = """
# git pull --ff-only
# make deploy
# """
# timeout = "15m"
)",
                     fmt::arg("config", o.config), fmt::arg("listen", o.listen),
                     fmt::arg("data_dir", o.data_dir));
}

int ServiceWritePackageFiles(const ServiceOptions& o, const std::string& dir) {
  if (Status s = MakeDirs(dir); !s.ok()) {
    std::fprintf(stderr, "jenky: %s\n", s.message().c_str());
    return 1;
  }
  const std::pair<const char*, std::string> files[] = {
      {"jenky.service", JenkyServiceUnit(o)},
      {"jenky.socket", JenkySocketUnit(o)},
      {"jenky.toml", StarterConfig(o)},
  };
  for (const auto& [name, text] : files) {
    if (Status s = WriteFileAtomic(dir + "/" + name, text, 0644); !s.ok()) {
      std::fprintf(stderr, "jenky: %s\n", s.message().c_str());
      return 1;
    }
  }
  return 0;
}

int ServicePrint(const ServiceOptions& o) {
  std::printf("# %s\n%s\n# %s\n%s", kServicePath, JenkyServiceUnit(o).c_str(), kSocketPath,
              JenkySocketUnit(o).c_str());
  return 0;
}

// "no [[tokens]] means loopback only", before a socket is set up that breaks
// it: jenky would refuse to start on it (serve.cc), so say so now.
Status CheckListenNeedsTokens(const ServiceOptions& o) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(o.listen, host, port)) {
    return Status::Error(
        fmt::format("--listen '{}' is not HOST:PORT; write it like 127.0.0.1:8080", o.listen));
  }
  if (IsLoopbackHost(host)) return Status::Ok();
  size_t tokens = 0;
  if (PathExists(o.config)) {
    ConfigLoad load = LoadConfigFile(o.config);
    if (!load.ok()) {
      return Status::Error(
          fmt::format("{} has errors (`jenky check --config {}` lists them); fix "
                      "them before installing a socket on {}",
                      o.config, o.config, o.listen));
    }
    tokens = load.config.tokens.size();
  }
  if (tokens > 0) return Status::Ok();
  return Status::Error(fmt::format(
      "refusing to listen on {} without [[tokens]] in {}: anyone who can reach that address "
      "could deploy. Add a [[tokens]] entry there first (docs/security.md), or keep the "
      "default --listen 127.0.0.1:8080 behind a reverse proxy",
      o.listen, o.config));
}

int ServiceInstall(const ServiceOptions& o, bool dry_run) {
  if (Status s = CheckListenNeedsTokens(o); !s.ok()) {
    std::fprintf(stderr, "jenky: %s\n", s.message().c_str());
    return 1;
  }
  if (!dry_run) {
    for (Status s : {CheckRoot("jenky service install"), CheckSystemd()}) {
      if (!s.ok()) {
        std::fprintf(stderr, "jenky: %s\n", s.message().c_str());
        return 1;
      }
    }
  }
  std::vector<Step> steps;
  if (o.user != "root" && !getpwnam(o.user.c_str())) {
    steps.push_back({fmt::format("create the system user {} (useradd --system --home-dir {} "
                                 "--shell /usr/sbin/nologin {})",
                                 o.user, o.data_dir, o.user),
                     [o] {
                       return Command({"/usr/sbin/useradd", "--system", "--home-dir", o.data_dir,
                                       "--no-create-home", "--shell", "/usr/sbin/nologin", o.user});
                     }});
  }
  std::string self = SelfExecutable();
  if (self != o.binary) {
    steps.push_back({fmt::format("install this binary ({}) as {}", self, o.binary),
                     [self, o] { return InstallFile(self, o.binary); }});
  }
  if (!PathExists(o.config)) {
    steps.push_back({fmt::format("write a starter configuration to {}", o.config), [o] {
                       std::string dir = std::filesystem::path(o.config).parent_path().string();
                       if (Status s = MakeDirs(dir, 0755); !s.ok()) return s;
                       if (Status s = WriteFileAtomic(o.config, StarterConfig(o), 0640); !s.ok())
                         return s;
                       std::string group = o.group.empty() ? o.user : o.group;
                       if (struct group* g = getgrnam(group.c_str()))
                         chown(o.config.c_str(), 0, g->gr_gid);
                       return Status::Ok();
                     }});
  }
  steps.push_back(
      {fmt::format("create the data directory {} owned by {}", o.data_dir, o.user), [o] {
         if (Status s = MakeDirs(o.data_dir, 0750); !s.ok()) return s;
         if (struct passwd* p = getpwnam(o.user.c_str())) {
           chown(o.data_dir.c_str(), p->pw_uid, p->pw_gid);
         }
         return Status::Ok();
       }});
  steps.push_back({fmt::format("write {} and {}", kServicePath, kSocketPath), [o] {
                     if (Status s = WriteFileAtomic(kServicePath, JenkyServiceUnit(o)); !s.ok())
                       return s;
                     return WriteFileAtomic(kSocketPath, JenkySocketUnit(o));
                   }});
  steps.push_back({"systemctl daemon-reload", [] {
                     return Command({"systemctl", "daemon-reload"});
                   }});
  steps.push_back(
      {"systemctl enable --now jenky.socket jenky.service (waits until jenky is ready)", [] {
         return Command({"systemctl", "enable", "--now", "jenky.socket", "jenky.service"});
       }});
  int rc = RunSteps(steps, dry_run);
  if (rc == 0 && !dry_run) {
    std::printf(
        "jenky is running: systemctl status jenky; logs: journalctl -u jenky; "
        "config: %s (then systemctl reload jenky)\n",
        o.config.c_str());
  }
  return rc;
}

int ServiceUninstall(bool dry_run) {
  if (!dry_run) {
    for (Status s : {CheckRoot("jenky service uninstall"), CheckSystemd()}) {
      if (!s.ok()) {
        std::fprintf(stderr, "jenky: %s\n", s.message().c_str());
        return 1;
      }
    }
  }
  std::vector<Step> steps = {
      {"systemctl disable --now jenky.service jenky.socket (running deploys finish on their own)",
       [] {
         return Command({"systemctl", "disable", "--now", "jenky.service", "jenky.socket"});
       }},
      {fmt::format("remove {} and {}", kServicePath, kSocketPath),
       [] {
         unlink(kServicePath);
         unlink(kSocketPath);
         return Status::Ok();
       }},
      {"systemctl daemon-reload",
       [] {
         return Command({"systemctl", "daemon-reload"});
       }},
  };
  int rc = RunSteps(steps, dry_run);
  if (rc == 0 && !dry_run) {
    std::printf("jenky is uninstalled; its configuration and data were left in place\n");
  }
  return rc;
}

}  // namespace jenky

namespace jenky {
namespace {

// `BINARY version` within 10 s; the version line, or why it is not a jenky.
Result<std::string> BinaryVersion(const std::string& binary) {
  if (access(binary.c_str(), X_OK) != 0) {
    return Status::Error(fmt::format("{} is not an executable file", binary));
  }
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return PosixError("pipe", errno);
  SpawnOptions o;
  o.argv = {binary, "version"};
  o.env = CurrentEnv();
  o.stdout_fd = out[1];
  auto pid = Spawn(o);
  close(out[1]);
  if (!pid.ok()) {
    close(out[0]);
    return pid.status();
  }
  std::string text;
  char buf[256];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  int status = 0;
  bool exited = false;
  while (std::chrono::steady_clock::now() < deadline) {
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n > 0 && text.size() < 4096) text.append(buf, n);
    if (waitpid(*pid, &status, WNOHANG) == *pid) {
      exited = true;
      while ((n = read(out[0], buf, sizeof buf)) > 0) text.append(buf, n);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  close(out[0]);
  if (!exited) {
    kill(*pid, SIGKILL);
    waitpid(*pid, &status, 0);
    return Status::Error(fmt::format("`{} version` did not finish within 10 s", binary));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || text.rfind("jenky ", 0) != 0) {
    return Status::Error(
        fmt::format("`{} version` did not answer like jenky (exit {}, output '{}')", binary,
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.substr(0, 80)));
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// TARGET.prev becomes a copy of TARGET, then NEW replaces TARGET; each by a
// rename, so the running file is never written (no ETXTBSY) and TARGET is
// never missing.
Status SwapIn(const std::string& new_binary, const std::string& target) {
  std::string prev = target + ".prev";
  std::string staged = target + ".new";
  auto data = ReadFile(new_binary);
  if (!data.ok()) return data.status();
  if (Status s = WriteFileAtomic(staged, *data, 0755); !s.ok()) return s;
  std::string prev_tmp = prev + ".tmp";
  unlink(prev_tmp.c_str());
  if (link(target.c_str(), prev_tmp.c_str()) != 0) return PosixError("link " + prev_tmp, errno);
  if (rename(prev_tmp.c_str(), prev.c_str()) != 0) return PosixError("rename to " + prev, errno);
  if (rename(staged.c_str(), target.c_str()) != 0) return PosixError("rename to " + target, errno);
  return Status::Ok();
}

Status RollBack(const std::string& target) {
  std::string prev = target + ".prev";
  auto data = ReadFile(prev);
  if (!data.ok()) return data.status();
  return WriteFileAtomic(target, *data, 0755);  // atomic rename: prev stays for reference
}

Status AskServerToRestart(const std::string& url) {
  const char* token = std::getenv("JENKY_TOKEN");
  const char* cacert = std::getenv("JENKY_CACERT");
  auto client = Client::Create(url, token ? token : "", cacert ? cacert : "");
  if (!client.ok()) return client.status();
  auto r = client->Post("/api/v1/admin/restart", "{}");
  if (!r.ok()) return r.status();
  if (r->status != 202) return Status::Error(ErrorMessage(*r));
  return Status::Ok();
}

// Polls the server until it answers with VERSION (15 s at most).
Status WaitForVersion(const std::string& url, const std::string& version) {
  const char* token = std::getenv("JENKY_TOKEN");
  const char* cacert = std::getenv("JENKY_CACERT");
  auto client = Client::Create(url, token ? token : "", cacert ? cacert : "");
  if (!client.ok()) return client.status();
  std::string want = version.substr(version.find(' ') + 1);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  std::string last = "no answer";
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = client->Get("/api/v1/version");
    if (r.ok() && r->status == 200) {
      if (r->body.find("\"" + want + "\"") != std::string::npos) return Status::Ok();
      last = r->body;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status::Error("the server did not come back with the new version: " + last);
}

bool UnderSystemd() {
  return PathExists("/run/systemd/system") &&
         Quiet({"systemctl", "is-active", "--quiet", "jenky.service"});
}

}  // namespace

int Upgrade(const std::string& new_binary, const std::string& target_arg, bool dry_run,
            const std::string& server_url) {
  std::string target = target_arg.empty() ? SelfExecutable() : target_arg;
  auto version = BinaryVersion(new_binary);
  if (!version.ok()) {
    std::fprintf(stderr, "jenky: not upgrading: %s\n", version.status().message().c_str());
    return 1;
  }
  bool systemd = UnderSystemd();
  if (!dry_run && access(std::filesystem::path(target).parent_path().c_str(), W_OK) != 0) {
    std::fprintf(stderr, "jenky: cannot write next to %s: run the upgrade as its owner (sudo)\n",
                 target.c_str());
    return 1;
  }
  std::vector<Step> steps = {
      {fmt::format("checked {}: {}", new_binary, *version), [] { return Status::Ok(); }},
      {fmt::format("keep {} as {}.prev and put {} in its place (atomic renames)", target, target,
                   new_binary),
       [=] { return SwapIn(new_binary, target); }},
  };
  if (systemd) {
    steps.push_back(
        {"systemctl restart jenky.service (running deploys continue; the new jenky "
         "adopts them)",
         [] {
           return Command({"systemctl", "restart", "jenky.service"});
         }});
  } else {
    steps.push_back({fmt::format("ask the jenky at {} to re-execute itself on the new binary "
                                 "(POST /api/v1/admin/restart; running deploys continue)",
                                 server_url),
                     [server_url] { return AskServerToRestart(server_url); }});
  }
  if (dry_run) return RunSteps(steps, true);
  // Run all but the restart, then restart and verify, rolling back on failure.
  Step restart = steps.back();
  steps.pop_back();
  if (int rc = RunSteps(steps, false); rc != 0) return rc;
  std::printf("%zu. %s\n", steps.size() + 1, restart.what.c_str());
  std::fflush(stdout);
  Status s = restart.run();
  bool up = s.ok() && (systemd ? Quiet({"systemctl", "is-active", "--quiet", "jenky.service"})
                               : WaitForVersion(server_url, *version).ok());
  if (up) {
    std::printf(
        "upgraded to %s; the previous binary is %s.prev (`jenky upgrade %s.prev` goes "
        "back)\n",
        version->c_str(), target.c_str(), target.c_str());
    return 0;
  }
  std::fprintf(stderr, "jenky: the new binary did not become ready (%s); rolling back\n",
               s.ok() ? "service not active" : s.message().c_str());
  if (Status r = RollBack(target); !r.ok()) {
    std::fprintf(stderr, "jenky: rollback failed: %s; restore %s.prev by hand\n",
                 r.message().c_str(), target.c_str());
    return 1;
  }
  if (!systemd) {
    std::fprintf(stderr,
                 "jenky: rolled back %s; start `jenky serve` again if it is not running "
                 "(running deploys continue and are adopted)\n",
                 target.c_str());
    return 1;
  }
  // Restarts of a failing binary may have hit the start limit: clear it first.
  Command({"systemctl", "reset-failed", "jenky.service", "jenky.socket"});
  Command({"systemctl", "start", "jenky.socket"});
  Status again = Command({"systemctl", "restart", "jenky.service"});
  std::fprintf(stderr, "jenky: rolled back to the previous binary%s\n",
               again.ok() ? "; jenky is running it again"
                          : "; but it did not start either: see journalctl -u jenky");
  return 1;
}

}  // namespace jenky
