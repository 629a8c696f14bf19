// A `--quick` CPU calibration through the CLI writes a profile and its measurements that the simulator
// loads and runs with, and that `calibrate validate` replays (no timing assertions: CI machines are noisy).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <variant>

#include "cli_test_util.h"
#include "sim_test_util.h"
#include "sllm/calibrate/calibration.h"
#include "sllm/calibrate/validate.h"
#include "sllm/sim/profile.h"

namespace sllm {
namespace {

namespace fs = std::filesystem;

TEST(CalibrateQuick, CpuProfileLoadsIntoTheSimulatorAndValidates) {
  const std::string dir = testing::temp_dir("calibrate_quick");
  fs::create_directories(dir);
  const std::string profile = dir + "/cpu.yaml";
  const testing::CliResult calibration =
      testing::run_sllmsim("calibrate --quick --device cpu -o " + profile + " --dir " + dir);
  ASSERT_EQ(calibration.status, 0) << calibration.output;
  // The scratch directory was removed; profile and measurements remain.
  for (const auto& entry : fs::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename().string().rfind("sllm-calibrate-", 0), std::string::npos) << entry.path();
  }
  const Profile p = read_profile(profile);
  EXPECT_EQ(p.machine.device, "cpu");
  EXPECT_FALSE(p.machine.cpu.empty());
  EXPECT_FALSE(p.machine.date.empty());
  EXPECT_TRUE(p.probes.count("ssd_read_best"));
  // Probe migrations complete on a CPU too (a source that cannot outlast the destination's load waits for
  // it), so the CPU profile has migration laws fitted from real rounds.
  EXPECT_FALSE(p.migration.empty());
  for (const MigrationProfile& m : p.migration) EXPECT_GE(m.pause_fit.points, 1) << m.model;
  for (const char* mode : {"sllm", "safetensors", "torch"}) {
    ASSERT_TRUE(p.loader.count(mode)) << mode;
    ASSERT_TRUE(p.loader.at(mode).ssd && p.loader.at(mode).dram) << mode;
    EXPECT_GT(p.loader.at(mode).ssd->bandwidth, 0);
    EXPECT_EQ(p.loader.at(mode).ssd->fit.points, 3);  // three checkpoint sizes
  }
  ASSERT_NE(p.find_engine("tiny-opt", 1), nullptr);
  ASSERT_NE(p.find_engine("tiny-llama", 1), nullptr);
  EXPECT_EQ(p.find_engine("tiny-opt", 1)->prefill_fit.points, 4);
  // 3 batch sizes x 3 contexts, split into 1-3 pieces by the data: every point in exactly one piece, the
  // ranges increasing, the last one open.
  const auto& decode = p.find_engine("tiny-opt", 1)->decode;
  ASSERT_GE(decode.size(), 1u);
  ASSERT_LE(decode.size(), 3u);
  int points = 0;
  for (std::size_t i = 0; i < decode.size(); ++i) {
    points += decode[i].fit.points;
    if (i > 0) {
      EXPECT_GT(decode[i].max_batch, decode[i - 1].max_batch);
    }
  }
  EXPECT_EQ(points, 9);
  EXPECT_EQ(decode.back().max_batch, DecodePiece::kUnbounded);
  const auto measurements = calibrate::read_measurements(dir + "/" + p.measurements);
  EXPECT_GE(measurements.size(), 18u + 26u);  // 3 modes x 3 sizes x 2 tiers; 2 models x (4 + 9) engine points

  // A scenario naming it runs to completion on the measured laws.
  std::ofstream(dir + "/scenario.yaml") << "cluster:\n  profile: cpu.yaml\n  remote_store: {bandwidth: 10 Gbps}\n"
                                           "  servers:\n    - gpus: {type: A40, count: 2}\n"
                                           "      dram: {capacity: 1 GB}\n      ssd: {capacity: 100 GB}\n      nic: 10 Gbps\n"
                                           "models:\n  deployments: [{model: tiny-opt, count: 3}, {model: tiny-llama, count: 3}]\n"
                                           "workload: {kind: synthetic, requests: 200, rps: 20, lengths: {kind: fixed, input: 32, output: 8}}\n"
                                           "policy: {name: serverlessllm}\n";
  const Scenario sc = Scenario::load(dir + "/scenario.yaml");
  ASSERT_TRUE(sc.cluster.profile);
  EXPECT_EQ(sc.cluster.groups[0].ssd_read_bandwidth, p.loader.at("sllm").ssd->bandwidth);
  ASSERT_EQ(testing::run_sllmsim("run -q -c " + dir + "/scenario.yaml -o " + dir + "/sim").status, 0);
  const auto rows = testing::read_csv(dir + "/sim/requests.csv");
  EXPECT_EQ(rows.size(), 200u);

  // validate replays every load, prefill and decode point through the simulator's paths.
  const auto replay = calibrate::validate(profile, measurements);
  std::size_t loads = 0;
  for (const auto& r : replay) {
    EXPECT_GT(r.predicted, 0) << calibrate::kind_name(r.measured.operation);
    loads += std::holds_alternative<calibrate::LoadOperation>(r.measured.operation) ? 1 : 0;
  }
  // --quick: 3 checkpoint sizes x 8 loader modes (sllm, safetensors, torch and the 5 earlier ablation
  // steps) x 2 tiers (cold from SSD, warm from DRAM), each the median of its 2 rounds (a row per round).
  EXPECT_EQ(loads, 3u * 8u * 2u);
  EXPECT_EQ(std::count_if(measurements.begin(), measurements.end(),
                          [](const auto& m) { return std::holds_alternative<calibrate::LoadOperation>(m.operation); }),
            3 * 8 * 2 * 2);
  for (const auto& r : replay) {
    if (const auto* load = std::get_if<calibrate::LoadOperation>(&r.measured.operation)) {
      EXPECT_EQ(r.observations, 2u) << load->mode << " " << load->bytes;
    }
  }
  EXPECT_EQ(testing::run_sllmsim("calibrate validate --profile " + profile).status, 0);
  // refit: the same measurements give the same laws; machine and probes are kept.
  ASSERT_EQ(testing::run_sllmsim("calibrate refit --profile " + profile + " -o " + dir + "/refit.yaml").status, 0);
  EXPECT_EQ(read_profile(dir + "/refit.yaml"), p);
  EXPECT_EQ(testing::run_sllmsim("calibrate validate --profile " + dir + "/nowhere.yaml").status, 2);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sllm
