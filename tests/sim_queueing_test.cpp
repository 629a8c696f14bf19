// Closed-form queueing check: one server, one always-warm instance, max batch 1, Poisson arrivals and a
// deterministic service time S is an M/D/1 queue, whose mean wait is Pollaczek-Khinchine's
// lambda S^2 / (2 (1 - rho)). Also checks S against the roofline computed by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "sim_test_util.h"
#include "sllm/core/model_arch.h"

namespace sllm {
namespace {

using namespace sllm::testing;

constexpr int kInput = 100;

// Service of a request with one output token: one prefill pass. Roofline with efficiencies 1 and a fixed
// 20 ms overhead per pass (tiny-opt's own compute is microseconds, so S is dominated by the overhead).
double hand_service_seconds() {
  const ModelArch& a = ModelCatalog::builtin().get("tiny-opt", "test");
  const double bytes = static_cast<double>(a.checkpoint_bytes()) + kInput * static_cast<double>(a.kv_bytes_per_token());
  const double flops = kInput * a.flops_per_token() + a.attention_flops_per_context_token() * kInput * (kInput + 1) / 2.0;
  return 0.020 + std::max(bytes / 696e9, flops / 149.7e12);
}

std::string md1_yaml(double rps, int requests) {
  return R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  servers:
    - count: 1
      gpus: {type: A40, count: 1}
      dram: {capacity: 64 GB}
      ssd: {capacity: 1 TB, read_bandwidth: 2 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  deployments:
    - {model: tiny-opt, count: 1, max_batch_size: 1, warm_instances: 1}
workload:
  kind: synthetic
  requests: )" + std::to_string(requests) + R"(
  rps: )" + std::to_string(rps) + R"(
  cv: 1
  lengths: {kind: fixed, input: 100, output: 1}
policy:
  name: serverlessllm
  keep_alive: {name: fixed, timeout: 1000000 s}
simulation:
  seed: 7
  request_timeout: 1000000 s
  cost_model: {hbm_efficiency: 1.0, flops_efficiency: 1.0, step_overhead: 20 ms}
output: {requests_csv: false}
)";
}

TEST(Queueing, MD1MeanWaitMatchesPollaczekKhinchine) {
  const double service = hand_service_seconds();
  for (const double rho : {0.3, 0.6}) {
    const double lambda = rho / service;
    const int requests = 200000;
    const Scenario s = scenario_from_yaml(md1_yaml(lambda, requests));
    Simulator sim(s);
    const RunSummary sum = sim.run();
    ASSERT_EQ(sum.completed, static_cast<std::uint64_t>(requests));
    EXPECT_EQ(sum.cold_starts, 0u);
    // Deterministic service: latency - queueing is S for every request (up to ns rounding).
    EXPECT_NEAR(sum.latency.mean - sum.queueing.mean, service, 1e-8);
    const double pk = lambda * service * service / (2 * (1 - rho));
    // 200k requests: the standard error of the mean wait is ~1-2 % at these loads; 6 % cannot flake
    // for a fixed seed and still catches a wrong queue discipline or service time.
    EXPECT_NEAR(sum.queueing.mean, pk, 0.06 * pk) << "rho " << rho;
    EXPECT_NEAR(sum.gpu_busy_fraction, rho, 0.03) << "rho " << rho;
  }
}

TEST(Queueing, DeterministicServiceTimeEqualsRoofline) {
  const double service = hand_service_seconds();
  const std::string dir = temp_dir("md1_rows");
  RunOptions o;
  o.output_dir = dir;
  ConfigNode root = ConfigNode::load_string(md1_yaml(1.0, 50), "test.yaml");
  root.apply_override("output.requests_csv=true");
  const Scenario with_csv = Scenario::from_config(root);
  Simulator sim(with_csv);
  sim.run(o);
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 50u);
  for (const auto& r : rows) {
    EXPECT_NEAR(num(r, "completion_s") - num(r, "service_start_s"), service, 2e-9);
    EXPECT_EQ(r.at("first_token_s"), r.at("completion_s"));  // one output token: the prefill's
  }
}

}  // namespace
}  // namespace sllm
