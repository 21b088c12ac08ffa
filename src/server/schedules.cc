#include "server/schedules.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/delivery_result.h"
#include "server/engine.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/logger.h"
#include "util/time.h"

namespace jenky {

void ScheduleBook::Sync(const Config& config, int64_t now) {
  entries_.clear();
  std::map<std::string, std::shared_ptr<TimeZone>> zones;
  for (const ProjectConfig& p : config.projects) {
    if (!p.schedule) continue;
    auto& zone = zones[p.schedule->timezone];
    if (!zone) {
      auto loaded = TimeZone::Load(p.schedule->timezone);
      if (!loaded.ok()) {  // the config was checked; the file went since
        LogWarning("project={} schedule: {}", p.name, loaded.status().message());
        continue;
      }
      zone = std::make_shared<TimeZone>(*loaded);
    }
    for (const std::string& expression : p.schedule->cron) {
      auto cron = Cron::Parse(expression);
      if (!cron.ok()) continue;
      Entry e{p.name, expression, *cron, zone, p.schedule->catch_up, std::nullopt};
      if (auto next = e.cron.Next(now / 1000, *zone)) e.next = *next * 1000;
      entries_.push_back(std::move(e));
    }
  }
}

std::vector<std::pair<std::string, std::string>> ScheduleBook::Due(int64_t now) {
  std::vector<std::pair<std::string, std::string>> due;
  for (Entry& e : entries_) {
    if (!e.next || *e.next > now) continue;
    bool already =
        std::any_of(due.begin(), due.end(), [&](const auto& d) { return d.first == e.project; });
    if (!already) due.emplace_back(e.project, e.expression);
    auto next = e.cron.Next(now / 1000, *e.zone);
    e.next = next ? std::optional<int64_t>(*next * 1000) : std::nullopt;
  }
  return due;
}

std::optional<int64_t> ScheduleBook::NextDue() const {
  std::optional<int64_t> first;
  for (const Entry& e : entries_) {
    if (e.next && (!first || *e.next < *first)) first = e.next;
  }
  return first;
}

std::vector<std::pair<std::string, int64_t>> ScheduleBook::Next(const std::string& project) const {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const Entry& e : entries_) {
    if (e.project == project) out.emplace_back(e.expression, e.next.value_or(0));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ScheduleBook::Missed(
    const std::map<std::string, int64_t>& last_seen, int64_t now) const {
  std::vector<std::pair<std::string, std::string>> missed;
  for (const Entry& e : entries_) {
    auto seen = last_seen.find(e.project);
    if (!e.catch_up || seen == last_seen.end() || seen->second >= now) continue;
    auto fire = e.cron.Next(seen->second / 1000, *e.zone);
    if (!fire || *fire * 1000 > now) continue;
    bool already = std::any_of(missed.begin(), missed.end(),
                               [&](const auto& m) { return m.first == e.project; });
    if (!already) missed.emplace_back(e.project, e.expression);
  }
  return missed;
}

nlohmann::json ScheduleJson(const ProjectConfig& project, const ScheduleBook& book) {
  if (!project.schedule) return nullptr;
  nlohmann::json next = nlohmann::json::array();
  for (const auto& [expression, at] : book.Next(project.name)) {
    next.push_back({{"cron", expression},
                    {"at", at ? nlohmann::json(FormatRfc3339(at)) : nlohmann::json(nullptr)}});
  }
  return {{"cron", project.schedule->cron},
          {"timezone", project.schedule->timezone.empty() ? "local" : project.schedule->timezone},
          {"catch_up", project.schedule->catch_up},
          {"next", std::move(next)}};
}

Schedules::Schedules(net::io_context& io, Engine& engine, std::function<int64_t()> clock,
                     std::string state_path)
    : io_(io),
      engine_(engine),
      clock_(std::move(clock)),
      state_path_(std::move(state_path)),
      timer_(io) {}

void Schedules::Start() {
  int64_t now = clock_();
  book_.Sync(engine_.config(), now);
  std::map<std::string, int64_t> last_seen;
  if (auto text = ReadFile(state_path_); text.ok()) {
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_object()) {
      for (auto& [project, at] : j.items()) {
        if (at.is_number_integer()) last_seen[project] = at.get<int64_t>();
      }
    }
  }
  for (const auto& [project, expression] : book_.Missed(last_seen, now)) {
    Trigger(project, expression, "missed while jenky was down; catch_up = true runs it now");
  }
  SaveState();
  Arm();
}

void Schedules::Sync() {
  book_.Sync(engine_.config(), clock_());
  SaveState();
  Arm();
}

void Schedules::Stop() {
  if (stopped_) return;
  stopped_ = true;
  timer_.cancel();
  SaveState();
}

void Schedules::Fire() {
  for (const auto& [project, expression] : book_.Due(clock_())) {
    Trigger(project, expression, "fired");
  }
  SaveState();
  Arm();
}

void Schedules::Arm() {
  auto next = book_.NextDue();
  timer_.cancel();
  if (!next || stopped_) return;
  // At most a minute at a time: the wall clock may be set meanwhile.
  int64_t wait = std::clamp<int64_t>(*next - clock_(), 0, 60'000);
  timer_.expires_after(std::chrono::milliseconds(wait));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    Fire();
  });
}

void Schedules::Trigger(const std::string& project, const std::string& expression,
                        const char* how) {
  const ProjectConfig* p = engine_.config().FindProject(project);
  std::string zone =
      p && p->schedule && !p->schedule->timezone.empty() ? p->schedule->timezone : "local time";
  struct Trigger t;
  t.kind = TriggerKind::kSchedule;
  Delivery d;
  d.project = project;
  d.received_at = clock_();
  d.provider = "schedule";
  d.event = "schedule";
  auto run = engine_.Trigger(project, t);
  std::string what = fmt::format("schedule '{}' ({}) {}", expression, zone, how);
  if (run.ok()) {
    d.result = DeliveryResultName(DeliveryResult::kDeployed);
    d.status = 202;
    d.run_id = run->id;
    d.reason = what;
    LogInfo("project={} {}: run {}", project, what, run->id);
  } else {
    // A paused project skips the fire (recorded "paused"); a full queue or
    // a failure is a rejection.
    IntakeOutcome outcome = RefusalOf(run.status().kind());
    d.result = DeliveryResultName(ResultOf(outcome));
    d.status = AnswerStatus(outcome);
    d.reason = fmt::format("{}, but the run was refused: {}", what, run.status().message());
    if (outcome == IntakeOutcome::kPaused) LogInfo("project={} {}", project, d.reason);
    else LogWarning("project={} {}", project, d.reason);
  }
  engine_.RecordDelivery(d);
}

void Schedules::SaveState() {
  nlohmann::json j = nlohmann::json::object();
  int64_t now = clock_();
  for (const ProjectConfig& p : engine_.config().projects) {
    if (p.schedule) j[p.name] = now;
  }
  if (j.empty() && !PathExists(state_path_)) return;  // no schedule, none before
  // Like the rest of data_dir: nothing for other users.
  if (Status s = WriteFileAtomic(state_path_, DumpJson(j) + "\n", 0640); !s.ok()) {
    LogWarning("schedules: {}", s.message());
  }
}

}  // namespace jenky
