// The decision hooks later policies build on (issue 3): a test-only policy that preempts running
// instances (Shepherd-style) and reclaims idle ones exercises Decision::preempt and ::unload_idle.
#include <gtest/gtest.h>

#include <string>

#include "sim_test_util.h"
#include "sllm/sim/policy.h"

namespace sllm {
namespace {

using namespace sllm::testing;

// Everything on server 0. A model may preempt instances of lower-numbered models (never the reverse,
// so there is no ping-pong); idle instances are reclaimed.
class PreemptLowerModels final : public SchedulingPolicy {
 public:
  explicit PreemptLowerModels(const ConfigNode&) {}
  bool may_preempt() const override { return true; }
  Decision place(const ClusterView& view, ModelId model) override {
    Decision d;
    d.action = Decision::Action::kStart;
    d.server = 0;
    d.tier = view.best_tier(0, model);
    std::uint32_t have = view.free_gpus(0);
    for (InstanceId i : view.instances_on(0)) {
      if (have >= view.gpus_needed(model)) break;
      const Instance& inst = view.instance(i);
      if (inst.state == InstanceState::kIdle) {
        d.unload_idle.push_back(i);
      } else if (inst.state != InstanceState::kLoading && inst.model < model) {
        d.preempt.push_back(i);
        progress_seen = view.progress(i);
      } else {
        continue;
      }
      have += static_cast<std::uint32_t>(inst.gpus.size());
    }
    return have >= view.gpus_needed(model) ? d : Decision::wait();
  }
  static inline std::vector<RequestProgress> progress_seen;
};

std::unique_ptr<SchedulingPolicy> make_preempt(const ConfigNode& p) { return std::make_unique<PreemptLowerModels>(p); }
SLLM_REGISTER(SchedulingPolicy, "test-preempt-lower", "test only", make_preempt);

const char* kYaml = R"(cluster:
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
    - {model: opt-6.7b, count: 2}
workload: {kind: synthetic, requests: 1, rps: 1}
policy:
  name: test-preempt-lower
  keep_alive: {name: fixed, timeout: 100 s}
)";

TEST(Preemption, RunningInferenceRestartsFromScratchAndItsProgressIsCounted) {
  ASSERT_EQ(std::string(kYaml).find("ssd_replicas"), std::string::npos);  // default: checkpoint i on server 0
  const Scenario sc = scenario_from_yaml(kYaml);
  const std::string dir = temp_dir("preempt");
  Simulator sim(sc);
  // A (model 0) starts decoding ~4 s in; B (model 1) arrives at 10 s and preempts it.
  const RunSummary s = sim.run(with_requests({request(0.0, 0, 50, 1000), request(10.0, 1, 50, 10)}, dir));
  EXPECT_EQ(s.completed, 2u);
  EXPECT_EQ(s.preemptions, 1u);
  ASSERT_EQ(PreemptLowerModels::progress_seen.size(), 1u);
  const RequestProgress& seen = PreemptLowerModels::progress_seen[0];
  EXPECT_EQ(seen.output_tokens, 1000u);
  EXPECT_GT(seen.generated, 100u);  // ~6 s of ~25 ms decode steps
  EXPECT_LT(seen.generated, 1000u);
  EXPECT_EQ(s.lost_tokens, seen.generated);
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 2u);
  const Row& b = rows[0].at("model") == "opt-6.7b/1" ? rows[0] : rows[1];
  const Row& a = rows[0].at("model") == "opt-6.7b/0" ? rows[0] : rows[1];
  // A restarted after B finished and went idle (B's idle instance was reclaimed): later than B, and its
  // service restarted after B's completion.
  EXPECT_GT(num(a, "service_start_s"), num(b, "completion_s"));
  EXPECT_GT(num(a, "completion_s"), num(b, "completion_s"));
  EXPECT_EQ(s.loads, 3u);  // A, B, A again (from the DRAM pool its first load filled)
  EXPECT_EQ(s.loads_by_tier[2], 1u);
  EXPECT_EQ(s.arrived, s.completed + s.timed_out + s.rejected + s.running);
}

}  // namespace
}  // namespace sllm
