// Scenario config: units, GPU presets, derived instance sizes, and every class of config error with its
// message (location file:line:column and key path, and what was expected).
#include <gtest/gtest.h>

#include <string>

#include "sim_test_util.h"
#include "sllm/core/error.h"
#include "sllm/core/units.h"

namespace sllm {
namespace {

using testing::scenario_from_yaml;

// A minimal valid scenario; tests break one thing at a time (line numbers matter for the messages).
const char* kBase = R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  runtime_init: 0.5 s
  servers:
    - count: 2
      gpus: {type: A40, count: 4}
      dram: {capacity: 512 GB, chunk_size: 32 MiB}
      ssd: {capacity: 2 TB, read_bandwidth: 6 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  deployments:
    - {model: opt-6.7b, count: 4}
workload:
  kind: synthetic
  requests: 10
  rps: 1
policy:
  name: serverlessllm
)";

std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    scenario_from_yaml(yaml, overrides);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return text.replace(pos, from.size(), to);
}

TEST(Units, ParseWrittenOutUnits) {
  EXPECT_EQ(parse_bytes("32 MiB"), 32u * 1024 * 1024);
  EXPECT_EQ(parse_bytes("512 GB"), 512'000'000'000u);
  EXPECT_DOUBLE_EQ(parse_bandwidth("10 Gbps"), 1.25e9);
  EXPECT_DOUBLE_EQ(parse_bandwidth("12 GB/s"), 12e9);
  EXPECT_EQ(parse_duration("300 s"), 300 * kNanosPerSecond);
  EXPECT_EQ(parse_duration("2 ms"), 2 * kNanosPerMilli);
  EXPECT_DOUBLE_EQ(parse_flops("149.7 TFLOP/s"), 149.7e12);
  EXPECT_THROW(parse_bytes("32 parsecs"), std::invalid_argument);
}

TEST(ScenarioConfig, ValidBaseAndDerivedSizes) {
  const Scenario s = scenario_from_yaml(kBase);
  ASSERT_EQ(s.cluster.groups.size(), 1u);
  EXPECT_EQ(s.cluster.server_count(), 2u);
  EXPECT_EQ(s.cluster.groups[0].gpu.memory, 48ull << 30);  // A40 preset
  EXPECT_DOUBLE_EQ(s.cluster.groups[0].nic_bandwidth, 1.25e9);
  EXPECT_DOUBLE_EQ(s.cluster.groups[0].dram_bandwidth, 4 * 25e9);  // default: every PCIe link at full rate
  EXPECT_EQ(s.models.size(), 4u);
  EXPECT_EQ(s.models[3].name, "opt-6.7b/3");
  // OPT-6.7B: ~13.3 GB of fp16 weights + 2048 tokens x 0.5 MiB KV fit one 48 GiB A40 at 90%.
  const DeploymentSpec& d = s.deployments[0];
  EXPECT_EQ(d.gpus_per_instance, 1u);
  const double usable = 0.9 * static_cast<double>(48ull << 30);
  const double expected_budget =
      (usable - static_cast<double>(d.arch->checkpoint_bytes())) / static_cast<double>(d.arch->kv_bytes_per_token());
  EXPECT_EQ(d.kv_token_budget, static_cast<std::uint64_t>(expected_budget));
  EXPECT_EQ(s.simulation.request_timeout, 300 * kNanosPerSecond);
}

TEST(ScenarioConfig, GpuCountFromMemoryNeeds) {
  // OPT-30B: ~60 GB of weights: two A40s are not enough at 90% with a 2048-token reserve? 2 x 43.2 GiB
  // = 86.4 GiB > 55.9 GiB weights + 2.8 GiB KV, so 2 GPUs.
  const Scenario s = scenario_from_yaml(replace(kBase, "model: opt-6.7b", "model: opt-30b"));
  EXPECT_EQ(s.deployments[0].gpus_per_instance, 2u);
  // LLaMA-2-70B (~138 GB) needs 4 A40s; 8 would exceed the server.
  const Scenario big = scenario_from_yaml(replace(kBase, "model: opt-6.7b", "model: llama-2-70b"));
  EXPECT_EQ(big.deployments[0].gpus_per_instance, 4u);
}

TEST(ScenarioConfig, GpuPresetFieldsCanBeOverridden) {
  const Scenario s = scenario_from_yaml(
      replace(kBase, "gpus: {type: A40, count: 4}", "gpus: {type: A40, count: 4, hbm_bandwidth: 1 TB/s}"));
  EXPECT_DOUBLE_EQ(s.cluster.groups[0].gpu.hbm_bandwidth, 1e12);
  EXPECT_DOUBLE_EQ(s.cluster.groups[0].gpu.fp16_flops, 149.7e12);
}

TEST(ScenarioConfigErrors, UnknownKey) {
  const std::string msg = error_of(replace(kBase, "nic: 10 Gbps", "nic: 10 Gbps\n      nics: 2"));
  EXPECT_NE(msg.find("test.yaml:10:7: cluster.servers[0].nics: unknown key 'nics'"), std::string::npos) << msg;
}

TEST(ScenarioConfigErrors, WrongType) {
  const std::string msg = error_of(replace(kBase, "count: 2", "count: two"));
  EXPECT_NE(msg.find("test.yaml:5:14: cluster.servers[0].count: expected an integer, got 'two'"), std::string::npos)
      << msg;
}

TEST(ScenarioConfigErrors, BadUnit) {
  const std::string msg = error_of(replace(kBase, "read_bandwidth: 6 GB/s", "read_bandwidth: 6 GB"));
  EXPECT_NE(msg.find("test.yaml:8:45: cluster.servers[0].ssd.read_bandwidth: unknown bandwidth unit 'GB'"),
            std::string::npos)
      << msg;
}

TEST(ScenarioConfigErrors, OutOfRange) {
  const std::string msg = error_of(replace(kBase, "{model: opt-6.7b, count: 4}", "{model: opt-6.7b, count: 0}"));
  EXPECT_NE(msg.find("test.yaml:13:32: models.deployments[0].count: value 0 is out of range [1, 1000000]"),
            std::string::npos)
      << msg;
}

TEST(ScenarioConfigErrors, MissingKey) {
  const std::string msg = error_of(replace(kBase, "      pcie: 25 GB/s\n", ""));
  EXPECT_NE(msg.find("cluster.servers[0]: missing required key 'pcie'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("test.yaml:5:"), std::string::npos) << msg;
}

TEST(ScenarioConfigErrors, UnknownModelAndPolicyName) {
  EXPECT_NE(error_of(replace(kBase, "model: opt-6.7b", "model: gpt-5")).find("gpt-5"), std::string::npos);
  const std::string msg = error_of(replace(kBase, "name: serverlessllm", "name: fastest"));
  EXPECT_NE(msg.find("policy.name: unknown scheduling policy 'fastest'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'serverless'"), std::string::npos) << msg;
}

TEST(ScenarioConfigErrors, UnknownKeepAliveAndEvictionNames) {
  std::string msg = error_of(replace(kBase, "name: serverlessllm", "name: serverlessllm\n  keep_alive: {name: fixd}"));
  EXPECT_NE(msg.find("test.yaml:20:22: policy.keep_alive.name: unknown keep-alive policy 'fixd' (expected one of 'fixed'"),
            std::string::npos)
      << msg;
  msg = error_of(replace(kBase, "name: serverlessllm", "name: serverlessllm\n  eviction: {dram: mru}"));
  EXPECT_NE(msg.find("test.yaml:20:20: policy.eviction.dram: unknown eviction policy 'mru'"), std::string::npos) << msg;
  msg = error_of(replace(kBase, "name: serverlessllm", "name: serverlessllm\n  keep_alive: {name: fixed, timeout: 1 h, x: 1}"));
  EXPECT_NE(msg.find("policy.keep_alive.x: unknown key 'x'"), std::string::npos) << msg;
}

TEST(ScenarioConfigErrors, UnknownPolicyParameter) {
  const std::string msg = error_of(replace(kBase, "name: serverlessllm", "name: serverlessllm\n  reclaim: true"));
  EXPECT_NE(msg.find("test.yaml:20:3: policy.reclaim: unknown key 'reclaim'"), std::string::npos) << msg;
}

TEST(ScenarioConfigErrors, ModelTooLargeForAnyServer) {
  const std::string msg = error_of(replace(replace(kBase, "model: opt-6.7b", "model: llama-2-70b"),
                                           "count: 4}\nworkload", "count: 4}\nworkload"), {"cluster.servers[0].gpus.count=2"});
  EXPECT_NE(msg.find("needs 4 GPUs per instance but the largest server has 2"), std::string::npos) << msg;
}

TEST(ScenarioConfigOverrides, SetChangesValuesAndBadPathsFail) {
  const Scenario s = scenario_from_yaml(kBase, {"policy.name=serverless", "cluster.servers[0].count=3",
                                                "simulation.request_timeout=10 s"});
  EXPECT_EQ(s.scheduler.name, "serverless");
  EXPECT_EQ(s.cluster.server_count(), 3u);
  EXPECT_EQ(s.simulation.request_timeout, 10 * kNanosPerSecond);
  // A path through a scalar, an index past the end, a key no section knows.
  EXPECT_NE(error_of(kBase, {"policy.name.x=1"}).find("'x' is not inside a mapping"), std::string::npos);
  EXPECT_NE(error_of(kBase, {"cluster.servers[3].count=1"}).find("has no element 3"), std::string::npos);
  const std::string msg = error_of(kBase, {"simulation.speed=2"});
  EXPECT_NE(msg.find("simulation.speed: unknown key 'speed'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("set on the command line"), std::string::npos) << msg;
  // A bad value given with --set is located on the command line, not at a line of the file.
  const std::string unit = error_of(kBase, {"simulation.request_timeout=10 parsecs"});
  EXPECT_NE(unit.find("set on the command line: simulation.request_timeout: unknown duration unit"),
            std::string::npos) << unit;
  EXPECT_EQ(unit.find("test.yaml"), std::string::npos) << unit;
}

TEST(ScenarioConfigErrors, PlacementMustFitTheSsds) {
  // 4 OPT-6.7B checkpoints (13.3 GB each) x 2 replicas over 2 servers = 53 GB per SSD: the fourth
  // copy on server 1 (checkpoint 3; checkpoint 2's went to server 0 as its third) no longer fits.
  const std::string msg = error_of(
      replace(kBase, "models:\n", "models:\n  placement: {ssd_replicas: 2}\n"), {"cluster.servers[0].ssd.capacity=40 GB"});
  EXPECT_NE(msg.find("test.yaml:12:14: models.placement: checkpoint opt-6.7b/3 does not fit on the SSD of server1"),
            std::string::npos)
      << msg;
}

TEST(ScenarioConfigErrors, WorkloadNeedsAnEnd) {
  const std::string msg = error_of(replace(kBase, "  requests: 10\n", ""));
  EXPECT_NE(msg.find("workload: set `requests` or `duration`"), std::string::npos) << msg;
}

}  // namespace
}  // namespace sllm
