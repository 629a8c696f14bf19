#include "sllm/calibrate/validate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <type_traits>
#include <variant>

#include "sllm/calibrate/fit.h"
#include "sllm/sim/cluster.h"
#include "sllm/sim/cost_model.h"
#include "sllm/core/error.h"
#include "sllm/sim/profile.h"
#include "sllm/sim/scenario.h"

namespace sllm::calibrate {
namespace {

double target_for(const Operation& op) {
  // The targets on a GPU host.
  const bool time = std::holds_alternative<LoadOperation>(op) || std::holds_alternative<PrefillOperation>(op) ||
                    std::holds_alternative<DecodeOperation>(op);
  return time ? kTimeErrorTarget : kMigrationErrorTarget;  // recompute, pause
}

// A one-server scenario whose loads follow `mode`'s laws in the profile; one deployment of tiny-opt per
// replayed load (its checkpoint size replaced by the measured one). The tiers the profile does not
// measure get fixed bandwidths (SSD 1 GB/s, PCIe 16 GB/s).
Scenario replay_scenario(const std::shared_ptr<const Profile>& profile, const std::string& mode, std::size_t loads) {
  ServerGroupSpec server;
  server.gpu = *gpu_preset("H100");
  server.gpus = 1;
  server.dram_capacity = 64'000'000'000;  // 64 GB
  server.ssd_capacity = 1'000'000'000'000;  // 1 TB
  server.ssd_read_bandwidth = 1e9;
  server.nic_bandwidth = 10e9 / 8;  // 10 Gbps
  server.pcie_bandwidth = 16e9;
  ClusterSpec cluster;
  cluster.groups = {server};
  cluster.remote_store_bandwidth = 1e9;
  cluster.profile = profile;
  cluster.profile_loader = profile->loader.count(mode) ? mode : std::string("sllm");
  DeploymentSpec tiny;
  tiny.model = "tiny-opt";
  tiny.count = static_cast<std::uint32_t>(std::max<std::size_t>(loads, 1));
  return Scenario::from_parts("<validation replay of " + profile->source + ">", std::move(cluster), {tiny});
}

}  // namespace

std::vector<ValidationRow> validate(const std::string& profile_path, const std::vector<Measurement>& measurements,
                                    const std::string& source) {
  const auto profile = std::make_shared<const Profile>(read_profile(profile_path));
  std::vector<ValidationRow> rows;
  const std::vector<MeasuredPoint> points = measured_points(measurements);
  require_enough_points(points, source);
  auto row_of = [](const MeasuredPoint& pt) {
    ValidationRow r;
    r.measured = pt.median;
    r.observations = pt.observations.size();
    r.interval = median_interval(pt.observations);
    return r;
  };
  // Loads: through ClusterState's estimate (the topology built from the profile, the governing link,
  // the measured fixed part), per loader mode.
  std::map<std::string, std::vector<const MeasuredPoint*>> loads_by_mode;
  for (const MeasuredPoint& pt : points) {
    if (const auto* load = std::get_if<LoadOperation>(&pt.median.operation)) loads_by_mode[load->mode].push_back(&pt);
  }
  for (const auto& [mode, list] : loads_by_mode) {
    if (!profile->loader.count(mode)) {
      throw InputError(profile_path, "no loader laws for mode '" + mode + "' measured in the measurements file");
    }
    Scenario sc = replay_scenario(profile, mode, list.size());
    for (std::size_t i = 0; i < list.size(); ++i) sc.models[i].checkpoint_bytes = std::get<LoadOperation>(list[i]->median.operation).bytes;
    const ClusterState state(sc);
    const LoaderModeProfile& lm = profile->loader.at(mode);
    for (std::size_t i = 0; i < list.size(); ++i) {
      const Tier tier = std::get<LoadOperation>(list[i]->median.operation).tier;
      if ((tier == Tier::kSsd && !lm.ssd) || (tier == Tier::kDram && !lm.dram)) continue;
      ValidationRow r = row_of(*list[i]);
      r.predicted = to_seconds(state.estimate_load(0, static_cast<ModelId>(i), tier, 1));
      rows.push_back(r);
    }
  }
  // Engine and migration: the simulator's cost model built from the profile (as a scenario naming it gets).
  const Scenario sc = replay_scenario(profile, "sllm", 1);
  const auto cost = make_cost_model(sc.simulation.cost_model);
  const GpuSpec& gpu = sc.cluster.groups.front().gpu;
  // A prediction per operation; nullopt where the profile has no law for it (not replayed). The model
  // must be in the catalog either way.
  struct Predict {
    const Profile& profile;
    const CostModel& cost;
    const GpuSpec& gpu;
    std::optional<double> operator()(const LoadOperation&) const { return std::nullopt; }  // replayed above
    std::optional<double> operator()(const PrefillOperation& p) const {
      const ModelArch& model = arch(p.model);
      if (!profile.find_engine(p.model, 1)) return std::nullopt;
      return cost.prefill_seconds(model, gpu, 1, p.tokens, static_cast<double>(p.sum_squares));
    }
    std::optional<double> operator()(const DecodeOperation& d) const {
      const ModelArch& model = arch(d.model);
      if (const EngineProfile* e = profile.find_engine(d.model, 1); !e || e->decode.empty()) return std::nullopt;
      return cost.decode_law(model, gpu, 1, static_cast<std::uint32_t>(d.batch)).at(static_cast<double>(d.context));
    }
    std::optional<double> operator()(const RecomputeOperation& r) const { return recompute(r.model, r.tokens, r.cached); }
    // The pause: the final round's recompute + the hand-off (as the simulator charges it).
    std::optional<double> operator()(const PauseOperation& p) const {
      const std::optional<double> round = recompute(p.model, p.tokens, p.cached);
      if (!round) return std::nullopt;
      return *round + cost.migration_handoff_seconds(arch(p.model), gpu, 1);
    }
    static const ModelArch& arch(const std::string& model) { return ModelCatalog::builtin().get(model, "measurement model"); }
    std::optional<double> recompute(const std::string& name, std::uint64_t tokens, std::uint64_t cached) const {
      const ModelArch& model = arch(name);
      if (!profile.find_migration(name)) return std::nullopt;
      const double n = static_cast<double>(tokens), c = static_cast<double>(cached);
      return cost.recompute_seconds(model, gpu, 1, tokens, recompute_squares(n, c), n * c);
    }
  };
  const Predict predict{*profile, *cost, gpu};
  for (const MeasuredPoint& pt : points) {
    if (std::holds_alternative<LoadOperation>(pt.median.operation)) continue;
    const std::optional<double> predicted = std::visit(predict, pt.median.operation);
    if (!predicted) continue;
    ValidationRow r = row_of(pt);
    r.predicted = *predicted;
    rows.push_back(r);
  }
  for (auto& r : rows) {
    r.relative_error = std::abs(r.predicted - r.measured.seconds) / r.measured.seconds;
    r.target = target_for(r.measured.operation);
  }
  return rows;
}

namespace {
std::string describe(const Operation& op) {
  char buf[128];
  std::visit([&buf](const auto& o) {
    using T = std::decay_t<decltype(o)>;
    auto n = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
    if constexpr (std::is_same_v<T, LoadOperation>) {
      std::snprintf(buf, sizeof buf, "%s %s %.0f MiB", o.mode.c_str(), to_string(o.tier), static_cast<double>(o.bytes) / 1048576.0);
    } else if constexpr (std::is_same_v<T, PrefillOperation>) {
      std::snprintf(buf, sizeof buf, "%s L=%llu", o.model.c_str(), n(o.tokens));
    } else if constexpr (std::is_same_v<T, DecodeOperation>) {
      std::snprintf(buf, sizeof buf, "%s batch=%llu C=%llu", o.model.c_str(), n(o.batch), n(o.context));
    } else {  // recompute, pause
      std::snprintf(buf, sizeof buf, "%s n=%llu ctx=%llu", o.model.c_str(), n(o.tokens), n(o.cached));
    }
  }, op);
  return buf;
}

// The law a row validates, as the summary names it: "load sllm ssd", "prefill tiny-opt", ...
std::string summary_key(const Operation& op) {
  if (const auto* l = std::get_if<LoadOperation>(&op)) return "load " + l->mode + " " + to_string(l->tier);
  return std::string(kind_name(op)) + " " + std::visit([](const auto& o) -> std::string {
           if constexpr (requires { o.model; }) return o.model;
           else return {};
         }, op);
}

struct KindSummary {
  int count = 0, missed = 0, missed_within_noise = 0;
  double max_error = 0, sum_error = 0;
  double target = 0;
  double widest = -1;  // the largest relative half-width of a point's interval; -1: no point has one
  std::string verdict() const {
    if (missed == 0) return "ok";
    return std::to_string(missed) + " missed" +
           (missed_within_noise ? " (" + std::to_string(missed_within_noise) + " within noise)" : std::string());
  }
  std::string widest_text() const {
    if (widest < 0) return "-";
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f%%", 100 * widest);
    return buf;
  }
};

// Half the interval's width relative to the median; -1 without an interval.
double half_width(const ValidationRow& r) {
  return r.interval ? (r.interval->high - r.interval->low) / (2 * r.measured.seconds) : -1;
}

std::map<std::string, KindSummary> summarise(const std::vector<ValidationRow>& rows) {
  std::map<std::string, KindSummary> by;
  for (const auto& r : rows) {
    KindSummary& s = by[summary_key(r.measured.operation)];
    ++s.count;
    s.missed += r.ok() ? 0 : 1;
    s.missed_within_noise += r.within_noise() ? 1 : 0;
    s.widest = std::max(s.widest, half_width(r));
    s.max_error = std::max(s.max_error, r.relative_error);
    s.sum_error += r.relative_error;
    s.target = r.target;
  }
  return by;
}
}  // namespace

void print_validation(const std::vector<ValidationRow>& rows, std::ostream& out) {
  char line[256];
  // "runs": observations behind the measured median; "+-": half the 90% interval of that median (too few
  // observations for one: -).
  std::snprintf(line, sizeof line, "%-10s %-34s %12s %4s %7s %12s %8s %7s\n", "operation", "point", "measured s", "runs", "+-",
                "predicted s", "error", "target");
  out << line;
  for (const auto& r : rows) {
    char spread[16] = "-";
    if (r.interval) std::snprintf(spread, sizeof spread, "%.1f%%", 100 * half_width(r));
    std::snprintf(line, sizeof line, "%-10s %-34s %12.6f %4zu %7s %12.6f %7.2f%% %6.0f%%%s\n", kind_name(r.measured.operation),
                  describe(r.measured.operation).c_str(), r.measured.seconds, r.observations, spread, r.predicted,
                  100 * r.relative_error, 100 * r.target,
                  r.ok() ? "" : (r.within_noise() ? "  MISSED (within noise)" : "  MISSED"));
    out << line;
  }
  out << "\nsummary:\n";
  for (const auto& [key, s] : summarise(rows)) {
    std::snprintf(line, sizeof line, "  %-32s %3d points  max %6.2f%%  mean %6.2f%%  target %3.0f%%  widest +- %6s  %s\n",
                  key.c_str(), s.count, 100 * s.max_error, 100 * s.sum_error / s.count, 100 * s.target,
                  s.widest_text().c_str(), s.verdict().c_str());
    out << line;
  }
}

void print_validation_markdown(const std::vector<ValidationRow>& rows, std::ostream& out) {
  out << "| operation | points | max error | mean error | target | widest +- | missed | of which within noise |\n"
         "| --- | --- | --- | --- | --- | --- | --- | --- |\n";
  char line[256];
  for (const auto& [key, s] : summarise(rows)) {
    std::snprintf(line, sizeof line, "| %s | %d | %.2f%% | %.2f%% | %.0f%% | %s | %d | %d |\n", key.c_str(), s.count,
                  100 * s.max_error, 100 * s.sum_error / s.count, 100 * s.target, s.widest_text().c_str(), s.missed,
                  s.missed_within_noise);
    out << line;
  }
}

}  // namespace sllm::calibrate
