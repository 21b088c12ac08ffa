#include "server/poller.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "config/poll_config.h"
#include "core/delivery_result.h"
#include "exec/process.h"
#include "util/duration.h"
#include "util/lines.h"
#include "util/logger.h"
#include "util/time.h"
#include "webhook/webhook.h"

namespace jenky {

RemoteHeads ParseLsRemote(std::string_view output) {
  RemoteHeads heads;
  ForEachLine(output, [&heads](std::string_view line) {
    size_t tab = line.find('\t');
    if (tab == std::string_view::npos) return;
    std::string_view left = line.substr(0, tab);
    std::string_view ref = line.substr(tab + 1);
    if (left.rfind("ref: ", 0) == 0) {
      if (ref == "HEAD") heads.head = std::string(left.substr(5));
    } else if (ref.rfind("refs/", 0) == 0) {
      heads.refs[std::string(ref)] = std::string(left);
    }
  });
  return heads;
}

Millis NextPollDelay(Millis interval, int failures) {
  Millis delay = interval;
  Millis most = std::min<Millis>(interval * 10, std::chrono::hours(1));
  for (int i = 0; i < failures && delay < most; ++i) delay *= 2;
  return std::max(interval, std::min(delay, most));
}

std::string GitFailure(std::string_view output) {
  // git's advice after "fatal: Could not read from remote repository." says
  // nothing about this failure; ssh's and git's own lines do.
  static constexpr std::string_view kAdvice[] = {
      "Please make sure you have the correct access rights", "and the repository exists."};
  std::string out;
  ForEachLine(output, [&out](std::string_view line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    bool advice = false;
    for (std::string_view a : kAdvice) advice = advice || line == a;
    if (line.empty() || advice) return;
    if (!out.empty()) out += "; ";
    out += line;
  });
  if (out.size() > 400) out = out.substr(0, 397) + "...";
  return out;
}

std::string RepoForDisplay(const std::string& repo) {
  size_t scheme = repo.find("://");
  if (scheme == std::string::npos) return repo;
  size_t host = scheme + 3;
  size_t at = repo.find('@', host);
  size_t slash = repo.find('/', host);
  if (at == std::string::npos || (slash != std::string::npos && at > slash)) return repo;
  return repo.substr(0, host) + repo.substr(at + 1);
}

nlohmann::json PollJson(const ProjectConfig& project) {
  if (!project.poll) return nullptr;
  return {{"repo", RepoForDisplay(project.poll->repo)},
          {"branches", project.poll->branches},
          {"interval", FormatDuration(project.poll->interval)}};
}

namespace {

// One `git ls-remote`: its output read as it comes, the process reaped at
// EOF, stopped if it takes longer than a minute.
class LsRemote : public std::enable_shared_from_this<LsRemote> {
 public:
  LsRemote(net::io_context& io, pid_t pid, int fd, std::function<void(Result<RemoteHeads>)> done)
      : pipe_(io, fd), timer_(io), pid_(pid), done_(std::move(done)) {}

  void Start() {
    timer_.expires_after(std::chrono::minutes(1));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) {
        self->timed_out_ = true;
        kill(self->pid_, SIGKILL);
      }
    });
    Read();
  }

 private:
  void Read() {
    pipe_.async_read_some(net::buffer(chunk_),
                          [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                            if (!ec && self->output_.size() < (16 << 20)) {
                              self->output_.append(self->chunk_, n);
                              self->Read();
                              return;
                            }
                            self->Finish();
                          });
  }

  void Finish() {
    timer_.cancel();
    int status = 0;
    waitpid(pid_, &status, 0);  // it closed its output: it is exiting
    if (timed_out_) {
      done_(Status::Error("git ls-remote took longer than a minute and was stopped"));
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::string message = GitFailure(output_);
      done_(Status::Error(fmt::format(
          "git ls-remote failed: {}",
          message.empty() ? "exit status " + std::to_string(WEXITSTATUS(status)) : message)));
    } else {
      done_(ParseLsRemote(output_));
    }
  }

  net::posix::stream_descriptor pipe_;
  net::steady_timer timer_;
  pid_t pid_;
  std::function<void(Result<RemoteHeads>)> done_;
  std::string output_;
  char chunk_[8192];
  bool timed_out_ = false;
};

