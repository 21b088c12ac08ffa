// Polling ([projects.X.poll], docs/webhooks.md "Polling"): for a server a
// forge cannot reach, jenky asks the repository for its heads with the
// system's `git ls-remote` (so ssh config, keys and credential helpers
// apply) every `interval`, and deploys a branch whose head moved, with
// JENKY_TRIGGER=poll and the variables a push sets. Each look is in the
// deliveries record (result "polled": 200 when git answered, 502 when it did
// not, with git's message); looks that change nothing fold into one record
// whose last_at is the last poll. After a failure the next try waits twice
// as long, up to ten intervals (at most an hour).
//
// On the event loop's thread, like the engine; git runs as a child process
// whose output is read asynchronously, never blocking the loop.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/asio.h"
#include "server/engine.h"
#include "util/json.h"
#include "util/status.h"

namespace jenky {

struct RemoteHeads {
  std::map<std::string, std::string> refs;  // "refs/heads/main" -> commit
  std::string head;                         // what HEAD points to: "refs/heads/main", or ""
};

// Parses `git ls-remote --symref` output.
RemoteHeads ParseLsRemote(std::string_view output);
// What a failed `git ls-remote` printed, on one line: its lines joined with
// "; ", git's generic advice left out, at most 400 bytes.
std::string GitFailure(std::string_view output);
// The wait before the next poll after FAILURES failures in a row.
Millis NextPollDelay(Millis interval, int failures);
// REPO as it may be shown: a URL's user and password are left out.
std::string RepoForDisplay(const std::string& repo);

// PROJECT's [poll] for GET /api/v1/projects/{name}: {"repo", "branches",
// "interval"}, or null.
nlohmann::json PollJson(const ProjectConfig& project);

// The seam polling reaches git through (a fake in tests).
class GitRemote {
 public:
  virtual ~GitRemote() = default;
  // Lists REPO's refs; DONE runs later on the loop with the heads or git's error.
  virtual void List(const std::string& repo, std::function<void(Result<RemoteHeads>)> done) = 0;
};

// `git ls-remote --symref -- REPO`, with ENV, stopped after a minute.
std::unique_ptr<GitRemote> SystemGit(net::io_context& io, std::vector<std::string> env);

class Poller {
 public:
  Poller(net::io_context& io, Engine& engine, std::unique_ptr<GitRemote> git);
  ~Poller();
  // Starts polling every project with [poll] (the first look at once), and
  // after a reload the projects that gained or changed it.
  void Sync();
  void Stop();

 private:
  struct Project;
  void Schedule(Project& p, Millis delay);
  void Poll(const std::string& name);
  void Looked(const std::string& name, uint64_t generation, Result<RemoteHeads> heads);
  bool Deploy(Project& p, const std::string& branch, const std::string& commit,
              const std::string& was, std::string& reason);
  // RESULT: deployed when RUN_ID is set, else polled unless given.
  void Record(Project& p, int status, const std::string& reason, int64_t run_id = 0,
              std::optional<DeliveryResult> result = std::nullopt);

  net::io_context& io_;
  Engine& engine_;
  std::unique_ptr<GitRemote> git_;
  std::map<std::string, std::unique_ptr<Project>> projects_;
  uint64_t next_generation_ = 1;
  bool stopped_ = false;
};

}  // namespace jenky
