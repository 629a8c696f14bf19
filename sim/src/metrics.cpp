#include "sllm/sim/metrics.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "sllm/sim/outputs.h"

namespace sllm {
namespace {

double share(std::uint64_t part, std::uint64_t whole) {
  return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

// Mean latency over completed and timed-out requests, a timed-out request counting the timeout (a lower
// bound of its latency): unlike the mean over completed requests it does not improve when a system drops
// more requests. Kept beside the censored distribution (which also counts rejections) for the paper's
// figures, which were checked against it.
double mean_with_timeouts(const RunSummary& s) {
  const std::uint64_t n = s.completed + s.timed_out;
  return n > 0 ? (s.latency.mean * static_cast<double>(s.completed) +
                  to_seconds(s.request_timeout) * static_cast<double>(s.timed_out)) /
                     static_cast<double>(n)
               : 0.0;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
      out += esc;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

#define SLLM_COUNT(column, json, expr) \
  Metric { column, json, Metric::Kind::kCount, false, [](const RunSummary& s) { return static_cast<std::uint64_t>(expr); }, nullptr, nullptr }
#define SLLM_REAL(column, json, expr) \
  Metric { column, json, Metric::Kind::kReal, false, nullptr, [](const RunSummary& s) { return static_cast<double>(expr); }, nullptr }
#define SLLM_TIMING(json, expr) \
  Metric { "", json, Metric::Kind::kReal, true, nullptr, [](const RunSummary& s) { return static_cast<double>(expr); }, nullptr }
// A distribution's count and statistics, in seconds.
#define SLLM_DIST(base, json, field)                                  \
  SLLM_COUNT(base "_count", json ".count", s.field.count),            \
      SLLM_REAL(base "_mean_s", json ".mean", s.field.mean),          \
      SLLM_REAL(base "_p50_s", json ".p50", s.field.p50),             \
      SLLM_REAL(base "_p90_s", json ".p90", s.field.p90),             \
      SLLM_REAL(base "_p99_s", json ".p99", s.field.p99),             \
      SLLM_REAL(base "_max_s", json ".max", s.field.max)

const Metric kMetrics[] = {
    Metric{"", "policy", Metric::Kind::kText, false, nullptr, nullptr, [](const RunSummary& s) { return s.policy; }},
    SLLM_COUNT("", "seed", s.seed),
    SLLM_COUNT("servers", "cluster.servers", s.servers),
    SLLM_COUNT("gpus", "cluster.gpus", s.gpus),
    SLLM_COUNT("models", "cluster.models", s.models),
    SLLM_COUNT("arrived", "requests.arrived", s.arrived),
    SLLM_COUNT("completed", "requests.completed", s.completed),
    SLLM_COUNT("timed_out", "requests.timed_out", s.timed_out),
    SLLM_COUNT("rejected", "requests.rejected", s.rejected),
    SLLM_COUNT("failed", "requests.failed", s.failed),
    SLLM_COUNT("running", "requests.running", s.running),
    SLLM_REAL("served_share", "requests.served_share", share(s.completed, s.arrived)),
    SLLM_COUNT("slo_met", "slo.met", s.slo_met),
    SLLM_REAL("slo_attainment", "slo.attainment", s.slo_attainment()),
    SLLM_REAL("goodput_rps", "slo.goodput_rps", s.goodput()),
    SLLM_COUNT("slo_targets_set", "slo.targets_set", s.slo_targets_set ? 1 : 0),
    SLLM_REAL("request_timeout_s", "request_timeout_s", to_seconds(s.request_timeout)),
    SLLM_DIST("latency_all_censored", "latency_all_censored_s", latency_censored),
    SLLM_DIST("ttft_all_censored", "ttft_all_censored_s", ttft_censored),
    SLLM_COUNT("cold_starts", "cold_starts", s.cold_starts),
    SLLM_REAL("cold_start_ratio", "cold_start_ratio", share(s.cold_starts, s.completed)),
    SLLM_COUNT("loads", "loads.total", s.loads),
    SLLM_COUNT("loads_remote", "loads.remote", s.loads_by_tier[0]),
    SLLM_COUNT("loads_ssd", "loads.ssd", s.loads_by_tier[1]),
    SLLM_COUNT("loads_dram", "loads.dram", s.loads_by_tier[2]),
    SLLM_COUNT("loads_replaced", "loads.replaced", s.loads_replaced),
    SLLM_COUNT("preemptions", "preemptions", s.preemptions),
    SLLM_COUNT("lost_tokens", "lost_tokens", s.lost_tokens),
    SLLM_COUNT("migrations_started", "migrations.started", s.migrations_started),
    SLLM_COUNT("migrations_completed", "migrations.completed", s.migrations_completed),
    SLLM_COUNT("migrations_dropped", "migrations.dropped", s.migrations_dropped),
    SLLM_COUNT("migration_rounds", "migrations.rounds", s.migration_rounds),
    SLLM_COUNT("migration_tokens", "migrations.tokens_sent", s.migration_tokens),
    SLLM_DIST("migration_pause", "migrations.pause_s", migration_pause),
    SLLM_COUNT("prewarms", "prewarms", s.prewarms),
    SLLM_COUNT("faults", "faults.count", s.faults),
    SLLM_COUNT("fault_restarts", "faults.requests_restarted", s.fault_restarts),
    SLLM_COUNT("loads_failed", "faults.loads_failed", s.loads_failed),
    SLLM_REAL("server_down_s", "faults.server_down_s", s.server_down_seconds),
    SLLM_REAL("gpu_availability", "faults.gpu_availability", s.gpu_availability),
    SLLM_DIST("latency_completed", "latency_completed_s", latency),
    SLLM_REAL("latency_mean_with_timeouts_s", "latency_mean_with_timeouts_s", mean_with_timeouts(s)),
    SLLM_DIST("ttft_completed", "ttft_completed_s", ttft),
    SLLM_DIST("tpot_completed", "tpot_completed_s", tpot),
    SLLM_DIST("queueing_completed", "queueing_completed_s", queueing),
    SLLM_DIST("load_time", "cold_start_load_time_s", load_time),
    SLLM_REAL("gpu_allocated", "gpu_utilisation.allocated", s.gpu_allocated_fraction),
    SLLM_REAL("gpu_busy", "gpu_utilisation.busy", s.gpu_busy_fraction),
    SLLM_REAL("makespan_s", "makespan_s", to_seconds(s.makespan)),
    SLLM_COUNT("events", "events", s.events),
    SLLM_TIMING("wall_time_s", s.wall_seconds),
    SLLM_TIMING("events_per_s", s.wall_seconds > 0 ? static_cast<double>(s.events) / s.wall_seconds : 0.0),
    Metric{"fingerprint", "fingerprint", Metric::Kind::kText, false, nullptr, nullptr,
           [](const RunSummary& s) { return hex64(s.fingerprint); }},
    Metric{"", "provenance.version", Metric::Kind::kText, false, nullptr, nullptr,
           [](const RunSummary& s) { return s.version; }},
    Metric{"", "provenance.build", Metric::Kind::kText, false, nullptr, nullptr,
           [](const RunSummary& s) { return s.build_id; }},
    Metric{"", "provenance.config_hash", Metric::Kind::kText, false, nullptr, nullptr,
           [](const RunSummary& s) { return hex64(s.config_hash); }},
    Metric{"", "provenance.overrides", Metric::Kind::kJson, false, nullptr, nullptr, [](const RunSummary& s) {
             std::string list = "[";
             for (const std::string& o : s.overrides) list += (list.size() > 1 ? ", " : "") + json_string(o);
             return list + "]";
           }},
};
#undef SLLM_COUNT
#undef SLLM_REAL
#undef SLLM_TIMING
#undef SLLM_DIST

}  // namespace

std::span<const Metric> metrics() { return kMetrics; }

std::string json_quoted(std::string_view text) { return json_string(std::string(text)); }

const Metric& metric(std::string_view name) {
  for (const Metric& m : kMetrics) {
    if (m.column == name || m.json == name) return m;
  }
  throw std::logic_error("no metric named '" + std::string(name) + "'");
}

std::string metric_text(const Metric& m, const RunSummary& s) {
  switch (m.kind) {
    case Metric::Kind::kText:
    case Metric::Kind::kJson: return m.text(s);
    case Metric::Kind::kCount: {
      char buf[24];
      std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(m.count(s)));
      return buf;
    }
    case Metric::Kind::kReal: break;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", m.real(s));
  return buf;
}

double metric_value(std::string_view name, const RunSummary& s) {
  const Metric& m = metric(name);
  if (m.kind == Metric::Kind::kText) throw std::logic_error("metric '" + std::string(name) + "' is text");
  return m.kind == Metric::Kind::kCount ? static_cast<double>(m.count(s)) : m.real(s);
}

}  // namespace sllm
