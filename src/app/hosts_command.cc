// `jenky hosts list | check [NAME] | trust NAME [--fingerprint FP] [--yes]`:
// the fleet's hosts as this config has them, whether jenky can reach each one
// over ssh, and recording a host's key in jenky's own known_hosts.
#include "app/hosts_command.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "config/config.h"
#include "exec/ssh.h"
#include "util/fs.h"

namespace jenky {
namespace {

// A private directory for this command's ssh config and sockets, removed
// when the command ends.
class TempSsh {
 public:
  explicit TempSsh(const Config& c) {
    char tmpl[] = "/tmp/jenky-hosts-XXXXXX";
    if (mkdtemp(tmpl)) dir_ = tmpl;
    auto s = WriteSshSetup(dir_, c.server.data_dir, dir_ + "/ctl", c.server.ssh_config);
    if (s.ok()) setup_ = *s;
    else error_ = s.status().message();
  }
  ~TempSsh() {
    if (!dir_.empty()) RemoveTree(dir_);
  }
  const SshSetup& setup() const { return setup_; }
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  SshSetup setup_;
  std::string error_;
};

std::vector<const HostConfig*> Chosen(const Config& c, const std::string& name) {
  std::vector<const HostConfig*> out;
  for (const auto& h : c.hosts) {
    if (name.empty() || h.name == name) out.push_back(&h);
  }
  return out;
}

std::string ProjectsOf(const Config& c, const HostConfig& h) {
  std::string out;
  for (const auto& p : c.projects) {
    if (p.fleet && std::count(p.fleet->hosts.begin(), p.fleet->hosts.end(), h.name)) {
      out += (out.empty() ? "" : ",") + p.name;
    }
  }
  return out.empty() ? "-" : out;
}

int List(const Config& c) {
  std::string kh = KnownHostsPath(c.server.data_dir);
  std::printf("%-16s %-24s %-10s %-5s %-16s %-8s %s\n", "NAME", "ADDRESS", "USER", "PORT", "TAGS",
              "TRUSTED", "PROJECTS");
  for (const auto& h : c.hosts) {
    std::string tags;
    for (const auto& t : h.tags) tags += (tags.empty() ? "" : ",") + t;
    bool trusted = !TrustedFingerprints(kh, h).empty();
    std::printf("%-16s %-24s %-10s %-5s %-16s %-8s %s\n", h.name.c_str(), h.address.c_str(),
                h.user.empty() ? "-" : h.user.c_str(),
                h.port ? std::to_string(h.port).c_str() : "-", tags.empty() ? "-" : tags.c_str(),
                trusted ? "yes" : "no", ProjectsOf(c, h).c_str());
  }
  return 0;
}

// One line about H: "ok" with what answered, or the reason it failed.
std::pair<bool, std::string> CheckOne(const SshSetup& s, const HostConfig& h) {
  CommandResult r = RunCommand(SshArgv(s, h, {"-o", "ControlMaster=no"}, {"uname -n"}), "",
                               std::chrono::seconds(30));
  if (r.status == 0) {
    std::string name = r.out.substr(0, r.out.find('\n'));
    return {true, fmt::format("ok (reached as {}, remote name {})",
                              h.user.empty() ? "ssh's default user" : h.user, name)};
  }
  SshFailure f = ClassifySshFailure(r.timed_out ? 255 : r.status, r.err);
  if (r.timed_out) f = SshFailure::kTimeout;
  std::string fp;
  if (f == SshFailure::kHostKeyUnknown) {
    if (auto keys = ScanHostKeys(s, h); keys.ok() && !keys->empty()) fp = (*keys)[0].fingerprint;
  }
  if (f == SshFailure::kNone) {
    return {false, fmt::format("the test command exited with status {}: {}", r.status, r.err)};
  }
  return {false, SshFailureReason(h, f, r.err, fp)};
}

int Check(const Config& c, const std::string& name) {
  TempSsh ssh(c);
  if (!ssh.error().empty()) {
    std::fprintf(stderr, "error: %s\n", ssh.error().c_str());
    return 1;
  }
  auto hosts = Chosen(c, name);
  std::vector<std::pair<bool, std::string>> results(hosts.size());
  // At most 10 at a time: sshd drops new connections past MaxStartups 10.
  std::mutex mu;
  size_t next = 0;
  auto worker = [&] {
    for (;;) {
      size_t i;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (next == hosts.size()) return;
        i = next++;
      }
      results[i] = CheckOne(ssh.setup(), *hosts[i]);
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < std::min<size_t>(10, hosts.size()); ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  int failed = 0;
  for (size_t i = 0; i < hosts.size(); ++i) {
    std::printf("%-16s %s\n", hosts[i]->name.c_str(), results[i].second.c_str());
    failed += !results[i].first;
  }
  if (failed) std::fprintf(stderr, "%d of %zu host(s) failed\n", failed, hosts.size());
  return failed ? 1 : 0;
}

int Trust(const Config& c, const HostConfig& h, const std::string& fingerprint, bool yes) {
  TempSsh ssh(c);
  if (!ssh.error().empty()) {
    std::fprintf(stderr, "error: %s\n", ssh.error().c_str());
    return 1;
  }
  auto keys = ScanHostKeys(ssh.setup(), h);
  if (!keys.ok()) {
    std::fprintf(stderr, "error: %s\n", keys.status().message().c_str());
    return 1;
  }
  std::printf("%s (%s) offers:\n", h.name.c_str(), h.address.c_str());
  for (const auto& k : *keys) {
    std::printf("  %s  %s\n", k.fingerprint.c_str(), k.key.substr(0, k.key.find(' ')).c_str());
  }
  std::vector<ScannedKey> chosen;
  if (!fingerprint.empty()) {
    for (const auto& k : *keys) {
      if (k.fingerprint == fingerprint) chosen.push_back(k);
    }
    if (chosen.empty()) {
      std::fprintf(stderr,
                   "error: %s offers no key with fingerprint %s: nothing recorded. Compare with "
                   "`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` run on the host itself\n",
                   h.name.c_str(), fingerprint.c_str());
      return 1;
    }
  } else if (yes) {
    chosen = *keys;
  } else if (isatty(0)) {
    std::printf(
        "Trust these keys for %s? Compare them with the host's own "
        "(`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` there). [y/N] ",
        h.name.c_str());
    std::fflush(stdout);
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "yes") {
      std::fprintf(stderr, "not trusted: nothing recorded\n");
      return 1;
    }
    chosen = *keys;
  } else {
    std::fprintf(stderr,
                 "error: not recorded: without a terminal to confirm on, pass --fingerprint FP "
                 "(checked on the host itself) or --yes\n");
    return 2;
  }
  std::string kh = KnownHostsPath(c.server.data_dir);
  if (Status s = RecordHostKeys(kh, h, chosen); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.message().c_str());
    return 1;
  }
  std::printf("recorded %zu key(s) of %s in %s\n", chosen.size(), h.name.c_str(), kh.c_str());
  return 0;
}

}  // namespace

int Hosts(const HostsArgs& a) {
  std::string path = a.config_path.empty() ? "jenky.toml" : a.config_path;
  if (!PathExists(path)) {
    std::fprintf(stderr, "error: %s does not exist%s\n", path.c_str(),
                 a.config_path.empty() ? "; pass --config FILE" : "");
    return 2;
  }
  ConfigLoad load = LoadConfigFile(path);
  for (const auto& e : load.errors) std::fprintf(stderr, "%s\n", e.ToString().c_str());
  if (!load.ok()) return 1;
  Config& c = load.config;
  if (!a.data_dir.empty()) c.server.data_dir = a.data_dir;
  if (!a.name.empty() && !c.FindHost(a.name)) {
    std::string known;
    for (const auto& h : c.hosts) known += (known.empty() ? "" : ", ") + h.name;
    std::fprintf(stderr, "error: no host named '%s' in %s (hosts: %s)\n", a.name.c_str(),
                 path.c_str(), known.empty() ? "none" : known.c_str());
    return 2;
  }
  if (a.action == "list") return List(c);
  if (a.action == "check") return Check(c, a.name);
  if (a.action == "trust") return Trust(c, *c.FindHost(a.name), a.fingerprint, a.yes);
  return 2;
}

}  // namespace jenky
