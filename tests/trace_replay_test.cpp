// Trace replay through `sllmsim run`: a trace workload set on the default scenario replays every
// request of the trace, and the run's request conservation holds for every registered scheduling policy.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "cli_test_util.h"
#include "sim_test_util.h"
#include "sllm/sim/policy.h"
#include "trace_test_util.h"

namespace sllm::traces {
namespace {

using testing::ScratchDir;

struct Counts {
  long arrived = -1, completed = -1, timed_out = -1, rejected = -1, running = -1;
};

Counts request_counts(const std::string& summary_json) {
  Counts c;
  const auto field = [&](const char* name) {
    std::smatch m;
    const std::regex re(std::string("\"") + name + "\": ([0-9]+)");
    return std::regex_search(summary_json, m, re) ? std::stol(m[1]) : -1L;
  };
  c.arrived = field("arrived");
  c.completed = field("completed");
  c.timed_out = field("timed_out");
  c.rejected = field("rejected");
  c.running = field("running");
  return c;
}

// Runs the default scenario with `workload` replaced (and `extra` arguments); returns the summary's
// request counts.
Counts replay(const ScratchDir& dir, const std::string& workload, const std::string& policy,
              const std::string& extra = "") {
  const std::string out = dir.file("run-" + policy);
  const std::string args = "run -q -c " + std::string(SLLM_SOURCE_DIR) + "/configs/default.yaml" + " --set 'workload=" +
                           workload + "' --set policy.name=" + policy + extra + " -o " + out;
  const sllm::testing::CliResult r = sllm::testing::run_sllmsim(args);
  EXPECT_TRUE(r.status == 0) << args << "\n" << r.output;
  return request_counts(sllm::testing::read_text(out + "/summary.json"));
}

TEST(TraceReplay, EveryRequestOfASmallTraceArrivesAndIsAccountedFor) {
  ScratchDir dir;
  // 120 requests, one every 0.5 s, on an Azure LLM-style trace.
  std::string text = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  for (int i = 0; i < 120; ++i) {
    char row[80];
    std::snprintf(row, sizeof row, "2023-11-16 18:%02d:%02d.%d000000,%d,%d\n", i / 120, (i / 2) % 60, (i % 2) * 5,
                  100 + i, 1 + i % 50);
    text += row;
  }
  const auto trace = dir.write("small.csv", text);
  const Counts c = replay(dir, "{kind: trace, path: " + trace + ", mapping: round-robin}", "serverlessllm");
  EXPECT_EQ(c.arrived, 120);
  EXPECT_EQ(c.arrived, c.completed + c.timed_out + c.rejected + c.running);
}

TEST(TraceReplay, AzureConversationTraceConservesRequestsUnderEveryPolicy) {
  const std::string conv = sllm::testing::shared_data_path("traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv");
  if (!std::filesystem::exists(conv)) GTEST_SKIP() << "no " << conv << " (see docs/traces.md)";
  ScratchDir dir;
  const auto policies = SchedulingRegistry::instance().list();
  ASSERT_FALSE(policies.empty());
  // The testbed (ii) profile has a law for every loader mode the policies use (the baselines load with
  // Safetensors); its sllm law is the default cluster's 6 GB/s SSD.
  const std::string profile = " --set 'cluster.profile={file: " + std::string(SLLM_SOURCE_DIR) +
                              "/configs/profiles/testbed-ii-paper.yaml, loader: sllm}' --set "
                              "'cluster.servers[0].ssd={capacity: 2 TB}'";
  for (const auto& [name, summary] : policies) {
    const Counts c = replay(dir, "{kind: trace, path: " + conv + ", mapping: round-robin}", name, profile);
    EXPECT_EQ(c.arrived, 19'366) << name;
    EXPECT_EQ(c.arrived, c.completed + c.timed_out + c.rejected + c.running) << name;
  }
}

}  // namespace
}  // namespace sllm::traces