class SystemGitRemote final : public GitRemote {
 public:
  SystemGitRemote(net::io_context& io, std::vector<std::string> env)
      : io_(io), env_(std::move(env)) {}

  void List(const std::string& repo, std::function<void(Result<RemoteHeads>)> done) override {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      net::post(io_, [done] { done(Status::Error("cannot make a pipe for git ls-remote")); });
      return;
    }
    SpawnOptions o;
    o.argv = {"git", "ls-remote", "--symref", "--", repo};
    o.env = env_;
    o.stdout_fd = fds[1];
    o.stderr_fd = fds[1];
    auto pid = Spawn(o);
    close(fds[1]);
    if (!pid.ok()) {
      close(fds[0]);
      std::string why = pid.status().message();
      net::post(io_, [done, why] { done(Status::Error("cannot start git: " + why)); });
      return;
    }
    std::make_shared<LsRemote>(io_, *pid, fds[0], std::move(done))->Start();
  }

 private:
  net::io_context& io_;
  std::vector<std::string> env_;
};

}  // namespace

std::unique_ptr<GitRemote> SystemGit(net::io_context& io, std::vector<std::string> env) {
  return std::make_unique<SystemGitRemote>(io, std::move(env));
}

struct Poller::Project {
  Project(net::io_context& io, std::string name, PollConfig config)
      : name(std::move(name)), config(std::move(config)), timer(io) {}
  std::string name;
  PollConfig config;
  net::steady_timer timer;
  uint64_t generation = 0;  // a reply to an older generation is dropped
  bool looked = false;      // heads holds what the last successful look saw
  std::map<std::string, std::string> heads;
  int failures = 0;
};

Poller::Poller(net::io_context& io, Engine& engine, std::unique_ptr<GitRemote> git)
    : io_(io), engine_(engine), git_(std::move(git)) {}

Poller::~Poller() { Stop(); }

void Poller::Stop() {
  stopped_ = true;
  for (auto& [name, p] : projects_) p->timer.cancel();
  projects_.clear();
}

void Poller::Sync() {
  const Config& config = engine_.config();
  for (auto it = projects_.begin(); it != projects_.end();) {
    const ProjectConfig* p = config.FindProject(it->first);
    bool same = p && p->poll && p->poll->repo == it->second->config.repo &&
                p->poll->branches == it->second->config.branches &&
                p->poll->interval == it->second->config.interval;
    if (same) {
      ++it;
      continue;
    }
    it->second->timer.cancel();
    it = projects_.erase(it);
  }
  for (const ProjectConfig& p : config.projects) {
    if (!p.poll || projects_.count(p.name)) continue;
    auto& project = projects_[p.name];
    project = std::make_unique<Project>(io_, p.name, *p.poll);
    Schedule(*project, Millis(0));
  }
}

void Poller::Schedule(Project& p, Millis delay) {
  p.generation = next_generation_++;
  p.timer.expires_after(delay);
  std::string name = p.name;
  p.timer.async_wait([this, name](boost::system::error_code ec) {
    if (!ec && !stopped_) Poll(name);
  });
}

void Poller::Poll(const std::string& name) {
  auto it = projects_.find(name);
  if (it == projects_.end()) return;
  uint64_t generation = it->second->generation;
  git_->List(it->second->config.repo, [this, name, generation](Result<RemoteHeads> heads) {
    if (!stopped_) Looked(name, generation, std::move(heads));
  });
}

void Poller::Record(Project& p, int status, const std::string& reason, int64_t run_id,
                    std::optional<DeliveryResult> result) {
  Delivery d;
  d.project = p.name;
  d.received_at = NowMillis();
  d.provider = "poll";
  d.event = "poll";
  d.result = DeliveryResultName(
      result.value_or(run_id ? DeliveryResult::kDeployed : DeliveryResult::kPolled));
  d.status = status;
  d.reason = reason;
  d.run_id = run_id;
  d.remote = RepoForDisplay(p.config.repo);
  engine_.RecordDelivery(d);
}

