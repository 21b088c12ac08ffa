#include "exec/warm_shell.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <map>
#include <set>

#include <fmt/format.h>

#include "exec/cgroup.h"
#include "exec/process.h"
#include "util/fs.h"

namespace jenky {

namespace {

// What a warm shell runs (supervisor.h), read from fd 4. Fd 3 is a pipe that
// brings one byte once the run is ready, or EOF when none will come; fd 5
// holds WarmStartData, which the bootstrap sources: one `cd`, one `export`
// and one assignment, every value in single quotes. (Bash reads this file
// through its own descriptor, 255.)
constexpr std::string_view kWarmBootstrap = R"BOOT(# jenky: a warm shell, waiting for its run
IFS= read -r -N 1 __jenky_go <&3 || exit 125
exec 3<&- 4<&-
unset __jenky_go JENKY_SUPERVISOR
. /dev/fd/5 || exit 125
exec 5<&-
SECONDS=0
set -e
. "$0"
)BOOT";

}  // namespace

bool WarmShell::GivenItsRun() const {
  struct stat st;
  return data_fd >= 0 && fstat(data_fd, &st) == 0 && st.st_size > 0;
}

void WarmShell::Discard() {
  for (int* fd : {&go_fd, &data_fd, &out_fd}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  if (pid > 0) {
    kill(-pid, SIGKILL);  // its process group: what it may have started too
    kill(pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  pid = -1;
}

bool WarmShell::Send(const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = pwrite(data_fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  return done == data.size() && write(go_fd, "g", 1) == 1;
}

void WarmShell::BecomeScript(pid_t* script_pid, int* script_out) {
  close(go_fd);
  close(data_fd);
  go_fd = data_fd = -1;
  *script_pid = pid;
  *script_out = out_fd;
  out_fd = -1;
  pid = -1;  // the run's now
}

std::optional<WarmShell> StartWarmShell(const std::string& shell, const SupervisorId& self,
                                        const WarmFds* from_server, const RunCgroup* cgroup) {
  int go[2], out[2];
  int data = -1;
  if (from_server) {
    go[0] = from_server->go_read;
    go[1] = from_server->go_write;
    data = from_server->data;
    for (int fd : {go[0], go[1], data}) fcntl(fd, F_SETFD, FD_CLOEXEC);
  } else {
    if (pipe2(go, O_CLOEXEC) != 0) return std::nullopt;
    data = memfd_create("jenky-warm-run", MFD_CLOEXEC);
  }
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(go[0]);
    close(go[1]);
    if (data >= 0) close(data);
    return std::nullopt;
  }
  WidenPipe(out[0]);
  int boot = memfd_create("jenky-warm-bootstrap", MFD_CLOEXEC);
  std::optional<WarmShell> warm;
  if (boot >= 0 && data >= 0 && WriteAll(boot, kWarmBootstrap, "warm shell bootstrap").ok()) {
    SpawnOptions o;
    o.argv = {shell, "/dev/fd/4"};
    // With this process's environment, which is the server's less what it
    // keeps from scripts: a run's is mostly the same, and its data then only
    // sets what differs (the locale's files, for one, are loaded already).
    std::vector<std::string> own;
    for (char** e = environ; e && *e; ++e) own.emplace_back(*e);
    std::vector<std::string> env = WarmShellEnv(own);
    o.env = env;
    o.env.push_back(WarmShellMarker(self));
    o.stdout_fd = o.stderr_fd = out[1];
    o.extra_fds = {{go[0], 3}, {boot, 4}, {data, 5}};
    o.new_process_group = true;
    // In the run's cgroup already: it becomes the script without moving.
    if (cgroup) o.cgroup_fd = cgroup->fd();
    if (auto pid = Spawn(o); pid.ok()) {
      warm = WarmShell{*pid, shell, std::move(env), go[1], data, out[0]};
    }
  }
  // The shell is the pipe's only reader: a write to it fails once it is gone.
  close(go[0]);
  close(out[1]);
  if (boot >= 0) close(boot);
  if (!warm) {
    close(go[1]);
    close(out[0]);
    if (data >= 0) close(data);
  }
  return warm;
}

bool IsIdentifier(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return c == '_' || std::isalnum(static_cast<unsigned char>(c));
  });
}

// Variables bash reads at start-up, sets itself or keeps read-only: exported
// later they would not act as they do when found in the environment at start.
bool SpecialToTheShell(std::string_view name) {
  static const std::set<std::string_view> names = {"ENV",
                                                   "SHELLOPTS",
                                                   "POSIXLY_CORRECT",
                                                   "IFS",
                                                   "PS4",
                                                   "UID",
                                                   "EUID",
                                                   "PPID",
                                                   "GROUPS",
                                                   "LINENO",
                                                   "RANDOM",
                                                   "SRANDOM",
                                                   "SECONDS",
                                                   "EPOCHSECONDS",
                                                   "EPOCHREALTIME",
                                                   "HISTCMD",
                                                   "FUNCNAME",
                                                   "DIRSTACK",
                                                   "PIPESTATUS",
                                                   "OPTIND",
                                                   "OPTERR",
                                                   "COMP_WORDBREAKS",
                                                   "HOSTTYPE",
                                                   "MACHTYPE",
                                                   "OSTYPE",
                                                   "JENKY_SUPERVISOR"};
  return name.rfind("BASH", 0) == 0 || names.count(name) > 0;
}

std::string ShellQuote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += "'\\''";
    else out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::vector<std::string> WarmShellEnv(const std::vector<std::string>& env) {
  std::vector<std::string> out;
  for (const std::string& kv : env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string_view name(kv.data(), eq);
    if (!IsIdentifier(name) || SpecialToTheShell(name)) continue;
    if (name == "_" || name == "PWD" || name == "OLDPWD" || name == "SHLVL") continue;
    out.push_back(kv);
  }
  return out;
}

std::optional<std::string> WarmStartData(const RunSpec& spec, const std::string& shell,
                                         const std::vector<std::string>& shell_env) {
  if (shell.empty() || spec.argv.size() != 3 || spec.argv[0] != shell || spec.argv[1] != "-e") {
    return std::nullopt;
  }
  if (spec.workdir.empty() || spec.workdir[0] != '/' || !IsDirectory(spec.workdir) ||
      spec.workdir.find('\0') != std::string::npos ||
      spec.argv[2].find('\0') != std::string::npos) {
    return std::nullopt;
  }
  // What the shell has already, and what of it the run has too.
  std::map<std::string_view, std::string_view> has;
  for (const std::string& kv : shell_env) {
    size_t eq = kv.find('=');
    has.emplace(std::string_view(kv.data(), eq), std::string_view(kv).substr(eq + 1));
  }
  std::set<std::string_view> kept;
  std::string exports;
  auto add = [&exports](std::string_view kv) { exports += " " + ShellQuote(kv); };
  for (const std::string& kv : spec.env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) return std::nullopt;
    std::string_view name(kv.data(), eq);
    std::string_view value(kv.data() + eq + 1, kv.size() - eq - 1);
    if (!IsIdentifier(name) || SpecialToTheShell(name)) return std::nullopt;
    if (name == "_" || name == "PWD") continue;  // the shell sets both
    if (name == "OLDPWD") {
      if (IsDirectory(std::string(value))) add(kv);  // else bash drops it
      continue;
    }
    if (name == "SHLVL") {
      // A cold start raises it by one.
      int level = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), level);
      if (ec != std::errc() || end != value.data() + value.size() || level < 0 || level >= 998) {
        return std::nullopt;
      }
      add(fmt::format("SHLVL={}", level + 1));
      continue;
    }
    auto it = has.find(name);
    if (it != has.end()) kept.insert(name);
    if (it == has.end() || it->second != value) add(kv);
  }
  // `cd` sets OLDPWD; a cold start has only the one it was given.
  std::string out = "cd -P -- " + ShellQuote(spec.workdir) + " || exit 125\nunset OLDPWD";
  for (const auto& [name, value] : has) {
    if (!kept.count(name)) out += " " + std::string(name);  // (identifiers: no quoting)
  }
  out += "\n";
  if (!exports.empty()) out += "export --" + exports + "\n";  // (no names: it would list them)
  out += "BASH_ARGV0=" + ShellQuote(spec.argv[2]) + "\n";
  return out;
}

}  // namespace jenky
