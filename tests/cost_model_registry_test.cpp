// Cost model kinds are a registry: a kind registered from one file (here, this test) is chosen by
// `simulation.cost_model.kind`, reads its own parameters from that section, and drives a run; unknown
// kinds and keys are rejected with the known names.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "cli_test_util.h"
#include "sim_test_util.h"
#include "sllm/core/error.h"
#include "sllm/sim/cost_model.h"

namespace sllm {
namespace {

using namespace sllm::testing;

// A test-only kind: every prefill takes `prefill`, every decode step `step`, whatever the model, GPU,
// batch or context (one flat line of the step law).
class ConstantCostModel final : public CostModel {
 public:
  explicit ConstantCostModel(const ConfigNode& params)
      : prefill_(to_seconds(params.get_duration("prefill"))), step_(to_seconds(params.get_duration("step"))) {}
  double prefill_seconds(const ModelArch&, const GpuSpec&, std::uint32_t, std::uint64_t, double) const override {
    return prefill_;
  }
  StepLaw decode_law(const ModelArch&, const GpuSpec&, std::uint32_t, std::uint32_t) const override {
    StepLaw law;
    law.lines = 1;
    law.base[0] = step_;
    return law;
  }

 private:
  double prefill_, step_;
};

std::unique_ptr<CostModel> make_constant(const ConfigNode& params) { return std::make_unique<ConstantCostModel>(params); }

SLLM_REGISTER(CostModel, "constant-test", "test only: fixed prefill and decode-step times", make_constant);

// One A40 with one warm instance of opt-6.7b (kept alive throughout), the given cost model section.
std::string scenario_yaml(const std::string& cost_model) {
  return R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  servers:
    - gpus: {type: A40, count: 1}
      dram: {capacity: 64 GB}
      ssd: {capacity: 1 TB, read_bandwidth: 4 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  deployments:
    - {model: opt-6.7b, warm_instances: 1}
workload: {kind: synthetic, requests: 1, rps: 1}
policy:
  name: serverlessllm
  keep_alive: {name: fixed, timeout: 1000 s}
simulation:
  cost_model: )" + cost_model + "\n";
}

TEST(CostModelRegistry, ATestKindsClosedFormStepTimesShowInARun) {
  // Prefill 250 ms, decode step 15.625 ms (both exact in binary and in nanoseconds).
  const Scenario sc = scenario_from_yaml(scenario_yaml("{kind: constant-test, prefill: 250 ms, step: 15.625 ms}"));
  EXPECT_EQ(sc.simulation.cost_model.kind.name, "constant-test");
  const std::string dir = temp_dir("constant_cost_model");
  Simulator sim(sc);
  // A lone request on the warm instance: served at arrival, the prefill yields the first token, then one
  // decode step per further token. Later, two arriving together: the first starts its prefill at once,
  // the second joins at the next step boundary (the end of that prefill) with a prefill of its own,
  // during which the first's decoding pauses; then they share every step.
  sim.run(with_requests({request(1.0, 0, 100, 21), request(10.0, 0, 50, 5), request(10.0, 0, 70, 9)}, dir));
  const auto rows = read_csv(dir + "/requests.csv");  // in completion order
  ASSERT_EQ(rows.size(), 3u);
  const double prefill = 0.25, step = 0.015625;
  struct Expected {
    const char* output_tokens;
    double ttft, latency;
  };
  const Expected expected[] = {
      {"21", prefill, prefill + 20 * step},         // 0.5625 s
      {"5", prefill, 2 * prefill + 4 * step},       // its 4 steps after the second's prefill
      {"9", 2 * prefill, 2 * prefill + 8 * step},   // first token after both prefills, then 8 steps
  };
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    EXPECT_EQ(r.at("output_tokens"), expected[i].output_tokens) << "row " << i;
    EXPECT_EQ(r.at("cold_start"), "0") << "row " << i;
    EXPECT_EQ(r.at("outcome"), "completed") << "row " << i;
    EXPECT_DOUBLE_EQ(num(r, "ttft_s"), expected[i].ttft) << "row " << i;
    EXPECT_DOUBLE_EQ(num(r, "latency_s"), expected[i].latency) << "row " << i;
  }
}

TEST(CostModelRegistry, UnknownKindIsAnInputErrorListingTheKnownKinds) {
  try {
    scenario_from_yaml(scenario_yaml("{kind: nonesuch}"));
    FAIL() << "an unknown cost model kind was accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("simulation.cost_model.kind"), std::string::npos) << what;
    EXPECT_NE(what.find("unknown cost model 'nonesuch'"), std::string::npos) << what;
    EXPECT_NE(what.find("'roofline'"), std::string::npos) << what;
    EXPECT_NE(what.find("'constant-test'"), std::string::npos) << what;
  }
  // Through the CLI (whose registry has the built-in kinds only): exit status 2 and the known kinds.
  const std::string dir = temp_dir("unknown_cost_model");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/scenario.yaml") << scenario_yaml("{kind: nonesuch}");
  const CliResult r = run_sllmsim("run -q -c " + dir + "/scenario.yaml -o " + dir + "/out");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("unknown cost model 'nonesuch' (expected one of 'roofline')"), std::string::npos) << r.output;
}

TEST(CostModelRegistry, EachKindReadsOnlyItsOwnParameters) {
  // The roofline's keys are the roofline's: another kind rejects them, and the roofline rejects another's.
  for (const std::string& section : {std::string("{kind: constant-test, prefill: 1 s, step: 1 ms, hbm_efficiency: 0.9}"),
                                     std::string("{kind: roofline, step: 1 ms}"), std::string("{step: 1 ms}")}) {
    try {
      scenario_from_yaml(scenario_yaml(section));
      FAIL() << "accepted " << section;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("unknown key"), std::string::npos) << e.what();
    }
  }
  // A kind's required parameter is required.
  EXPECT_THROW(scenario_from_yaml(scenario_yaml("{kind: constant-test, prefill: 1 s}")), InputError);
  // The default kind is the roofline, with its parameters.
  const Scenario sc = scenario_from_yaml(scenario_yaml("{hbm_efficiency: 1.0, step_overhead: 2 ms}"));
  EXPECT_EQ(sc.simulation.cost_model.kind.name, "roofline");
}

TEST(CostModelRegistry, RooflineStepOverheadIsReadFromItsSection) {
  // The same prefill with and without a 2 ms step overhead differs by exactly 2 ms (the roofline's
  // parameter reaches the model built from the spec).
  const Scenario plain = scenario_from_yaml(scenario_yaml("{kind: roofline}"));
  const Scenario slow = scenario_from_yaml(scenario_yaml("{kind: roofline, step_overhead: 2 ms}"));
  const auto a = make_cost_model(plain.simulation.cost_model);
  const auto b = make_cost_model(slow.simulation.cost_model);
  const ModelArch& arch = *plain.models[0].arch;
  const GpuSpec& gpu = plain.cluster.groups[0].gpu;
  EXPECT_NEAR(b->prefill_seconds(arch, gpu, 1, 100, 1e4) - a->prefill_seconds(arch, gpu, 1, 100, 1e4), 2e-3, 1e-12);
  EXPECT_NEAR(b->decode_law(arch, gpu, 1, 4).at(500) - a->decode_law(arch, gpu, 1, 4).at(500), 2e-3, 1e-12);
}

}  // namespace
}  // namespace sllm
