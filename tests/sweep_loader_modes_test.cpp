// Loader modes in simulation (figures 1 and 2): a profile may hold laws for the loader's ablation modes,
// and `cluster.profile.loader` picks the law a cold load from the SSD follows. Expected load times are
// the law written out: overhead + checkpoint bytes / bandwidth.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "sim_test_util.h"
#include "sllm/core/error.h"
#include "sllm/core/model_arch.h"

namespace sllm {
namespace {

namespace fs = std::filesystem;

constexpr const char* kProfile = R"(profile_version: 1
machine: {cpu: test, gpu: test, disk: test, driver: test, kernel: test, date: "2026", device: test}
loader:
  chunk_size: "32 MiB"
  modes:
    sllm: {ssd: {bandwidth: "8 GB/s", overhead: "0 s", points: 1}}
    bulk: {ssd: {bandwidth: "2 GB/s", overhead: "0.5 s", points: 1}}
)";

std::string write_case(const std::string& name, const std::string& loader) {
  const fs::path dir = testing::temp_dir(name);
  fs::create_directories(dir);
  std::ofstream(dir / "profile.yaml") << kProfile;
  std::ofstream(dir / "scenario.yaml") << R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  profile: {file: profile.yaml, loader: )" << loader << R"(}
  servers:
    - gpus: {type: A40, count: 1}
      dram: {capacity: 64 GB}
      ssd: {capacity: 1 TB}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  placement: {ssd_replicas: 1, dram: false}
  deployments:
    - {model: opt-2.7b, count: 1, kv_reserve_tokens: 64}
workload: {kind: synthetic, requests: 1, rps: 1, lengths: {kind: fixed, input: 8, output: 1}}
policy: {name: serverlessllm}
output: {timing: false}
)";
  return (dir / "scenario.yaml").string();
}

double cold_load_seconds(const std::string& config) {
  const Scenario scenario = Scenario::load(config);
  Simulator sim(scenario);
  const RunSummary summary = sim.run();
  EXPECT_EQ(summary.load_time.count, 1u);
  return summary.load_time.mean;
}

TEST(SimLoaderModes, AblationModeLawGovernsTheColdLoad) {
  const double bytes = static_cast<double>(ModelCatalog::builtin().get("opt-2.7b", "test").checkpoint_bytes());
  EXPECT_NEAR(cold_load_seconds(write_case("mode_bulk", "bulk")), 0.5 + bytes / 2e9, 1e-6);
  EXPECT_NEAR(cold_load_seconds(write_case("mode_sllm", "sllm")), bytes / 8e9, 1e-6);
}

TEST(SimLoaderModes, MissingOrUnknownModeIsAnInputErrorNamingIt) {
  try {
    Scenario::load(write_case("mode_missing", "pinned"));
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("has no loader laws for mode 'pinned'"), std::string::npos) << e.what();
  }
  try {
    Scenario::load(write_case("mode_unknown", "fastest"));
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown loader mode 'fastest'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sllm