bool Poller::Deploy(Project& p, const std::string& branch, const std::string& commit,
                    const std::string& was, std::string& reason) {
  Trigger t;
  t.kind = TriggerKind::kPoll;
  t.ref = "refs/heads/" + branch;
  t.branch = branch;
  t.commit = commit;
  if (std::string why = RefProblem(t.ref); !why.empty()) {
    reason = why;
    return false;
  }
  auto run = engine_.Trigger(p.name, t);
  if (!run.ok()) {
    reason = fmt::format("branch {} moved to {} but the run was refused: {}", branch,
                         commit.substr(0, 12), run.status().message());
    if (run.status().kind() == StatusCode::kPaused) {
      // Not a problem of the repository: recorded as such, and the head is
      // deployed by the first look after a resume.
      Record(p, AnswerStatus(IntakeOutcome::kPaused), reason, 0, DeliveryResult::kPaused);
      reason.clear();
    }
    return false;
  }
  std::string how = was.empty() ? "" : fmt::format(" (was {})", was.substr(0, 12));
  Record(p, 202, fmt::format("poll: branch {}, {}{}", branch, commit.substr(0, 12), how), run->id);
  LogInfo("project={} poll: branch {} moved to {}{}: run {}", p.name, branch, commit.substr(0, 12),
          how, run->id);
  return true;
}

void Poller::Looked(const std::string& name, uint64_t generation, Result<RemoteHeads> heads) {
  auto it = projects_.find(name);
  if (it == projects_.end() || it->second->generation != generation) return;
  Project& p = *it->second;
  if (!heads.ok()) {
    Millis next = NextPollDelay(p.config.interval, ++p.failures);
    std::string reason =
        fmt::format("{}; next try in {}", heads.status().message(), FormatDuration(next));
    Record(p, 502, reason);
    LogWarning("project={} poll of {}: {}", name, RepoForDisplay(p.config.repo), reason);
    Schedule(p, next);
    return;
  }
  p.failures = 0;
  std::vector<std::string> patterns = p.config.branches;
  if (patterns.empty() && heads->head.rfind("refs/heads/", 0) == 0) {
    patterns.push_back(heads->head.substr(11));
  }
  std::string seen;
  std::string problems;
  for (const auto& [ref, commit] : heads->refs) {
    if (ref.rfind("refs/heads/", 0) != 0) continue;
    std::string branch = ref.substr(11);
    bool wanted = std::any_of(patterns.begin(), patterns.end(),
                              [&](const std::string& g) { return GlobMatch(g, branch); });
    if (!wanted) continue;
    seen += fmt::format("{}{} at {}", seen.empty() ? "" : ", ", branch, commit.substr(0, 12));
    std::string was;
    if (p.looked) {
      auto before = p.heads.find(branch);
      was = before == p.heads.end() ? "" : before->second;
      if (was == commit) continue;
    } else {
      // The first look after a start: deploy what moved while jenky was
      // away (the newest run of the branch has another commit); a branch
      // never deployed is only noted.
      auto runs = engine_.ListRuns(name, 50, 0);
      bool deployed_before = false;
      if (runs.ok()) {
        for (const Run& r : *runs) {
          if (r.trigger.branch != branch || r.trigger.commit.empty()) continue;
          deployed_before = true;
          was = r.trigger.commit;
          break;
        }
      }
      if (!deployed_before || was == commit) {
        p.heads[branch] = commit;
        continue;
      }
    }
    std::string why;
    if (Deploy(p, branch, commit, was, why)) p.heads[branch] = commit;
    else if (!why.empty()) problems += (problems.empty() ? "" : "; ") + why;
  }
  bool first = !p.looked;
  p.looked = true;
  if (!problems.empty()) Record(p, 502, problems);
  if (seen.empty()) {
    std::string list;
    for (const auto& g : patterns) list += (list.empty() ? "" : ", ") + g;
    Record(p, 404,
           fmt::format("no branch of {} matches branches = [{}]", RepoForDisplay(p.config.repo),
                       list));
  } else {
    Record(p, 200, fmt::format("{}{}", first ? "first look: " : "", seen));
  }
  Schedule(p, p.config.interval);
}

}  // namespace jenky
