#include "config/schedule_config.h"

#include <fmt/format.h>

#include "util/cron.h"
#include "util/timezone.h"

namespace jenky {

void LoadSchedule(Loader& L, const toml::table& t, const std::string& where, ProjectConfig& p) {
  auto cron = L.Strings(t, "schedule", where);
  auto zone = L.String(t, "timezone", where);
  auto catch_up = L.Bool(t, "catch_up", where);
  if (!cron) {
    for (const char* key : {"timezone", "catch_up"}) {
      if (t.get(key)) {
        L.Error(*t.get(key), fmt::format("{}.{} applies to a schedule, and there is none; add "
                                         "schedule = [\"0 3 * * 1-5\"] or remove it",
                                         where, key));
      }
    }
    return;
  }
  ScheduleConfig s;
  const toml::array& array = *t.get("schedule")->as_array();
  if (cron->empty()) {
    L.Error(*t.get("schedule"), fmt::format("{}.schedule is empty; remove it or add a cron "
                                            "expression like \"0 3 * * 1-5\"",
                                            where));
  }
  for (size_t i = 0; i < cron->size(); ++i) {
    if (auto c = Cron::Parse((*cron)[i]); !c.ok()) {
      L.Error(*array.get(i), fmt::format("{}.schedule: {}", where, c.status().message()));
    }
  }
  s.cron = *cron;
  if (zone) {
    if (auto z = TimeZone::Load(*zone); !z.ok()) {
      L.Error(*t.get("timezone"), fmt::format("{}.timezone: {}", where, z.status().message()));
    }
    s.timezone = *zone;
  }
  if (catch_up) s.catch_up = *catch_up;
  p.schedule = std::move(s);
}

}  // namespace jenky
