// Loads against hand-computed times (bytes / bottleneck + pipeline fill + runtime init), bandwidth
// sharing between concurrent loads, and where the two shipped policies place cold starts.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "sim_test_util.h"
#include "sllm/core/model_arch.h"
#include "sllm/sim/cluster_view.h"
#include "sllm/sim/flow_network.h"
#include "sllm/sim/policy.h"

namespace sllm {
namespace {

using namespace sllm::testing;

constexpr double kChunk = 32.0 * 1024 * 1024;

std::string cluster_yaml(int servers, int gpus, const std::string& policy, const std::string& placement,
                         const std::string& deployment) {
  return R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  runtime_init: 0.5 s
  servers:
    - count: )" + std::to_string(servers) + R"(
      gpus: {type: A40, count: )" + std::to_string(gpus) + R"(}
      dram: {capacity: 512 GB, chunk_size: 32 MiB}
      ssd: {capacity: 2 TB, read_bandwidth: 2 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  placement: )" + placement + R"(
  deployments:
    - )" + deployment + R"(
workload: {kind: synthetic, requests: 1, rps: 1}
policy: {name: )" + policy + R"(}
)";
}

double checkpoint_bytes(const char* model) {
  return static_cast<double>(ModelCatalog::builtin().get(model, "test").checkpoint_bytes());
}

TEST(Load, SingleSsdLoadMatchesHandComputation) {
  const Scenario s = scenario_from_yaml(
      cluster_yaml(1, 1, "serverlessllm", "{ssd_replicas: 1}", "{model: opt-6.7b, count: 1}"));
  const std::string dir = temp_dir("ssd_load");
  Simulator sim(s);
  const RunSummary sum = sim.run(with_requests({request(0.0, 0, 10, 2)}, dir));
  ASSERT_EQ(sum.completed, 1u);
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 1u);
  // SSD -> DRAM at 2 GB/s governs; the chunk then crosses DRAM -> PCIe root (25 GB/s: default DRAM
  // bandwidth = 1 GPU x PCIe) and PCIe (25 GB/s); plus 0.5 s runtime init.
  const double n = checkpoint_bytes("opt-6.7b");
  const double expected = n / 2e9 + kChunk / 25e9 + kChunk / 25e9 + 0.5;
  EXPECT_EQ(rows[0].at("cold_start"), "1");
  EXPECT_EQ(rows[0].at("load_tier"), "ssd");
  EXPECT_NEAR(num(rows[0], "load_time_s"), expected, 3e-9);
  EXPECT_NEAR(num(rows[0], "service_start_s"), expected, 3e-9);  // arrived at 0, served when loaded
  EXPECT_EQ(sum.loads_by_tier[1], 1u);
}

TEST(Load, TensorParallelRemoteLoadSharesTheNetwork) {
  const Scenario s = scenario_from_yaml(cluster_yaml(1, 2, "serverlessllm", "{ssd_replicas: 0}",
                                                     "{model: opt-6.7b, count: 1, tensor_parallel: 2}"));
  const std::string dir = temp_dir("tp_load");
  Simulator sim(s);
  sim.run(with_requests({request(0.0, 0, 10, 2)}, dir));
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("gpus"), "0+1");
  EXPECT_EQ(rows[0].at("load_tier"), "remote");
  // Two flows of n/2 share the 10 Gbps store uplink, network and NIC (1.25 GB/s): both end at n / 1.25 GB/s.
  // Fill: one chunk through the other two 1.25 GB/s stages, the 50 GB/s DRAM side and one 25 GB/s PCIe link.
  const double n = checkpoint_bytes("opt-6.7b");
  const double expected = n / 1.25e9 + 2 * kChunk / 1.25e9 + kChunk / 50e9 + kChunk / 25e9 + 0.5;
  EXPECT_NEAR(num(rows[0], "load_time_s"), expected, 3e-9);
}

