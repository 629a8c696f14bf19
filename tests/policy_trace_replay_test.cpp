// Replays a 10-minute window of the Azure LLM 2023 conversation trace (Splitwise, ISCA 2024) on the
// default cluster (configs/default.yaml: 4 servers x 4 A40, 32 OPT-6.7B checkpoints, round-robin
// mapping, the trace's token lengths) under every registered scheduling policy (with the testbed (ii)
// profile's loader laws, which the baselines' Safetensors loads need), and under the
// non-default keep-alive and eviction choices: every run must conserve requests and see exactly the
// trace's requests of that window. Skipped when ../shared/data (or $SLLM_SHARED_DATA_DIR) is absent.
#include <gtest/gtest.h>

#include <filesystem>

#include "policy_test_util.h"
#include "sllm/sim/policy.h"
#include "sllm/traces/mapping.h"

namespace sllm::testing {
namespace {

const std::string kTrace = shared_data_path("traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv");

std::function<std::unique_ptr<RequestSource>()> trace_window(std::uint32_t models) {
  return [models]() {
    const ConfigNode workload = ConfigNode::load_string(
        "{kind: trace, format: azure-llm, path: '" + kTrace + "', mapping: round-robin, lengths: trace, "
        "duration: 10 min}", "replay.yaml");
    return traces::make_trace_source(workload, models, 1);
  };
}

std::uint64_t count_requests(const std::function<std::unique_ptr<RequestSource>()>& make) {
  auto source = make();
  RequestSpec spec;
  std::uint64_t n = 0;
  while (source->next(spec)) ++n;
  return n;
}

TEST(TraceReplay, AzureConversationWindowConservesRequestsUnderEveryPolicy) {
  if (!std::filesystem::exists(kTrace)) GTEST_SKIP() << "trace data absent: " << kTrace;
  const std::string config = std::string(SLLM_SOURCE_DIR) + "/configs/default.yaml";
  const Scenario base = Scenario::load(config);
  const auto make = trace_window(static_cast<std::uint32_t>(base.models.size()));
  const std::uint64_t expected = count_requests(make);
  ASSERT_GT(expected, 2000u);  // ~5.5 requests/s over 10 minutes

  // Each scheduling policy on the default cluster with the testbed (ii) profile, which has a law for every
  // loader mode the policies use (its sllm law is the default cluster's 6 GB/s SSD).
  std::vector<std::vector<std::string>> variants;
  for (const auto& [name, summary] : SchedulingRegistry::instance().list()) {
    variants.push_back({"policy.name=" + name,
                        "cluster.profile={file: " + std::string(SLLM_SOURCE_DIR) +
                            "/configs/profiles/testbed-ii-paper.yaml, loader: sllm}",
                        "cluster.servers[0].ssd={capacity: 2 TB}"});
  }
  variants.push_back({"policy.keep_alive={name: hybrid-histogram, fallback: 60 s}"});
  variants.push_back({"policy.eviction={dram: lfu, ssd: lfu}", "cluster.servers[0].dram.capacity=40 GB"});
  for (const auto& overrides : variants) {
    std::vector<std::string> all = overrides;
    all.push_back("output.requests_csv=false");
    const Scenario sc = Scenario::load(config, all);
    Simulator sim(sc);
    RunOptions options;
    options.source = make;
    const RunSummary s = sim.run(options);  // throws if conservation is violated
    SCOPED_TRACE(overrides.front());
    EXPECT_EQ(s.arrived, expected);
    EXPECT_EQ(s.arrived, s.completed + s.timed_out + s.rejected + s.running);
    EXPECT_EQ(s.running, 0u);
    EXPECT_GT(s.completed, 0u);
    EXPECT_LE(s.migrations_completed + s.migrations_dropped, s.migrations_started);
  }
}

}  // namespace
}  // namespace sllm::testing
