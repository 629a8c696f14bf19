// The headline metrics count every arrived request: censored latency distributions, SLO attainment and
// goodput, checked against hand-computed values; a policy that drops requests cannot look better than one
// that serves them; summary.json, the printed table and results.csv carry the same numbers (one table).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>

#include "sim_test_util.h"
#include "sllm/sim/metrics.h"
#include "sllm/sim/outputs.h"
#include "sllm/sim/policy.h"
#include "sllm/sim/sweep.h"

namespace sllm {
namespace {

using namespace sllm::testing;

// One A40 server, two OPT-2.7B checkpoints; requests arrive far apart, so each is served alone.
std::string one_server(const std::string& policy, const std::string& slo = "") {
  return R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  runtime_init: 0.5 s
  servers:
    - count: 1
      gpus: {type: A40, count: 1}
      dram: {capacity: 64 GB}
      ssd: {capacity: 1 TB, read_bandwidth: 6 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  deployments:
    - {model: opt-2.7b, count: 2, max_batch_size: 4}
workload: {kind: synthetic, requests: 10, rps: 1, cv: 1, lengths: {kind: fixed, input: 64, output: 16}}
policy:
  name: )" + policy + R"(
  keep_alive: {name: fixed, timeout: 1000 s}
simulation: {seed: 7, request_timeout: 100 s}
)" + slo + "output: {timing: false}\n";
}

// Serves model 0 like serverlessllm would place it, rejects model 1 outright.
class DropModelOne final : public SchedulingPolicy {
 public:
  explicit DropModelOne(const ConfigNode&) {}
  Decision place(const ClusterView& view, ModelId model) override {
    if (model == 1) return Decision::reject();
    if (view.free_gpus(0) < view.gpus_needed(model)) return Decision::wait();
    Decision d;
    d.action = Decision::Action::kStart;
    d.server = 0;
    d.tier = view.best_tier(0, model);
    return d;
  }
};
std::unique_ptr<SchedulingPolicy> make_drop(const ConfigNode& c) { return std::make_unique<DropModelOne>(c); }
SLLM_REGISTER(SchedulingPolicy, "test-drop-model-one", "test only: rejects model 1", make_drop);

TEST(Metrics, CensoredDistributionsCountDroppedRequestsAtTheTimeout) {
  const std::string dir = temp_dir("metrics_censored");
  const Scenario sc = scenario_from_yaml(one_server("test-drop-model-one"));
  Simulator sim(sc);
  RunOptions o;
  o.output_dir = dir;
  const RunSummary s = sim.run(o);
  ASSERT_GT(s.rejected, 0u);
  ASSERT_GT(s.completed, 0u);
  ASSERT_EQ(s.completed + s.rejected, s.arrived);
  // By hand from requests.csv: completed latencies plus 100 s per rejected request.
  double sum = 0;
  std::vector<double> all;
  for (const Row& r : read_csv(dir + "/requests.csv")) {
    const double v = r.at("outcome") == "completed" ? num(r, "latency_s") : 100.0;
    sum += v;
    all.push_back(v);
  }
  ASSERT_EQ(all.size(), s.arrived);
  std::sort(all.begin(), all.end());
  EXPECT_NEAR(s.latency_censored.mean, sum / static_cast<double>(all.size()), 1e-9);
  EXPECT_EQ(s.latency_censored.count, s.arrived);
  EXPECT_DOUBLE_EQ(s.latency_censored.max, 100.0);
  // Nearest rank: the value at rank ceil(0.5 n).
  EXPECT_DOUBLE_EQ(s.latency_censored.p50, all[(all.size() + 1) / 2 - 1]);
  EXPECT_LT(s.latency.mean, s.latency_censored.mean);  // completed-only looks better: not the headline
  // No SLO targets: attainment is the served share.
  EXPECT_EQ(s.slo_met, s.completed);
  EXPECT_DOUBLE_EQ(s.slo_attainment(), static_cast<double>(s.completed) / static_cast<double>(s.arrived));
}

TEST(Metrics, DroppingRequestsNeverLooksBetterInTheHeadline) {
  const Scenario serve = scenario_from_yaml(one_server("serverlessllm"));
  const Scenario drop = scenario_from_yaml(one_server("test-drop-model-one"));
  Simulator a(serve), b(drop);
  const RunSummary served = a.run(), dropped = b.run();
  ASSERT_EQ(served.completed, served.arrived);
  ASSERT_LT(dropped.completed, dropped.arrived);
  // Completed-only, dropping half the work looks at least as fast ...
  EXPECT_LE(dropped.latency.mean, served.latency.mean * 1.5);
  // ... but the headline numbers say otherwise.
  EXPECT_GT(dropped.latency_censored.mean, served.latency_censored.mean);
  EXPECT_GT(dropped.ttft_censored.p99, served.ttft_censored.p99);
  EXPECT_LT(dropped.slo_attainment(), served.slo_attainment());
  EXPECT_LT(dropped.goodput(), served.goodput());
}

TEST(Metrics, SloTargetsPerRequestAndPerModel) {
  const std::string dir = temp_dir("metrics_slo");
  // A TTFT target no cold start can meet for model 0 (its first request loads from the remote store),
  // and no target for model 1.
  const Scenario sc = scenario_from_yaml(one_server("serverlessllm", "slo: {latency: 1000 s, models: {opt-2.7b: {ttft: 50 ms}}}\n"));
  Simulator sim(sc);
  RunOptions o;
  o.output_dir = dir;
  const RunSummary s = sim.run(o);
  ASSERT_TRUE(s.slo_targets_set);
  std::uint64_t met = 0;
  for (const Row& r : read_csv(dir + "/requests.csv")) {
    met += r.at("outcome") == "completed" && num(r, "ttft_s") <= 0.05 && num(r, "latency_s") <= 1000;
  }
  EXPECT_EQ(s.slo_met, met);
  EXPECT_LT(s.slo_met, s.completed);  // the cold starts miss
  EXPECT_GT(s.slo_met, 0u);           // warm requests meet
  EXPECT_DOUBLE_EQ(s.goodput(), static_cast<double>(met) / to_seconds(s.makespan));
}

TEST(Metrics, SloConfigErrorsAreLocated) {
  EXPECT_THROW(scenario_from_yaml(one_server("serverlessllm", "slo: {ttft: 0 s}\n")), InputError);
  EXPECT_THROW(scenario_from_yaml(one_server("serverlessllm", "slo: {ttfb: 1 s}\n")), InputError);
  try {
    scenario_from_yaml(one_server("serverlessllm", "slo: {models: {opt-13b: {ttft: 1 s}}}\n"));
    FAIL() << "an SLO for a model not deployed must be rejected";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("opt-13b"), std::string::npos) << e.what();
  }
}

TEST(Metrics, OneTableBehindJsonTableAndResultsCsv) {
  const Scenario sc = scenario_from_yaml(one_server("test-drop-model-one"));
  Simulator sim(sc);
  const RunSummary s = sim.run();
  const std::string json = s.to_json(false);
  const std::string header = sweep_results_header({});
  SweepPoint p;
  p.key = "k";
  const std::string row = sweep_results_row(p, s, {});
  std::vector<std::string> columns, cells;
  for (std::stringstream h(header); h.good();) columns.emplace_back(), std::getline(h, columns.back(), ',');
  for (std::stringstream r(row); r.good();) cells.emplace_back(), std::getline(r, cells.back(), ',');
  ASSERT_EQ(columns.size(), cells.size());
  std::size_t checked = 0;
  for (const Metric& m : metrics()) {
    // Every metric appears in summary.json under the last key of its path, with the same text.
    const std::string_view leaf = m.json.substr(m.json.rfind('.') == std::string_view::npos ? 0 : m.json.rfind('.') + 1);
    if (m.timing) {
      EXPECT_EQ(json.find("\"" + std::string(leaf) + "\""), std::string::npos) << m.json;
      continue;
    }
    std::string value = metric_text(m, s);
    if (m.kind == Metric::Kind::kText) value = "\"" + value + "\"";
    EXPECT_NE(json.find("\"" + std::string(leaf) + "\": " + value), std::string::npos) << m.json << " " << value;
    if (m.column.empty()) continue;
    const auto at = std::find(columns.begin(), columns.end(), std::string(m.column));
    ASSERT_NE(at, columns.end()) << m.column;
    EXPECT_EQ(cells[static_cast<std::size_t>(at - columns.begin())], metric_text(m, s)) << m.column;
    ++checked;
  }
  EXPECT_GT(checked, 50u);
  std::ostringstream table;
  s.print_table(table);
  char attainment[32];
  std::snprintf(attainment, sizeof attainment, "%.1f%%", 100 * s.slo_attainment());
  EXPECT_NE(table.str().find(std::string("SLO attainment: ") + attainment), std::string::npos) << table.str();
}

}  // namespace
}  // namespace sllm
