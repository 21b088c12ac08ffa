#include "server/run_metrics.h"

#include <fmt/format.h>

#include "core/run_action.h"

namespace jenky {
namespace {

// A label value as the exposition format wants it: \\, \" and \n escaped.
std::string Esc(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Head(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

std::string Number(double v) { return fmt::format("{}", v); }

}  // namespace

void RunMetrics::Observe(const Run& r) {
  if (!IsFinished(r.status)) return;
  std::string result = RunStatusName(r.status);
  if (r.trigger.action == RunActionName(RunAction::kRollback)) {
    ++rollbacks_[{r.project, result}];
  }
  ++deployments_[{r.project, TriggerKindName(r.trigger.kind), result}];
  if (r.started_at && r.finished_at >= r.started_at) {
    double secs = static_cast<double>(r.finished_at - r.started_at) / 1000.0;
    Histogram& h = durations_[r.project];
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      if (secs <= kBuckets[i]) {
        ++h.counts[i];
        break;
      }
    }
    ++h.count;
    h.sum += secs;
  }
  if (r.status == RunStatus::kSucceeded) last_success_[r.project] = r.finished_at;
}

void RunMetrics::CountDelivery(const Delivery& d) { ++deliveries_[{d.project, d.result}]; }

void RunMetrics::SeedLastSuccess(const std::string& project, int64_t finished_at) {
  last_success_.emplace(project, finished_at);
}

std::string RunMetrics::Render(const Gauges& g) const {
  std::string out;
  Head(out, "jenky_deployments_total", "counter",
       "Runs that ended, by project, trigger and result, since jenky started.");
  for (const auto& [key, n] : deployments_) {
    const auto& [project, trigger, result] = key;
    out +=
        fmt::format("jenky_deployments_total{{project=\"{}\",trigger=\"{}\",result=\"{}\"}} {}\n",
                    Esc(project), Esc(trigger), Esc(result), n);
  }
  Head(out, "jenky_deployment_duration_seconds", "histogram",
       "How long runs took from start to end, by project.");
  for (const auto& [project, h] : durations_) {
    int64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += h.counts[i];
      out +=
          fmt::format("jenky_deployment_duration_seconds_bucket{{project=\"{}\",le=\"{}\"}} {}\n",
                      Esc(project), Number(kBuckets[i]), cumulative);
    }
    out += fmt::format(
        "jenky_deployment_duration_seconds_bucket{{project=\"{}\",le=\"+Inf\"}} {}\n"
        "jenky_deployment_duration_seconds_sum{{project=\"{}\"}} {}\n"
        "jenky_deployment_duration_seconds_count{{project=\"{}\"}} {}\n",
        Esc(project), h.count, Esc(project), Number(h.sum), Esc(project), h.count);
  }
  Head(out, "jenky_rollbacks_total", "counter", "Rollback runs that ended, by project and result.");
  for (const auto& [key, n] : rollbacks_) {
    out += fmt::format("jenky_rollbacks_total{{project=\"{}\",result=\"{}\"}} {}\n", Esc(key.first),
                       Esc(key.second), n);
  }
  Head(out, "jenky_last_success_timestamp_seconds", "gauge",
       "When the project's last successful run ended (unix time).");
  for (const auto& [project, ms] : last_success_) {
    if (ms > 0) {
      out += fmt::format("jenky_last_success_timestamp_seconds{{project=\"{}\"}} {}\n",
                         Esc(project), Number(static_cast<double>(ms) / 1000.0));
    }
  }
  Head(out, "jenky_runs", "gauge", "Runs running or queued now, by project.");
  for (const std::string& project : g.projects) {
    auto it = g.active.find(project);
    auto [running, queued] = it == g.active.end() ? std::pair<int, int>{0, 0} : it->second;
    out +=
        fmt::format("jenky_runs{{project=\"{}\",state=\"running\"}} {}\n", Esc(project), running);
    out += fmt::format("jenky_runs{{project=\"{}\",state=\"queued\"}} {}\n", Esc(project), queued);
  }
  Head(out, "jenky_webhook_deliveries_total", "counter",
       "Webhook deliveries received, by project and result.");
  for (const auto& [key, n] : deliveries_) {
    out += fmt::format("jenky_webhook_deliveries_total{{project=\"{}\",result=\"{}\"}} {}\n",
                       Esc(key.first), Esc(key.second), n);
  }
  Head(out, "jenky_websocket_viewers", "gauge", "WebSocket log viewers connected now.");
  out += fmt::format("jenky_websocket_viewers {}\n", g.viewers);
  Head(out, "jenky_outbox_pending", "gauge",
       "Commit statuses and notifications waiting to be sent, by receiver.");
  for (const auto& [receiver, o] : g.outbox) {
    out += fmt::format("jenky_outbox_pending{{receiver=\"{}\"}} {}\n", Esc(receiver), o.pending);
  }
  Head(out, "jenky_outbox_messages_total", "counter",
       "Commit statuses and notifications sent or given up, by receiver and result.");
  for (const auto& [receiver, o] : g.outbox) {
    out += fmt::format("jenky_outbox_messages_total{{receiver=\"{}\",result=\"sent\"}} {}\n",
                       Esc(receiver), o.sent);
    out += fmt::format("jenky_outbox_messages_total{{receiver=\"{}\",result=\"failed\"}} {}\n",
                       Esc(receiver), o.failed);
  }
  return out;
}

}  // namespace jenky
