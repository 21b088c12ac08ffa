#include "exec/ssh.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>

#include <fmt/format.h>

#include "exec/process.h"
#include "util/fs.h"
#include "util/unique_fd.h"

extern char** environ;

namespace jenky {

std::string KnownHostsPath(const std::string& data_dir) { return data_dir + "/ssh/known_hosts"; }

std::string SshConfigText(const std::string& known_hosts, const std::string& control_dir,
                          const std::string& operator_config) {
  // ssh takes the first value it finds for an option: jenky's come first,
  // so an operator's config cannot turn off host key checking or prompt.
  std::string text = fmt::format(
      "# Written by jenky for its fleet deploys (docs/fleet.md); regenerated each run.\n"
      "Host *\n"
      "  BatchMode yes\n"
      "  StrictHostKeyChecking yes\n"
      "  UserKnownHostsFile \"{}\"\n"
      "  GlobalKnownHostsFile /dev/null\n"
      "  UpdateHostKeys no\n"
      "  ControlPath \"{}/%C\"\n"
      "  ConnectTimeout 10\n"
      "  ServerAliveInterval 5\n"
      "  ServerAliveCountMax 3\n"
      "  LogLevel ERROR\n",
      known_hosts, control_dir);
  if (!operator_config.empty()) text += fmt::format("Include \"{}\"\n", operator_config);
  return text;
}

Result<SshSetup> WriteSshSetup(const std::string& dir, const std::string& data_dir,
                               const std::string& control_dir, const std::string& operator_config) {
  SshSetup s;
  s.known_hosts = KnownHostsPath(data_dir);
  s.control_dir = control_dir;
  s.config_file = dir + "/ssh_config";
  for (const std::string& d : {data_dir + "/ssh", control_dir}) {
    if (mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::Error(fmt::format("cannot make {}: {}", d, strerror(errno)));
    }
  }
  if (!PathExists(s.known_hosts)) {
    UniqueFd fd(open(s.known_hosts.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    if (!fd)
      return Status::Error(fmt::format("cannot make {}: {}", s.known_hosts, strerror(errno)));
  }
  Status w = WriteFileAtomic(s.config_file,
                             SshConfigText(s.known_hosts, control_dir, operator_config), 0600);
  if (!w.ok()) return w;
  return s;
}

std::string HostKeyAlias(const HostConfig& h) { return "jenky:" + h.name; }

namespace {

std::vector<std::string> HostOptions(const SshSetup& s, const HostConfig& h) {
  std::vector<std::string> argv = {"-F", s.config_file, "-o", "HostKeyAlias=" + HostKeyAlias(h)};
  if (h.port) argv.insert(argv.end(), {"-p", std::to_string(h.port)});
  if (!h.user.empty()) argv.insert(argv.end(), {"-l", h.user});
  if (!h.identity_file.empty()) {
    argv.insert(argv.end(), {"-i", h.identity_file, "-o", "IdentitiesOnly=yes"});
  }
  return argv;
}

bool Has(std::string_view text, std::string_view needle) {
  return text.find(needle) != std::string_view::npos;
}

// The last line of TEXT that is not empty, without "\r".
std::string LastLine(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string last;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) last = line;
  }
  return last;
}

}  // namespace

std::vector<std::string> SshArgv(const SshSetup& s, const HostConfig& h,
                                 const std::vector<std::string>& extra,
                                 const std::vector<std::string>& command) {
  std::vector<std::string> argv = {"ssh"};
  for (auto& a : HostOptions(s, h)) argv.push_back(std::move(a));
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(h.address);
  if (!command.empty()) {
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
  }
  return argv;
}

std::string RsyncShell(const SshSetup& s, const HostConfig& h) {
  // rsync splits -e on spaces and honours single quotes; the config words
  // were checked to have neither spaces nor quotes (hosts_config.cc), the
  // config file's path may have spaces.
  std::string shell = "ssh -o ControlMaster=no";
  for (const auto& a : HostOptions(s, h)) shell += " '" + a + "'";
  return shell;
}

const char* SshFailureName(SshFailure f) {
  switch (f) {
    case SshFailure::kNone: return "none";
    case SshFailure::kHostKeyUnknown: return "host_key_unknown";
    case SshFailure::kHostKeyChanged: return "host_key_changed";
    case SshFailure::kAuth: return "auth";
    case SshFailure::kDns: return "dns";
    case SshFailure::kRefused: return "refused";
    case SshFailure::kTimeout: return "timeout";
    case SshFailure::kUnreachable: return "unreachable";
    case SshFailure::kLost: return "lost";
    case SshFailure::kOther: return "other";
  }
  return "other";
}

SshFailure ClassifySshFailure(int status, std::string_view out) {
  if (status != 255) return SshFailure::kNone;
  if (Has(out, "REMOTE HOST IDENTIFICATION HAS CHANGED")) return SshFailure::kHostKeyChanged;
  if (Has(out, "host key is known for") || Has(out, "Host key verification failed")) {
    return SshFailure::kHostKeyUnknown;
  }
  if (Has(out, "Permission denied") || Has(out, "Too many authentication failures")) {
    return SshFailure::kAuth;
  }
  if (Has(out, "Could not resolve hostname")) return SshFailure::kDns;
  if (Has(out, "Connection refused")) return SshFailure::kRefused;
  if (Has(out, "timed out") || Has(out, "Timeout, server") || Has(out, "not responding")) {
    return SshFailure::kTimeout;
  }
  if (Has(out, "No route to host") || Has(out, "Network is unreachable")) {
    return SshFailure::kUnreachable;
  }
  if (Has(out, "Connection closed") || Has(out, "Connection reset") || Has(out, "Broken pipe") ||
      Has(out, "closed by remote host") || Has(out, "client_loop")) {
    return SshFailure::kLost;
  }
  return SshFailure::kOther;
}

std::vector<std::string> FingerprintsIn(std::string_view text) {
  std::vector<std::string> out;
  for (size_t at = text.find("SHA256:"); at != std::string_view::npos;
       at = text.find("SHA256:", at + 7)) {
    size_t end = at + 7;
    while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) ||
                                 text[end] == '+' || text[end] == '/')) {
      ++end;
    }
    if (end > at + 7) out.emplace_back(text.substr(at, end - at));
  }
  return out;
}

