#include "exec/fleet_host.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "exec/process.h"
#include "util/time.h"
#include "util/unique_fd.h"

extern char** environ;

namespace jenky {

FleetOutput::~FleetOutput() {
  for (auto& [name, log] : logs_) {
    if (!log.file) continue;
    std::string_view rest = log.masker ? log.masker->Finish() : std::string_view();
    fwrite(rest.data(), 1, rest.size(), log.file);
    fclose(log.file);
  }
}

void FleetOutput::AddHost(const std::string& run_dir, const std::string& host) {
  std::lock_guard<std::mutex> lock(mu_);
  HostLog log;
  log.file = fopen(HostLogPath(run_dir, host).c_str(), "ae");
  if (log.file) setvbuf(log.file, nullptr, _IONBF, 0);
  log.masker = std::make_unique<SecretMasker>(secrets_);
  logs_.emplace_back(host, std::move(log));
}

void FleetOutput::Line(const std::string& host, std::string_view line) {
  std::lock_guard<std::mutex> lock(mu_);
  // The host's own log first: the merged line's arrival is what wakes the
  // host log's live viewers (http/log_hub.h), so the line must be there.
  for (auto& [name, log] : logs_) {
    if (name != host || !log.file) continue;
    std::string text = std::string(line) + "\n";
    std::string_view masked = log.masker->active() ? log.masker->Feed(text) : text;
    fwrite(masked.data(), 1, masked.size(), log.file);
  }
  // One write(2) per merged line: lines of different hosts never mix.
  std::string merged = host.empty() ? std::string(line) : fmt::format("[{}] {}", host, line);
  merged += '\n';
  for (size_t done = 0; done < merged.size();) {
    ssize_t n = write(1, merged.data() + done, merged.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += n;
  }
}

std::string FleetOutput::Mask(std::string_view text) const {
  SecretMasker m(secrets_);
  if (!m.active()) return std::string(text);
  std::string out(m.Feed(text));
  out += m.Finish();
  return out;
}

namespace {

// rsync's warning when --link-dest names no directory (Upload).
constexpr std::string_view kNoLinkDest = "--link-dest arg does not exist:";

// What a failed step said of why, from its OUTPUT's tail: its last line
// that starts "error:" (a recipe's die, a hint may follow), else its last
// non-empty line; at most 300 bytes, "" if none.
std::string LastLine(const std::string& output) {
  size_t at = output.rfind("\nerror: ");
  size_t start, end;
  if (at != std::string::npos || output.rfind("error: ", 0) == 0) {
    start = at == std::string::npos ? 0 : at + 1;
    end = output.find('\n', start);
    end = (end == std::string::npos ? output.size() : end) - 1;
  } else {
    end = output.find_last_not_of(" \t\r\n");
    if (end == std::string::npos) return "";
    start = output.rfind('\n', end);
    start = start == std::string::npos ? 0 : start + 1;
  }
  while (end > start && (output[end] == '\r' || output[end] == ' ')) --end;
  std::string line = output.substr(start, end + 1 - start);
  if (line.size() > 300) line = line.substr(0, 297) + "...";
  return line;
}

}  // namespace

HostLink::HostLink(const FleetContext& ctx, HostConfig host) : ctx_(ctx), host_(std::move(host)) {
  state_.name = host_.name;
  state_.address = host_.address;
  state_.release = ctx_.release;
}

void HostLink::SetStatus(HostStatus status, std::string reason) {
  if (state_.started_at == 0 && status != HostStatus::kPending) state_.started_at = NowMillis();
  state_.status = status;
  state_.reason = std::move(reason);
  if (IsFinalHostStatus(status)) state_.finished_at = NowMillis();
  WriteHostState(ctx_.run_dir, state_);
  if (!state_.reason.empty()) {
    ctx_.out->Line(host_.name, fmt::format("jenky: {}: {}", HostStatusName(status), state_.reason));
  } else {
    ctx_.out->Line(host_.name, fmt::format("jenky: {}", HostStatusName(status)));
  }
}

int HostLink::Stream(const std::vector<std::string>& argv, const std::string& payload,
                     std::string* tail) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return -1;
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]), close(in[1]);
    return -1;
  }
  UniqueFd in_w(in[1]), out_r(out[0]);
  SpawnOptions o;
  o.argv = argv;
  for (char** e = environ; e && *e; ++e) o.env.emplace_back(*e);
  o.stdin_fd = in[0];
  o.stdout_fd = out[1];
  o.stderr_fd = out[1];
  o.workdir = ctx_.workdir;  // rsync's upload paths are relative to it
  Result<pid_t> pid = Spawn(o);
  close(in[0]), close(out[1]);
  if (!pid.ok()) {
    *tail = pid.status().message();
    return -1;
  }
  // The payload is small (a step script): one blocking write, and then the
  // pipe stays open: its end is how the host learns that we are gone.
  for (size_t done = 0; done < payload.size();) {
    ssize_t n = write(in_w.get(), payload.data() + done, payload.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += n;
  }
  std::string partial;
  char buf[8192];
  bool signalled = false;
  while (out_r) {
    pollfd p = {out_r.get(), POLLIN, 0};
    int ready = poll(&p, 1, 200);
    if (ctx_.cancelled->load() && !signalled) {
      kill(*pid, SIGTERM);
      signalled = true;
    }
    if (ready <= 0) continue;
    ssize_t n = read(out_r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    partial.append(buf, n);
    tail->append(buf, n);
    if (tail->size() > 8192) tail->erase(0, tail->size() - 8192);
    for (size_t nl; (nl = partial.find('\n')) != std::string::npos; partial.erase(0, nl + 1)) {
      std::string_view line(partial.data(), nl);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.rfind(kNoLinkDest, 0) == 0) continue;  // Upload's first deploy
      ctx_.out->Line(host_.name, line);
    }
  }
  if (!partial.empty()) ctx_.out->Line(host_.name, partial);
  in_w.reset();
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string HostLink::FailureReason(int status, const std::string& output,
                                    const std::string& what) {
  if (ctx_.cancelled->load()) return "cancelled";
  SshFailure f = ClassifySshFailure(status, output);
  if (f == SshFailure::kNone) {
    std::string said = ctx_.out->Mask(LastLine(output));
    return fmt::format("{} exited with status {}{}{}", what, status, said.empty() ? "" : ": ",
                       said);
  }
  if (f == SshFailure::kOther && connected_ &&
      RunCommand(SshArgv(ctx_.ssh, host_, {"-O", "check"}, {}), "", std::chrono::seconds(10))
              .status != 0) {
    // A step through the shared connection says little when the connection
    // itself died; its master is gone.
    connected_ = false;
    return SshFailureReason(host_, SshFailure::kLost, "the shared ssh connection ended", "");
  }
  std::string fingerprint;
  if (f == SshFailure::kHostKeyUnknown) {
    if (auto keys = ScanHostKeys(ctx_.ssh, host_); keys.ok() && !keys->empty()) {
      fingerprint = (*keys)[0].fingerprint;
    }
  }
  return SshFailureReason(host_, f, output, fingerprint);
}

bool HostLink::Connect() {
  ctx_.connect_gate->acquire();
  // -f: ssh goes to the background once logged in, as the shared
  // connection's master; its first process exits then, with ssh's verdict.
  CommandResult r =
      RunCommand(SshArgv(ctx_.ssh, host_,
                         {"-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-f", "-N"}, {}),
                 "", std::chrono::seconds(60));
  ctx_.connect_gate->release();
  if (r.status == 0) {
    connected_ = true;
    return true;
  }
  for (size_t at = 0; at < r.err.size();) {
    size_t nl = r.err.find('\n', at);
    std::string line = r.err.substr(at, nl == std::string::npos ? nl : nl - at);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) ctx_.out->Line(host_.name, "ssh: " + line);
    at = nl == std::string::npos ? r.err.size() : nl + 1;
  }
  SetStatus(HostStatus::kFailed,
            FailureReason(r.timed_out ? 255 : r.status, r.timed_out ? "timed out" : r.err, "ssh"));
  return false;
}

