#include "config/poll_config.h"

#include <fmt/format.h>

namespace jenky {

void LoadPoll(Loader& L, const toml::table& project, const std::string& project_where,
              ProjectConfig& p) {
  const toml::node* node = project.get("poll");
  if (!node) return;
  std::string where = project_where + ".poll";
  const toml::table* t = node->as_table();
  if (!t) {
    L.Error(*node, fmt::format("{} must be a table: [{}] with repo = \"...\"", where, where));
    return;
  }
  L.CheckKeys(*t, "[" + where + "]", {"repo", "branches", "interval"});
  PollConfig poll;
  auto repo = L.String(*t, "repo", where);
  if (!repo) {
    L.Error(*t, fmt::format("{} needs repo = \"...\": a URL or path `git ls-remote` takes, like "
                            "\"git@github.com:acme/shop.git\"",
                            where));
  } else if (repo->empty() || (*repo)[0] == '-') {
    L.Error(*t->get("repo"),
            fmt::format("{}.repo '{}' is not a repository git can be asked about", where, *repo));
  } else {
    poll.repo = *repo;
  }
  if (auto b = L.Strings(*t, "branches", where)) poll.branches = *b;
  if (auto d = L.Duration(*t, "interval", where)) {
    if (*d < kMinPollInterval) {
      L.Error(*t->get("interval"),
              fmt::format("{}.interval must be at least 1s (each poll runs git ls-remote)", where));
    } else {
      poll.interval = *d;
    }
  }
  p.poll = std::move(poll);
}

}  // namespace jenky
