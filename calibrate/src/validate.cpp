#include "sllm/calibrate/validate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <ostream>

#include "sllm/calibrate/fit.h"
#include "sllm/sim/cluster.h"
#include "sllm/core/config_node.h"
#include "sllm/sim/cost_model.h"
#include "sllm/core/error.h"
#include "sllm/sim/profile.h"
#include "sllm/sim/scenario.h"

namespace sllm::calibrate {
namespace {

double target_for(const std::string& kind) {
  // The targets on a GPU host.
  if (kind == "load" || kind == "prefill" || kind == "decode") return kTimeErrorTarget;
  return kMigrationErrorTarget;  // recompute, pause
}

// A one-server scenario whose loads follow `mode`'s laws in the profile; one deployment of tiny-opt per
// replayed load (its checkpoint size replaced by the measured one).
Scenario replay_scenario(const std::string& profile_path, const Profile& profile, const std::string& mode,
                         std::size_t loads) {
  const auto it = profile.loader.find(mode);
  const bool ssd = it != profile.loader.end() && it->second.ssd;
  const bool dram = it != profile.loader.end() && it->second.dram;
  std::string yaml;
  yaml += "cluster:\n";
  yaml += "  profile: {file: \"" + std::filesystem::absolute(profile_path).string() + "\", loader: " +
          (profile.loader.count(mode) ? mode : std::string("sllm")) + "}\n";
  yaml += "  remote_store: {bandwidth: 1 GB/s}\n";
  yaml += "  servers:\n    - gpus: {type: H100, count: 1}\n";
  yaml += "      dram: {capacity: 64 GB}\n";
  yaml += std::string("      ssd: {capacity: 1 TB") + (ssd ? "" : ", read_bandwidth: 1 GB/s") + "}\n";
  yaml += "      nic: 10 Gbps\n";
  if (!dram) yaml += "      pcie: 16 GB/s\n";
  yaml += "models:\n  deployments: [{model: tiny-opt, count: " + std::to_string(std::max<std::size_t>(loads, 1)) + "}]\n";
  yaml += "workload: {kind: synthetic, requests: 1, rps: 1}\npolicy: {name: serverlessllm}\n";
  return Scenario::from_config(ConfigNode::load_string(yaml, "<validation replay>"));
}

}  // namespace

std::vector<ValidationRow> validate(const std::string& profile_path, const std::vector<Measurement>& measurements) {
  const Profile profile = read_profile(profile_path);
  std::vector<ValidationRow> rows;
  const std::vector<MeasuredPoint> points = measured_points(measurements);
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
    if (pt.median.kind == "load") loads_by_mode[pt.median.mode].push_back(&pt);
  }
  for (const auto& [mode, list] : loads_by_mode) {
    if (!profile.loader.count(mode)) {
      throw InputError(profile_path, "no loader laws for mode '" + mode + "' measured in the measurements file");
    }
    Scenario sc = replay_scenario(profile_path, profile, mode, list.size());
    for (std::size_t i = 0; i < list.size(); ++i) sc.models[i].checkpoint_bytes = static_cast<std::uint64_t>(list[i]->median.x0);
    const ClusterState state(sc);
    const LoaderModeProfile& lm = profile.loader.at(mode);
    for (std::size_t i = 0; i < list.size(); ++i) {
      const Tier tier = list[i]->median.tier == "ssd" ? Tier::kSsd : Tier::kDram;
      if ((tier == Tier::kSsd && !lm.ssd) || (tier == Tier::kDram && !lm.dram)) continue;
      ValidationRow r = row_of(*list[i]);
      r.predicted = to_seconds(state.estimate_load(0, static_cast<ModelId>(i), tier, 1));
      rows.push_back(r);
    }
  }
  // Engine and migration: the simulator's cost model built from the profile (as a scenario naming it gets).
  const Scenario sc = replay_scenario(profile_path, profile, "sllm", 1);
  const auto cost = make_cost_model(sc.simulation.cost_model);
  const GpuSpec& gpu = sc.cluster.groups.front().gpu;
  for (const MeasuredPoint& pt : points) {
    const Measurement& m = pt.median;
    if (m.kind == "load") continue;
    const ModelArch& arch = ModelCatalog::builtin().get(m.model, "measurement model");
    ValidationRow r = row_of(pt);
    if (m.kind == "prefill") {
      if (!profile.find_engine(m.model, 1)) continue;
      r.predicted = cost->prefill_seconds(arch, gpu, 1, static_cast<std::uint64_t>(m.x0), m.x1);
    } else if (m.kind == "decode") {
      if (const EngineProfile* e = profile.find_engine(m.model, 1); !e || e->decode.empty()) continue;
      r.predicted = cost->decode_law(arch, gpu, 1, static_cast<std::uint32_t>(m.x0)).at(m.x1);
    } else {  // recompute, and pause = the final round's recompute + the hand-off (as the simulator charges it)
      if (!profile.find_migration(m.model)) continue;
      r.predicted = cost->recompute_seconds(arch, gpu, 1, static_cast<std::uint64_t>(m.x0),  // x0 tokens recomputed,
                                            recompute_squares(m.x0, m.x1), m.x0 * m.x1);     // x1 cached
      if (m.kind == "pause") r.predicted += cost->migration_handoff_seconds(arch, gpu, 1);
    }
    rows.push_back(r);
  }
  for (auto& r : rows) {
    r.relative_error = std::abs(r.predicted - r.measured.seconds) / r.measured.seconds;
    r.target = target_for(r.measured.kind);
  }
  return rows;
}

namespace {
std::string describe(const Measurement& m) {
  char buf[128];
  if (m.kind == "load") {
    std::snprintf(buf, sizeof buf, "%s %s %.0f MiB", m.mode.c_str(), m.tier.c_str(), m.x0 / 1048576.0);
  } else if (m.kind == "prefill") {
    std::snprintf(buf, sizeof buf, "%s L=%.0f", m.model.c_str(), m.x0);
  } else if (m.kind == "decode") {
    std::snprintf(buf, sizeof buf, "%s batch=%.0f C=%.0f", m.model.c_str(), m.x0, m.x1);
  } else {
    std::snprintf(buf, sizeof buf, "%s n=%.0f ctx=%.0f", m.model.c_str(), m.x0, m.x1);
  }
  return buf;
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
    const std::string key = r.measured.kind == "load" ? "load " + r.measured.mode + " " + r.measured.tier
                                                      : r.measured.kind + " " + r.measured.model;
    KindSummary& s = by[key];
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
    std::snprintf(line, sizeof line, "%-10s %-34s %12.6f %4zu %7s %12.6f %7.2f%% %6.0f%%%s\n", r.measured.kind.c_str(),
                  describe(r.measured).c_str(), r.measured.seconds, r.observations, spread, r.predicted,
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