std::vector<std::pair<std::string, std::string>> HostLink::StepEnv() const {
  std::vector<std::pair<std::string, std::string>> env = ctx_.env;
  for (const auto& kv : host_.env) env.push_back(kv);
  env.emplace_back("JENKY_HOST", host_.name);
  return env;
}

bool HostLink::Step(RemoteStep step, const std::string& script, std::string* reason) {
  StepInput in;
  in.step = step;
  in.deploy_dir = ctx_.deploy_dir;
  in.release = ctx_.release;
  in.shell = ctx_.shell;
  in.script = script;
  in.env = StepEnv();
  in.keep_releases = ctx_.keep_releases;
  in.publish_upload = !ctx_.upload.empty();
  std::string tail;
  int status = Stream(SshArgv(ctx_.ssh, host_, {"-o", "ControlMaster=no", "-T"},
                              {"exec /bin/sh -c " + ShellQuote(kRemoteBootstrap)}),
                      StepPayload(in), &tail);
  if (status == 0) return true;
  *reason = FailureReason(status, tail, std::string(RemoteStepName(step)));
  return false;
}

bool HostLink::Upload() {
  if (ctx_.upload.empty()) return true;  // the prepare step makes releases/ID
  // One ssh session: the remote rsync starts in a fresh .partial-ID (its
  // --rsync-path makes it; the deploy directory is already on the command
  // line as the destination). Files unchanged since `current` are
  // hard-linked and changed ones sent as deltas against it; rsync warns
  // when there is no `current` yet (the first deploy), and Stream drops
  // that line.
  std::string tail;
  std::string stage = fmt::format(
      "d={}/releases; mkdir -p -- \"$d\" && rm -rf -- \"$d/.partial-{r}\" && "
      "mkdir -- \"$d/.partial-{r}\" && exec rsync",
      ShellQuote(ctx_.deploy_dir), fmt::arg("r", ctx_.release));
  // -R: each path as it is under the workdir; flat: each under its base name.
  std::vector<std::string> argv = {"rsync",
                                   ctx_.upload_flat ? "-a" : "-aR",
                                   "--delete",
                                   "-e",
                                   RsyncShell(ctx_.ssh, host_),
                                   "--rsync-path=" + stage,
                                   "--link-dest=../../current/",
                                   "--"};
  for (const auto& path : ctx_.upload) argv.push_back(path);
  argv.push_back(
      fmt::format("{}:{}/releases/.partial-{}/", host_.address, ctx_.deploy_dir, ctx_.release));
  ctx_.out->Line(host_.name, fmt::format("jenky: uploading {} path(s)", ctx_.upload.size()));
  int status = Stream(argv, "", &tail);
  if (status != 0) {
    SshFailure f = ClassifySshFailure(255, tail);
    SetStatus(HostStatus::kFailed,
              f != SshFailure::kOther
                  ? FailureReason(255, tail, "rsync")
                  : fmt::format("upload (rsync) exited with status {}", status));
    return false;
  }
  return true;
}

void HostLink::Disconnect() {
  if (!connected_) return;
  RunCommand(SshArgv(ctx_.ssh, host_, {"-O", "exit"}, {}), "", std::chrono::seconds(10));
  connected_ = false;
}

}  // namespace jenky
