// Randomised scenarios (cluster shapes, models needing 1-4 GPUs, batch sizes, KV budgets, timeouts,
// keep-alive, horizons, both policies, bursty arrivals): every run must finish without an internal error,
// conserve requests, and keep every request's timestamps ordered.
#include <gtest/gtest.h>

#include <string>

#include "sim_test_util.h"
#include "sllm/core/model_arch.h"
#include "sllm/core/random.h"

namespace sllm {
namespace {

using namespace sllm::testing;

std::string random_yaml(Rng& rng) {
  const auto pick = [&](std::initializer_list<const char*> xs) {
    return std::string(*(xs.begin() + rng.uniform_int(0, xs.size() - 1)));
  };
  const int servers = static_cast<int>(rng.uniform_int(1, 5));
  const int gpus = static_cast<int>(rng.uniform_int(1, 4));
  const std::string gpu = pick({"A40", "A100-80G", "H100"});
  // Sometimes a KV budget of about 3,000 tokens, so that long requests are rejected.
  std::string kv;
  if (rng.uniform() < 0.3) {
    const ModelArch& a = ModelCatalog::builtin().get("opt-6.7b", "test");
    const double util = (static_cast<double>(a.checkpoint_bytes()) + 3000.0 * static_cast<double>(a.kv_bytes_per_token())) /
                        static_cast<double>(gpu_preset(gpu)->memory);
    kv = ", kv_reserve_tokens: 64, gpu_memory_utilization: " + std::to_string(util);
  }
  std::string models = "    - {model: opt-6.7b, count: " + std::to_string(rng.uniform_int(1, 12)) +
                       ", max_batch_size: " + std::to_string(rng.uniform_int(1, 16)) + kv + "}\n";
  if (gpus >= 2 && rng.uniform() < 0.5) {
    models += "    - {model: opt-30b, count: " + std::to_string(rng.uniform_int(1, 4)) + ", max_batch_size: 4}\n";
  }
  if (gpus >= 4 && rng.uniform() < 0.5) {
    models += "    - {model: llama-2-70b, count: 2, kv_reserve_tokens: 256}\n";
  }
  return R"(cluster:
  remote_store: {bandwidth: )" + pick({"1 Gbps", "10 Gbps", "100 Gbps"}) + R"(}
  runtime_init: )" + pick({"0 s", "0.5 s", "3 s"}) + R"(
  servers:
    - count: )" + std::to_string(servers) + R"(
      gpus: {type: )" + gpu + ", count: " + std::to_string(gpus) + R"(}
      dram: {capacity: )" + pick({"40 GB", "200 GB", "1 TB"}) + R"(}
      ssd: {capacity: )" + pick({"100 GB", "2 TB"}) + R"(, read_bandwidth: 6 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  placement: {ssd_replicas: )" + std::to_string(rng.uniform_int(0, 1)) + R"(}
  deployments:
)" + models + R"(workload:
  kind: synthetic
  requests: )" + std::to_string(rng.uniform_int(50, 600)) + R"(
  rps: )" + std::to_string(0.2 + rng.uniform() * 10) + R"(
  cv: )" + pick({"1", "4", "8"}) + R"(
  popularity: )" + pick({"uniform", "zipf"}) + R"(
  lengths: )" + pick({"gsm8k", "sharegpt", "{kind: uniform, input: [1, 3000], output: [1, 600]}"}) + R"(
policy:
  name: )" + pick({"serverlessllm", "serverless"}) + R"(
  reclaim_idle: )" + pick({"true", "false"}) + R"(
  keep_alive: {name: fixed, timeout: )" + pick({"0 s", "2 s", "60 s"}) + R"(}
simulation:
  seed: )" + std::to_string(rng.uniform_int(1, 1000)) + R"(
  request_timeout: )" + pick({"5 s", "60 s", "300 s"}) + R"(
  horizon: )" + pick({"0 s", "0 s", "120 s"}) + R"(
output: {timing: false}
)";
}

TEST(Stress, RandomScenariosConserveRequestsAndOrderTimestamps) {
  Rng rng(2024);
  int ran = 0;
  std::uint64_t timed_out = 0, rejected = 0, running = 0, cold = 0;
  for (int i = 0; i < 60; ++i) {
    const std::string yaml = random_yaml(rng);
    SCOPED_TRACE("scenario " + std::to_string(i) + ":\n" + yaml);
    Scenario sc;
    try {
      sc = scenario_from_yaml(yaml);
    } catch (const InputError& e) {
      // Some random placements do not fit the SSDs: a config error, not a simulator failure.
      ASSERT_NE(std::string(e.what()).find("does not fit"), std::string::npos) << e.what();
      continue;
    }
    const std::string dir = temp_dir("stress");
    Simulator sim(sc);
    RunOptions o;
    o.output_dir = dir;
    const RunSummary s = sim.run(o);
    ++ran;
    timed_out += s.timed_out;
    rejected += s.rejected;
    running += s.running;
    cold += s.cold_starts;
    EXPECT_EQ(s.arrived, s.completed + s.timed_out + s.rejected + s.running);
    for (const Row& r : read_csv(dir + "/requests.csv")) {
      const std::string& outcome = r.at("outcome");
      if (outcome != "completed") continue;
      const double arrival = num(r, "arrival_s"), start = num(r, "service_start_s");
      const double first = num(r, "first_token_s"), done = num(r, "completion_s");
      EXPECT_LE(arrival, start);
      EXPECT_LT(start, first);
      EXPECT_LE(first, done);
      if (r.at("output_tokens") != "1") {
        EXPECT_LT(first, done);
      }
      EXPECT_LE(start - arrival, to_seconds(sc.simulation.request_timeout) + 1e-9);
    }
    EXPECT_LE(s.gpu_busy_fraction, s.gpu_allocated_fraction + 1e-9);
    EXPECT_LE(s.gpu_allocated_fraction, 1.0 + 1e-9);
  }
  // The random mix reaches every outcome.
  EXPECT_GE(ran, 40);
  EXPECT_GT(timed_out, 0u);
  EXPECT_GT(rejected, 0u);
  EXPECT_GT(running, 0u);
  EXPECT_GT(cold, 0u);
}

}  // namespace
}  // namespace sllm
