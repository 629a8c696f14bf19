// The hooks later policies build on (issue 3), exercised by test-only policies: Decision::preempt and
// ::unload_idle (Shepherd-style preemption), Decision::load (populate_*, extra_startup) (cache-less
// systems, container start-up), KeepAlivePolicy::prewarm_delay (pre-warming ahead of demand).
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
      const InstanceInfo inst = view.instance(i);
      instances_seen.push_back(inst);
      if (inst.phase == InstancePhase::kIdle) {
        d.unload_idle.push_back(i);
      } else if (inst.phase != InstancePhase::kLoading && inst.model < model) {
        d.preempt.push_back(i);
        progress_seen = view.progress(i);
      } else {
        continue;
      }
      have += inst.gpus;
    }
    return have >= view.gpus_needed(model) ? d : Decision::wait();
  }
  static inline std::vector<RequestProgress> progress_seen;
  static inline std::vector<InstanceInfo> instances_seen;
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
  // What the view said about the instances on server 0 (one GPU each): A decoding (movable) when B
  // arrived, then B idle (reclaimable, not movable) when A restarted; no migrations, so exactly the
  // serving instances are movable.
  const auto saw = [](ModelId model, InstancePhase phase, bool movable) {
    for (const InstanceInfo& i : PreemptLowerModels::instances_seen) {
      if (i.model == model && i.phase == phase && i.movable == movable && i.server == 0 && i.gpus == 1) return true;
    }
    return false;
  };
  EXPECT_TRUE(saw(0, InstancePhase::kDecode, true));
  EXPECT_TRUE(saw(1, InstancePhase::kIdle, false));
  for (const InstanceInfo& i : PreemptLowerModels::instances_seen) {
    EXPECT_EQ(i.movable, i.phase == InstancePhase::kDecode || i.phase == InstancePhase::kPrefill);
  }
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

// Always from the remote store, leaving no copies, plus a fixed container start.
class RemoteNoCache final : public SchedulingPolicy {
 public:
  explicit RemoteNoCache(const ConfigNode& p) : extra_(p.get_duration("container_start", "2 s")) {}
  Decision place(const ClusterView& view, ModelId model) override {
    if (view.free_gpus(0) < view.gpus_needed(model)) return Decision::wait();
    Decision d;
    d.action = Decision::Action::kStart;
    d.server = 0;
    d.tier = Tier::kRemote;
    d.load.populate_dram = false;
    d.load.populate_ssd = false;
    d.load.extra_startup = extra_;
    return d;
  }

 private:
  Nanos extra_;
};
std::unique_ptr<SchedulingPolicy> make_remote(const ConfigNode& p) { return std::make_unique<RemoteNoCache>(p); }
SLLM_REGISTER(SchedulingPolicy, "test-remote-no-cache", "test only", make_remote);

TEST(PolicyHooks, NoCachingAndExtraStartup) {
  const Scenario sc = scenario_from_yaml(kYaml, {"policy.name=test-remote-no-cache", "policy.container_start=3 s",
                                                 "policy.keep_alive.timeout=1 s", "models.placement={ssd_replicas: 0}"});
  const std::string dir = temp_dir("nocache");
  Simulator sim(sc);
  const RunSummary s = sim.run(with_requests({request(0.0, 0, 10, 2), request(100.0, 0, 10, 2)}, dir));
  EXPECT_EQ(s.loads, 2u);
  EXPECT_EQ(s.loads_by_tier[0], 2u);  // the second cold start finds no local copy either
  const double n = static_cast<double>(ModelCatalog::builtin().get("opt-6.7b", "t").checkpoint_bytes());
  const double chunk = 32.0 * 1024 * 1024;
  const double expected = n / 1.25e9 + 2 * chunk / 1.25e9 + chunk / 25e9 + chunk / 25e9 + 3.0;
  for (const Row& r : read_csv(dir + "/requests.csv")) {
    EXPECT_EQ(r.at("load_tier"), "remote");
    EXPECT_NEAR(num(r, "load_time_s"), expected, 3e-9);
  }
}

// After serving requests: unload at once and pre-warm 50 s later; a pre-warmed instance that has
// served nobody yet stays loaded for 10 s (the shape of the hybrid histogram policy's windows).
class UnloadThenPrewarm final : public KeepAlivePolicy {
 public:
  explicit UnloadThenPrewarm(const ConfigNode&) {}
  void on_request(ModelId, Nanos) override { served_ = true; }
  Nanos keep_alive(ModelId, Nanos) override {
    const bool served = served_;
    served_ = false;
    return served ? 0 : 10 * kNanosPerSecond;
  }
  std::optional<Nanos> prewarm_delay(ModelId, Nanos) override { return 50 * kNanosPerSecond; }

 private:
  bool served_ = false;
};
std::unique_ptr<KeepAlivePolicy> make_prewarm(const ConfigNode& p) { return std::make_unique<UnloadThenPrewarm>(p); }
SLLM_REGISTER(KeepAlivePolicy, "test-prewarm-50s", "test only", make_prewarm);

TEST(PolicyHooks, PrewarmLoadsAheadOfDemand) {
  const Scenario sc = scenario_from_yaml(kYaml, {"policy.name=serverlessllm", "policy.keep_alive=test-prewarm-50s"});
  const std::string dir = temp_dir("prewarm");
  Simulator sim(sc);
  // Request 0 loads from SSD and finishes at ~3.4 s; its instance unloads at once and is pre-warmed at
  // ~53.4 s from the DRAM pool (ready ~0.5 s later), then kept 10 s: request 1 at 55.5 s is warm.
  const RunSummary s = sim.run(with_requests({request(0.0, 0, 10, 2), request(55.5, 0, 10, 2)}, dir));
  EXPECT_EQ(s.completed, 2u);
  EXPECT_EQ(s.loads, 2u);  // no pre-warm after the last request: the workload is over
  EXPECT_EQ(s.loads_by_tier[1], 1u);
  EXPECT_EQ(s.loads_by_tier[2], 1u);
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].at("cold_start"), "1");
  EXPECT_EQ(rows[1].at("cold_start"), "0");
  EXPECT_EQ(rows[1].at("service_start_s"), rows[1].at("arrival_s"));
}

}  // namespace
}  // namespace sllm
