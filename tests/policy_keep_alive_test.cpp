// Hybrid histogram keep-alive ("Serverless in the Wild", ATC 2020): unit checks of its windows against
// hand-computed percentiles, and a periodic model in the simulator that becomes warm once its
// histogram is representative.
#include <gtest/gtest.h>

#include "policy_test_util.h"
#include "sllm/sim/policy.h"

namespace sllm::testing {
namespace {

std::unique_ptr<KeepAlivePolicy> hybrid(const std::string& yaml) {
  ConfigNode params = ConfigNode::load_string(yaml, "test.yaml");
  auto p = KeepAliveRegistry::instance().create("hybrid-histogram", params, params);
  params.finish();
  return p;
}

// One idle period: an instance that served becomes idle at `t`, the next request arrives `idle` later.
Nanos idle_then_request(KeepAlivePolicy& p, Nanos& t, double idle_s) {
  const Nanos keep = p.keep_alive(0, t);
  t += from_seconds(idle_s);
  p.on_request(0, t);
  return keep;
}

TEST(HybridKeepAlive, WindowsFromHeadAndTailPercentilesWithMargins) {
  auto p = hybrid("{min_samples: 10}");
  Nanos t = 0;
  // 19 idle times of 5.5 min (bin 5) and one of 12.5 min (bin 12): 5th percentile = rank 1 = bin 5
  // (head 300 s), 99th = rank 20 = bin 12 (tail 780 s).
  for (int i = 0; i < 19; ++i) idle_then_request(*p, t, 330);
  idle_then_request(*p, t, 750);
  EXPECT_EQ(p->keep_alive(0, t), 0);                                // unload at once ...
  EXPECT_EQ(p->prewarm_delay(0, t), 270 * kNanosPerSecond);         // ... pre-warm 300 s less 10% later
  EXPECT_EQ(p->keep_alive(0, t), (858 - 270) * kNanosPerSecond);    // unused: until 780 s plus 10%
  EXPECT_EQ(p->prewarm_delay(0, t), std::nullopt);                  // its expiry does not pre-warm again
}

TEST(HybridKeepAlive, FallsBackWhenTooFewSamplesOrAFlatHistogram) {
  auto few = hybrid("{min_samples: 10, fallback: 60 s}");
  Nanos t = 0;
  for (int i = 0; i < 9; ++i) idle_then_request(*few, t, 330);
  EXPECT_EQ(few->keep_alive(0, t), 60 * kNanosPerSecond);
  EXPECT_EQ(few->prewarm_delay(0, t), std::nullopt);

  // One idle time in each of the 240 bins: CV of the bin counts 0 < 2.
  auto flat = hybrid("{fallback: 5 min}");
  t = 0;
  for (int b = 0; b < 240; ++b) idle_then_request(*flat, t, 60.0 * b + 30);
  EXPECT_EQ(flat->keep_alive(0, t), 300 * kNanosPerSecond);
  EXPECT_EQ(flat->prewarm_delay(0, t), std::nullopt);

  // Mostly beyond the 4-hour range: not representative either; the default fallback is the range.
  auto far = hybrid("{}");
  t = 0;
  for (int i = 0; i < 20; ++i) idle_then_request(*far, t, 5 * 3600.0);
  EXPECT_EQ(far->keep_alive(0, t), 4 * 3600 * kNanosPerSecond);
}

TEST(HybridKeepAlive, ZeroPrewarmWindowKeepsTheInstanceLoaded) {
  auto p = hybrid("{min_samples: 5}");
  Nanos t = 0;
  for (int i = 0; i < 5; ++i) idle_then_request(*p, t, 20);  // bin 0: head 0 s, tail 60 s
  EXPECT_EQ(p->keep_alive(0, t), 66 * kNanosPerSecond);
  EXPECT_EQ(p->prewarm_delay(0, t), std::nullopt);
}

TEST(HybridKeepAlive, RejectsUnknownKeysAndBadRanges) {
  EXPECT_THROW(hybrid("{min_sample: 3}"), InputError);
  EXPECT_THROW(hybrid("{bin: 0 s}"), InputError);
  EXPECT_THROW(hybrid("{head_percentile: 50, tail_percentile: 40}"), InputError);
}

// Requests every 600 s (idle ~599.9 s, bin 9): once 5 idle times are in, pre-warm = 0.9 x 540 s =
// 486 s after the instance goes idle, kept 660 - 486 = 174 s, so the next request finds it loaded.
TEST(HybridKeepAlive, PrewarmsAPeriodicModel) {
  std::vector<RequestSpec> reqs;
  for (int i = 0; i < 15; ++i) reqs.push_back(request(600.0 * i, 0, 10, 5));
  const auto run = [&](const std::string& keep_alive, const std::string& name) {
    const Scenario sc = scenario_from_yaml(
        policy_cluster_yaml(1, 1, false, 1, "  name: serverlessllm\n  keep_alive: " + keep_alive));
    const std::string dir = temp_dir(name);
    Simulator sim(sc);
    const RunSummary s = sim.run(with_requests(reqs, dir));
    return std::make_pair(s, read_csv(dir + "/requests.csv"));
  };
  const auto [fixed, fixed_rows] = run("{name: fixed, timeout: 60 s}", "ka_fixed");
  EXPECT_EQ(fixed.cold_starts, 15u);
  const auto [hyb, rows] = run("{name: hybrid-histogram, min_samples: 5, fallback: 60 s}", "ka_hybrid");
  // Requests 0-5 are cold (the sixth brings the fifth idle time); 6-14 find a pre-warmed instance.
  for (std::uint64_t id = 0; id < 15; ++id) {
    EXPECT_EQ(row_of(rows, id).at("cold_start"), id < 6 ? "1" : "0") << "request " << id;
  }
  // Pre-warms follow requests 5-13 (none after the last arrival).
  EXPECT_EQ(hyb.prewarms, 9u);
  EXPECT_EQ(hyb.loads, 15u);  // 6 cold loads + 9 pre-warms
  EXPECT_EQ(hyb.completed, 15u);
  // Pre-warming keeps the GPU ~175 s of each 600 s period instead of 600 s with a long fixed keep-alive.
  EXPECT_LT(hyb.gpu_allocated_fraction, 0.4);
}

}  // namespace
}  // namespace sllm::testing