std::string SshFailureReason(const HostConfig& h, SshFailure failure, std::string_view output,
                             std::string_view fingerprint) {
  std::string where = h.address + (h.port ? ":" + std::to_string(h.port) : "");
  switch (failure) {
    case SshFailure::kNone: return "";
    case SshFailure::kHostKeyUnknown:
      return fmt::format(
          "host key of {} ({}) is not trusted yet{}: check it and run `jenky hosts "
          "trust {}`",
          h.name, where, fingerprint.empty() ? "" : fmt::format(" (it offers {})", fingerprint),
          h.name);
    case SshFailure::kHostKeyChanged: {
      auto seen = FingerprintsIn(output);
      std::string fp = !fingerprint.empty() ? std::string(fingerprint)
                                            : (seen.empty() ? "unknown" : seen.back());
      return fmt::format(
          "host key of {} ({}) has CHANGED: it now offers {}, not the key jenky "
          "trusts; if the change is expected, run `jenky hosts trust {}`, else "
          "someone may be impersonating the host",
          h.name, where, fp, h.name);
    }
    case SshFailure::kAuth:
      return fmt::format(
          "login to {} as {} was refused ({}): check the user and that its "
          "authorized_keys has jenky's key",
          h.name, h.user.empty() ? "ssh's default user" : h.user, LastLine(output));
    case SshFailure::kDns:
      return fmt::format("cannot resolve the address of {} ('{}'): check hosts.{}.address", h.name,
                         h.address, h.name);
    case SshFailure::kRefused:
      return fmt::format("connection to {} ({}) refused: is its sshd running on that port?", h.name,
                         where);
    case SshFailure::kTimeout:
      return fmt::format(
          "connection to {} ({}) timed out: the host or the network is down, or "
          "a firewall drops it",
          h.name, where);
    case SshFailure::kUnreachable:
      return fmt::format("{} ({}) is unreachable: {}", h.name, where, LastLine(output));
    case SshFailure::kLost:
      return fmt::format("lost the connection to {} ({}): {}", h.name, where, LastLine(output));
    case SshFailure::kOther:
      return fmt::format("ssh to {} ({}) failed: {}", h.name, where, LastLine(output));
  }
  return "";
}

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_data,
                         std::chrono::milliseconds timeout, bool hold_stdin) {
  CommandResult r;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0) return r;
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]), close(in[1]);
    return r;
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    return r;
  }
  UniqueFd in_w(in[1]), out_r(out[0]), err_r(err[0]);
  SpawnOptions o;
  o.argv = argv;
  for (char** e = environ; e && *e; ++e) o.env.emplace_back(*e);
  o.stdin_fd = in[0];
  o.stdout_fd = out[1];
  o.stderr_fd = err[1];
  o.new_process_group = true;
  Result<pid_t> pid = Spawn(o);
  close(in[0]), close(out[1]), close(err[1]);
  if (!pid.ok()) {
    r.err = pid.status().message();
    return r;
  }
  fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
  size_t written = 0;
  if (stdin_data.empty() && !hold_stdin) in_w.reset();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  while (out_r || err_r) {
    bool writing = in_w && written < stdin_data.size();
    pollfd fds[3] = {{out_r.get(), POLLIN, 0},
                     {err_r.get(), POLLIN, 0},
                     {writing ? in_w.get() : -1, POLLOUT, 0}};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      kill(-*pid, SIGKILL);
      break;
    }
    if (poll(fds, 3, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      UniqueFd& fd = i == 0 ? out_r : err_r;
      std::string& to = i == 0 ? r.out : r.err;
      if (!fd || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fd.get(), buf, sizeof buf);
      if (n <= 0) fd.reset();
      else if (to.size() < (1 << 20)) to.append(buf, n);
    }
    if (writing && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = write(in_w.get(), stdin_data.data() + written, stdin_data.size() - written);
      if (n > 0) written += n;
      if (n < 0 && errno != EAGAIN) in_w.reset();
      if (written == stdin_data.size() && !hold_stdin) in_w.reset();
    }
  }
  in_w.reset();
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

