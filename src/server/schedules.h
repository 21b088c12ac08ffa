// Schedules (`schedule = ["0 3 * * 1-5"]`, `timezone`, `catch_up` in
// [projects.X]; docs/webhooks.md "Schedules"): a run with
// JENKY_TRIGGER=schedule at each fire time, recorded in the deliveries
// record.
//
// ScheduleBook is the pure part (fire times, what is due, what was missed),
// tested with a made-up clock across daylight saving changes; Schedules
// arms one timer for the earliest fire on the event loop and keeps, in
// data_dir/schedules.json, when each project's schedule was last seen
// running, so a fire missed while jenky was down runs once at start when
// the project has catch_up = true.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "net/asio.h"
#include "util/cron.h"
#include "util/json.h"
#include "util/timezone.h"

namespace jenky {

class Engine;

class ScheduleBook {
 public:
  // Reads every project's schedule as of NOW (unix ms): next fires after NOW.
  void Sync(const Config& config, int64_t now);
  // The projects whose next fire is at or before NOW, once each however
  // many of their expressions fired, with those expressions; advances them.
  std::vector<std::pair<std::string, std::string>> Due(int64_t now);
  std::optional<int64_t> NextDue() const;
  // PROJECT's expressions with each one's next fire (unix ms).
  std::vector<std::pair<std::string, int64_t>> Next(const std::string& project) const;
  // The projects with catch_up whose schedule fired after LAST_SEEN[project]
  // and at or before NOW, with the last such fire's expression.
  std::vector<std::pair<std::string, std::string>> Missed(
      const std::map<std::string, int64_t>& last_seen, int64_t now) const;

 private:
  struct Entry {
    std::string project;
    std::string expression;
    Cron cron;
    std::shared_ptr<TimeZone> zone;
    bool catch_up = false;
    std::optional<int64_t> next;  // unix ms
  };
  std::vector<Entry> entries_;
};

// PROJECT's schedule for GET /api/v1/projects/{name}: {"cron", "timezone",
// "catch_up", "next": [{"cron", "at"}]}, or null.
nlohmann::json ScheduleJson(const ProjectConfig& project, const ScheduleBook& book);

class Schedules {
 public:
  Schedules(net::io_context& io, Engine& engine, std::function<int64_t()> clock,
            std::string state_path);
  // Runs missed fires (catch_up) and arms the timer.
  void Start();
  // After a reload.
  void Sync();
  // Saves when the schedules were last seen running.
  void Stop();
  const ScheduleBook& book() const { return book_; }
  // Fires what is due now and re-arms (the timer calls it).
  void Fire();

 private:
  void Arm();
  void Trigger(const std::string& project, const std::string& expression, const char* how);
  void SaveState();

  net::io_context& io_;
  Engine& engine_;
  std::function<int64_t()> clock_;
  std::string state_path_;
  ScheduleBook book_;
  net::steady_timer timer_;
  bool stopped_ = false;
};

}  // namespace jenky
