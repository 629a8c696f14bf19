// Trace replay benchmark: both Azure LLM 2023 traces (code: 8,819 requests, conversation: 19,366) on
// the default cluster (configs/default.yaml: 4 servers x 4 A40, 32 OPT-6.7B checkpoints, round-robin
// mapping, the trace's token lengths) with `serverlessllm` and live migration on, plus the other
// policies for comparison. Target: under 1 s wall per trace with serverlessllm + migration. Baseline
// measured in the same run: reading and mapping the trace alone (the floor of any replay). Best of N.
//   bench_trace_replay [DATA_DIR] [repeats] [CONFIG]   (run from the repository root; defaults
//   ../shared/data, 5, configs/default.yaml)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "sllm/core/config_node.h"
#include "sllm/sim/policy.h"
#include "sllm/sim/scenario.h"
#include "sllm/sim/simulator.h"
#include "sllm/traces/mapping.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

int main(int argc, char** argv) {
  const std::string data = argc > 1 ? argv[1] : "../shared/data";
  const int repeats = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  const std::string config = argc > 3 ? argv[3] : "configs/default.yaml";
  std::printf("%-34s %-26s %9s %10s %10s %8s %8s %8s %9s\n", "trace", "policy", "requests", "read (s)", "replay (s)",
              "ratio", "migr.", "preempt.", "p50 lat");
  for (const char* file : {"AzureLLMInferenceTrace_code.csv", "AzureLLMInferenceTrace_conv.csv"}) {
    const std::string path = data + "/traces/azure-llm-2023/" + file;
    if (!std::filesystem::exists(path)) {
      std::printf("%s: absent, skipped\n", path.c_str());
      continue;
    }
    for (const char* policy : {"serverlessllm", "serverlessllm-no-migration", "shepherd", "serverless", "ray-serve"}) {
      std::vector<std::string> overrides = {"output.requests_csv=false"};
      const std::string name = policy;
      if (name == "serverlessllm-no-migration") {
        overrides.push_back("policy.name=serverlessllm");
        overrides.push_back("policy.migration={enabled: false}");
      } else {
        overrides.push_back("policy.name=" + name);
      }
      // The default config names no profile, so it has only the scenario's loader law: Ray Serve replays
      // the trace with it (what is timed here is the replay, not Ray Serve's Safetensors loading).
      if (name == "ray-serve") overrides.push_back("policy.loader=sllm");
      const sllm::Scenario sc = sllm::Scenario::load(config, overrides);
      const auto models = static_cast<std::uint32_t>(sc.models.size());
      const auto make = [&]() {
        const sllm::ConfigNode workload = sllm::ConfigNode::load_string(
            "{kind: trace, format: azure-llm, path: '" + path + "', mapping: round-robin, lengths: trace}", "bench");
        return sllm::traces::make_trace_source(workload, models, 1);
      };
      double read_best = 1e30, replay_best = 1e30;
      sllm::RunSummary summary;
      for (int r = 0; r < repeats; ++r) {
        // Baseline and measurement alternate, so machine noise hits both alike.
        auto t0 = Clock::now();
        auto source = make();
        sllm::RequestSpec spec;
        std::uint64_t n = 0;
        while (source->next(spec)) ++n;
        read_best = std::min(read_best, seconds_since(t0));
        if (n == 0) return 1;
        t0 = Clock::now();
        sllm::Simulator sim(sc);
        sllm::RunOptions options;
        options.source = make;
        summary = sim.run(options);
        replay_best = std::min(replay_best, seconds_since(t0));
      }
      std::printf("%-34s %-26s %9llu %10.4f %10.4f %8.1f %8llu %8llu %9.3f\n", file, policy,
                  static_cast<unsigned long long>(summary.arrived), read_best, replay_best, replay_best / read_best,
                  static_cast<unsigned long long>(summary.migrations_completed),
                  static_cast<unsigned long long>(summary.preemptions), summary.latency.p50);
    }
  }
  return 0;
}