namespace {

// HOST's real name and port as ssh would use them (an alias of the
// operator's config resolved): `ssh -G`.
std::pair<std::string, std::string> ResolvedHost(const SshSetup& s, const HostConfig& h) {
  std::vector<std::string> argv = SshArgv(s, h, {"-G"}, {});
  CommandResult g = RunCommand(argv, "", std::chrono::seconds(10));
  std::string host = h.address, port = h.port ? std::to_string(h.port) : "22";
  std::istringstream in(g.out);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("hostname ", 0) == 0) host = line.substr(9);
    if (line.rfind("port ", 0) == 0) port = line.substr(5);
  }
  return {host, port};
}

}  // namespace

Result<std::vector<ScannedKey>> ScanHostKeys(const SshSetup& s, const HostConfig& h) {
  auto [host, port] = ResolvedHost(s, h);
  CommandResult scan =
      RunCommand({"ssh-keyscan", "-T", "5", "-p", port, "--", host}, "", std::chrono::seconds(20));
  std::vector<ScannedKey> keys;
  std::string lines;
  std::istringstream in(scan.out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.find(' ');
    if (sp == std::string::npos) continue;
    keys.push_back({line.substr(sp + 1), ""});
    lines += "x " + keys.back().key + "\n";
  }
  if (keys.empty()) {
    return Status::Error(
        fmt::format("no host key from {} ({} port {}): {}", h.name, host, port,
                    LastLine(scan.err).empty() ? "it did not answer" : LastLine(scan.err)));
  }
  CommandResult fp =
      RunCommand({"ssh-keygen", "-l", "-E", "sha256", "-f", "-"}, lines, std::chrono::seconds(10));
  std::vector<std::string> fps = FingerprintsIn(fp.out);
  if (fps.size() != keys.size()) {
    return Status::Error("ssh-keygen could not fingerprint the keys of " + h.name + ": " + fp.err);
  }
  for (size_t i = 0; i < keys.size(); ++i) keys[i].fingerprint = fps[i];
  return keys;
}

Status RecordHostKeys(const std::string& known_hosts, const HostConfig& h,
                      const std::vector<ScannedKey>& keys) {
  std::string kept;
  if (auto old = ReadFile(known_hosts); old.ok()) {
    std::istringstream in(*old);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(HostKeyAlias(h) + " ", 0) != 0 && !line.empty()) kept += line + "\n";
    }
  }
  for (const auto& k : keys) kept += HostKeyAlias(h) + " " + k.key + "\n";
  return WriteFileAtomic(known_hosts, kept, 0600);
}

std::vector<std::string> TrustedFingerprints(const std::string& known_hosts, const HostConfig& h) {
  std::string lines;
  if (auto text = ReadFile(known_hosts); text.ok()) {
    std::istringstream in(*text);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(HostKeyAlias(h) + " ", 0) == 0) lines += line + "\n";
    }
  }
  if (lines.empty()) return {};
  CommandResult fp =
      RunCommand({"ssh-keygen", "-l", "-E", "sha256", "-f", "-"}, lines, std::chrono::seconds(10));
  return FingerprintsIn(fp.out);
}

}  // namespace jenky
