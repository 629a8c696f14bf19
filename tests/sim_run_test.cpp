// Whole runs: request conservation under timeouts, rejections and a horizon; determinism (same seed =>
// byte-identical outputs, other seed => different); keep-alive unloading; continuous batching.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "sim_test_util.h"

namespace sllm {
namespace {

using namespace sllm::testing;

std::string small_cluster(const std::string& extra_models = "", const std::string& workload = "") {
  return R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  runtime_init: 0.5 s
  servers:
    - count: 2
      gpus: {type: A40, count: 2}
      dram: {capacity: 128 GB}
      ssd: {capacity: 1 TB, read_bandwidth: 6 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  deployments:
    - {model: opt-6.7b, count: 8, max_batch_size: 4)" + extra_models + R"(}
workload:
  kind: synthetic
  requests: 1500
  rps: 4
  cv: 4
  lengths: gsm8k
)" + workload + R"(policy:
  name: serverlessllm
  keep_alive: {name: fixed, timeout: 10 s}
simulation:
  seed: 3
  request_timeout: 60 s
output: {timing: false}
)";
}

void expect_conserved(const RunSummary& s) {
  EXPECT_EQ(s.arrived, s.completed + s.timed_out + s.rejected + s.running);
}

TEST(Run, ConservationWithTimeouts) {
  const Scenario sc = scenario_from_yaml(small_cluster());
  Simulator sim(sc);
  const RunSummary s = sim.run();
  EXPECT_EQ(s.arrived, 1500u);
  EXPECT_GT(s.timed_out, 0u) << "the overloaded small cluster should time requests out";
  EXPECT_GT(s.completed, 0u);
  EXPECT_EQ(s.running, 0u);
  expect_conserved(s);
}

TEST(Run, ConservationWithRejections) {
  // A KV budget of ~4k tokens (30 % of an A40 minus OPT-6.7B's weights) rejects longer requests.
  const Scenario sc = scenario_from_yaml(small_cluster(", gpu_memory_utilization: 0.3, kv_reserve_tokens: 100"),
                                         {"workload.lengths={kind: uniform, input: [1, 4000], output: [1, 1000]}"});
  Simulator sim(sc);
  const RunSummary s = sim.run();
  EXPECT_GT(s.rejected, 0u);
  expect_conserved(s);
}

TEST(Run, ConservationAtAHorizon) {
  const Scenario sc = scenario_from_yaml(small_cluster(), {"simulation.horizon=100 s"});
  Simulator sim(sc);
  const RunSummary s = sim.run();
  EXPECT_GT(s.running, 0u);
  EXPECT_LT(s.arrived, 1500u);
  expect_conserved(s);
}

TEST(Run, SameSeedSameBytesOtherSeedDifferent) {
  const Scenario sc = scenario_from_yaml(small_cluster());
  const std::string a = temp_dir("det_a"), b = temp_dir("det_b"), c = temp_dir("det_c");
  RunSummary sa, sb;
  {
    Simulator sim(sc);
    RunOptions o;
    o.output_dir = a;
    sa = sim.run(o);
  }
  {
    Simulator sim(sc);
    RunOptions o;
    o.output_dir = b;
    sb = sim.run(o);
  }
  EXPECT_EQ(sa.fingerprint, sb.fingerprint);
  EXPECT_EQ(read_text(a + "/requests.csv"), read_text(b + "/requests.csv"));
  EXPECT_EQ(read_text(a + "/summary.json"), read_text(b + "/summary.json"));
  EXPECT_GT(read_text(a + "/requests.csv").size(), 1000u);
  ConfigNode root = ConfigNode::load_string(small_cluster(), "test.yaml");
  const Scenario other = Scenario::from_config(root, 4);
  Simulator sim(other);
  RunOptions o;
  o.output_dir = c;
  const RunSummary sc2 = sim.run(o);
  EXPECT_NE(sa.fingerprint, sc2.fingerprint);
  EXPECT_NE(read_text(a + "/requests.csv"), read_text(c + "/requests.csv"));
  EXPECT_NE(read_text(a + "/summary.json"), read_text(c + "/summary.json"));
}

// output.compress: zstd writes requests.csv.zst holding exactly the bytes of the plain file, and no
// requests.csv; read_requests_csv reads either.
TEST(Run, CompressedRequestsCsvHoldsTheSameBytes) {
  const std::string plain = temp_dir("csv_plain"), packed = temp_dir("csv_zstd");
  for (const auto& [dir, compress] : {std::pair{plain, "none"}, std::pair{packed, "zstd"}}) {
    const Scenario sc = scenario_from_yaml(small_cluster(), {std::string("output.compress=") + compress});
    Simulator sim(sc);  // holds the scenario by reference
    RunOptions o;
    o.output_dir = dir;
    sim.run(o);
  }
  const std::string text = read_text(plain + "/requests.csv");
  ASSERT_GT(text.size(), 1000u);
  EXPECT_FALSE(std::filesystem::exists(packed + "/requests.csv"));
  EXPECT_FALSE(std::filesystem::exists(packed + "/requests.csv.zst.tmp"));
  EXPECT_LT(read_text(packed + "/requests.csv.zst").size(), text.size() / 2);
  EXPECT_EQ(read_requests_csv(packed), text);
  EXPECT_EQ(read_requests_csv(plain), text);
  // Both files, or neither, is an error rather than a guess.
  std::filesystem::copy_file(plain + "/requests.csv", packed + "/requests.csv");
  EXPECT_THROW(read_requests_csv(packed), InputError);
  EXPECT_THROW(read_requests_csv(temp_dir("csv_none")), InputError);
  // A damaged stream is refused.
  std::filesystem::remove(packed + "/requests.csv");
  const std::string z = read_text(packed + "/requests.csv.zst");
  std::ofstream(packed + "/requests.csv.zst", std::ios::binary) << z.substr(0, z.size() / 2);
  EXPECT_THROW(read_requests_csv(packed), InputError);
  EXPECT_THROW(scenario_from_yaml(small_cluster(), {"output.compress=gzip"}), InputError);
}

std::string one_gpu(const std::string& batch, const std::string& keep_alive) {
  return R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  servers:
    - count: 1
      gpus: {type: A40, count: 1}
      dram: {capacity: 64 GB}
      ssd: {capacity: 1 TB, read_bandwidth: 4 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  deployments:
    - {model: opt-6.7b, count: 1, max_batch_size: )" + batch + R"(}
workload: {kind: synthetic, requests: 1, rps: 1}
policy:
  name: serverlessllm
  keep_alive: {name: fixed, timeout: )" + keep_alive + R"(}
simulation:
  cost_model: {hbm_efficiency: 1.0, flops_efficiency: 1.0}
)";
}

TEST(Run, KeepAliveUnloadsAndTheNextRequestIsColdFromDram) {
  const Scenario sc = scenario_from_yaml(one_gpu("4", "5 s"));
  const std::string dir = temp_dir("keepalive");
  Simulator sim(sc);
  // The first request loads from SSD; the second comes within the keep-alive window (warm); the third
  // after it expired: a new cold start, now from the DRAM pool the first load filled.
  const RunSummary s = sim.run(with_requests(
      {request(0.0, 0, 10, 2), request(5.0, 0, 10, 2), request(60.0, 0, 10, 2)}, dir));
  EXPECT_EQ(s.loads, 2u);
  EXPECT_EQ(s.loads_by_tier[1], 1u);
  EXPECT_EQ(s.loads_by_tier[2], 1u);
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].at("cold_start"), "1");
  EXPECT_EQ(rows[1].at("cold_start"), "0");
  EXPECT_EQ(rows[2].at("cold_start"), "1");
  EXPECT_EQ(rows[2].at("load_tier"), "dram");
}