TEST(Load, ConcurrentRemoteLoadsShareTheStoreUplink) {
  const Scenario s = scenario_from_yaml(
      cluster_yaml(2, 1, "serverless", "{ssd_replicas: 0}", "{model: opt-6.7b, count: 2}"));
  const std::string dir = temp_dir("shared_load");
  Simulator sim(s);
  const RunSummary sum = sim.run(with_requests({request(0.0, 0, 10, 2), request(0.0, 1, 10, 2)}, dir));
  EXPECT_EQ(sum.loads_by_tier[0], 2u);
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 2u);
  // Each load gets half of the 1.25 GB/s uplink for the whole transfer.
  const double n = checkpoint_bytes("opt-6.7b");
  const double expected = 2 * n / 1.25e9 + 2 * kChunk / 1.25e9 + kChunk / 25e9 + kChunk / 25e9 + 0.5;
  for (const auto& r : rows) EXPECT_NEAR(num(r, "load_time_s"), expected, 3e-9);
  EXPECT_NE(rows[0].at("server"), rows[1].at("server"));
}

TEST(Load, QueuedLoadWaitsForTheServersPreviousLoad) {
  // One server with two GPUs: two cold starts queue on its FIFO loading queue.
  const Scenario s = scenario_from_yaml(
      cluster_yaml(1, 2, "serverlessllm", "{ssd_replicas: 1}", "{model: opt-6.7b, count: 2}"));
  const std::string dir = temp_dir("queued_load");
  Simulator sim(s);
  sim.run(with_requests({request(0.0, 0, 10, 2), request(0.0, 1, 10, 2)}, dir));
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 2u);
  const double one = checkpoint_bytes("opt-6.7b") / 2e9 + kChunk / 50e9 + kChunk / 25e9 + 0.5;
  std::vector<double> starts;
  for (const auto& r : rows) {
    EXPECT_NEAR(num(r, "load_time_s"), one, 3e-9);
    starts.push_back(num(r, "service_start_s"));
  }
  std::sort(starts.begin(), starts.end());
  EXPECT_NEAR(starts[0], one, 3e-9);
  EXPECT_NEAR(starts[1], 2 * one, 6e-9);
}

// Two servers; checkpoint 1 is on the SSDs of servers 1 and 0 (round-robin from 1) and in the DRAM pool
// of server 1 only.
std::string locality_yaml(const std::string& policy) {
  return cluster_yaml(2, 1, policy, "{ssd_replicas: 2, dram: true}", "{model: opt-6.7b, count: 2}");
}

TEST(Policy, ServerlessLlmPrefersTheServerWhoseDramHoldsTheCheckpoint) {
  const Scenario s = scenario_from_yaml(locality_yaml("serverlessllm"));
  const std::string dir = temp_dir("sllm_dram");
  Simulator sim(s);
  const RunSummary sum = sim.run(with_requests({request(0.0, 1, 10, 2)}, dir));
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("server"), "1");  // not server 0, which has only the SSD copy (and a lower id)
  EXPECT_EQ(rows[0].at("load_tier"), "dram");
  EXPECT_EQ(sum.loads_by_tier[2], 1u);
  // DRAM -> GPU over PCIe at 25 GB/s (the DRAM side, also 25 GB/s, counted in the fill).
  const double expected = checkpoint_bytes("opt-6.7b") / 25e9 + kChunk / 25e9 + 0.5;
  EXPECT_NEAR(num(rows[0], "load_time_s"), expected, 3e-9);
}

TEST(Policy, ServerlessLlmCountsTheLoadingQueue) {
  // Both checkpoints are on both SSDs. The first cold start ties and goes to server 0; the second would
  // also fit on server 0 (2 GPUs) but would wait there behind the first load (q), so it goes to server 1.
  const Scenario s = scenario_from_yaml(
      cluster_yaml(2, 2, "serverlessllm", "{ssd_replicas: 2}", "{model: opt-6.7b, count: 2}"));
  const std::string dir = temp_dir("sllm_queue");
  Simulator sim(s);
  sim.run(with_requests({request(0.0, 1, 10, 2), request(0.0, 0, 10, 2)}, dir));
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& r : rows) {
    EXPECT_EQ(r.at("load_tier"), "ssd");
    EXPECT_EQ(r.at("server"), r.at("model") == "opt-6.7b/1" ? "0" : "1");
    EXPECT_NEAR(num(r, "queueing_s"), num(r, "load_time_s"), 1e-9);  // neither waited in a queue
  }
}