TEST(Run, ContinuousBatchingMatchesClosedFormDecode) {
  // Two requests admitted together on a warm-up-free instance: they share every decode step. With a
  // roofline at efficiency 1, a decode step of batch 2 over context C takes
  // max((W + C kv) / HBM, (2 F + C Fa) / peak); the shorter request finishes after its own steps.
  const Scenario sc = scenario_from_yaml(one_gpu("4", "100 s"));
  const std::string dir = temp_dir("batching");
  Simulator sim(sc);
  sim.run(with_requests({request(0.0, 0, 100, 11), request(0.0, 0, 200, 21)}, dir));
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 2u);
  const ModelArch& a = ModelCatalog::builtin().get("opt-6.7b", "test");
  const double W = static_cast<double>(a.checkpoint_bytes()), kv = static_cast<double>(a.kv_bytes_per_token());
  const double F = a.flops_per_token(), Fa = a.attention_flops_per_context_token();
  auto step = [&](int batch, double context) {
    return std::max((W + context * kv) / 696e9, (batch * F + context * Fa) / 149.7e12);
  };
  // After the joint prefill both have 1 token; 10 more steps finish the first (contexts 101+201 growing by 2).
  double t = 0, context = 100 + 1 + 200 + 1;
  for (int j = 0; j < 10; ++j, context += 2) t += step(2, context);
  const double first_done = t;
  context -= 111;  // the first request leaves; the second has 200 + 11 tokens
  for (int j = 0; j < 10; ++j, context += 1) t += step(1, context);
  double first = 0, second = 0, ft = 0;
  for (const auto& r : rows) {
    const double decode = num(r, "completion_s") - num(r, "first_token_s");
    (r.at("output_tokens") == "11" ? first : second) = decode;
    ft = num(r, "first_token_s");
  }
  (void)ft;
  EXPECT_NEAR(first, first_done, 1e-8);
  EXPECT_NEAR(second, t, 1e-8);
}

}  // namespace
}  // namespace sllm