TEST(Policy, ServerlessLlmRefinesEstimatesFromObservedLoads) {
  // Two empty servers: remote loads tie and the lower id wins, until server 0's observed remote load
  // took three times its estimate (smoothing 0.5: factor 2), which makes server 1 the faster choice.
  const Scenario s = scenario_from_yaml(
      cluster_yaml(2, 1, "serverlessllm", "{ssd_replicas: 0}", "{model: opt-6.7b, count: 1}"));
  ClusterState state(s);
  ConfigNode params = s.scheduler.params;
  auto policy = SchedulingRegistry::instance().create("serverlessllm", params, params);
  const ClusterStateView view(state, 0);
  Decision d = policy->place(view, 0);
  ASSERT_EQ(d.action, Decision::Action::kStart);
  EXPECT_EQ(d.server, 0u);
  EXPECT_EQ(d.tier, Tier::kRemote);
  const Nanos est = view.estimate_load(0, 0, Tier::kRemote);
  EXPECT_EQ(d.estimated_startup, est);
  policy->on_load_finished(0, 0, Tier::kRemote, est, 3 * est);
  d = policy->place(view, 0);
  EXPECT_EQ(d.server, 1u);
  EXPECT_EQ(d.estimated_startup, est);
  // Without refinement the tie stays.
  ConfigNode off = ConfigNode::load_string("{refine_estimates: false}", "test");
  auto plain = SchedulingRegistry::instance().create("serverlessllm", off, off);
  plain->on_load_finished(0, 0, Tier::kRemote, est, 3 * est);
  EXPECT_EQ(plain->place(view, 0).server, 0u);
}

TEST(Policy, StartupEstimateTakesTheFairShareOfLinksInUse) {
  // Remote store 10 Gbps and NICs 10 Gbps: a lone remote load moves at 1.25 GB/s. With k remote flows
  // already crossing the store's uplink, a new load gets 1/(k+1) of it (max-min fair share), so its
  // transfer takes k+1 times as long; the fill and runtime init are unchanged.
  const Scenario s = scenario_from_yaml(
      cluster_yaml(4, 1, "serverlessllm", "{ssd_replicas: 0}", "{model: opt-6.7b, count: 1}"));
  ClusterState state(s);
  FlowNetwork flows(state.topology());
  const double bytes = checkpoint_bytes("opt-6.7b");
  const Nanos fill = state.fill_and_init(3, Tier::kRemote, 1);
  const Nanos lone = ClusterStateView(state, 0, nullptr, &flows).estimate_load(3, 0, Tier::kRemote);
  EXPECT_NEAR(to_seconds(lone - fill), bytes / 1.25e9, 1e-6);
  for (ServerId busy = 0; busy < 3; ++busy) {
    const VertexId src = state.source_vertex(busy, Tier::kRemote);
    flows.start(state.topology().path(src, state.servers[busy].gpu_vertex[0]), bytes, 0);
    const Nanos shared = ClusterStateView(state, 0, nullptr, &flows).estimate_load(3, 0, Tier::kRemote);
    EXPECT_NEAR(to_seconds(shared - fill), (busy + 2) * bytes / 1.25e9, 1e-6) << busy + 1 << " flows";
    // Without the flows the view answers the idle-link estimate.
    EXPECT_EQ(ClusterStateView(state, 0).estimate_load(3, 0, Tier::kRemote), lone);
  }
}

TEST(Policy, ServerlessIgnoresLocality) {
  const Scenario s = scenario_from_yaml(locality_yaml("serverless"));
  const std::string dir = temp_dir("serverless");
  Simulator sim(s);
  const RunSummary sum = sim.run(with_requests({request(0.0, 1, 10, 2), request(0.0, 0, 10, 2)}, dir));
  EXPECT_EQ(sum.loads, 2u);
  EXPECT_EQ(sum.loads_by_tier[0], 2u);  // both from the remote store despite local DRAM/SSD copies
  const auto rows = read_csv(dir + "/requests.csv");
  for (const auto& r : rows) EXPECT_EQ(r.at("load_tier"), "remote");
}

}  // namespace
}  // namespace sllm
