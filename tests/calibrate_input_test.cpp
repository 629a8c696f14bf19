// Bad input to `sllmsim calibrate`: measurements that do not say what their kind needs, laws with too
// few points to fit or validate, an output folder that cannot take the profile; and the replay scenario
// built in code (Scenario::from_parts) against the same scenario read from a config.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "sim_test_util.h"
#include "sllm/calibrate/calibration.h"
#include "sllm/calibrate/validate.h"
#include "sllm/core/error.h"
#include "sllm/sim/profile.h"
#include "sllm/sim/scenario.h"

namespace sllm::calibrate {
namespace {

namespace fs = std::filesystem;

const std::string kProfiles = std::string(SLLM_SOURCE_DIR) + "/configs/profiles";
const std::string kCpuProfile = kProfiles + "/cpu-devvm-2026-11-22-quick.yaml";
const std::string kHeader = "kind,model,mode,tier,x0,x1,seconds\n";

std::string write(const std::string& dir, const std::string& name, const std::string& text) {
  fs::create_directories(dir);
  std::ofstream(dir + "/" + name) << text;
  return dir + "/" + name;
}

// The message of the InputError `f` throws ("" when it throws none).
template <class F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(CalibrateInput, RowsReadIntoTheirKindsTypedOperation) {
  const std::string dir = testing::temp_dir("calibrate_input_typed");
  const auto rows = read_measurements(write(dir, "m.csv", kHeader + "load,,torch,dram,268435456,0,0.5\n"
                                                                    "prefill,tiny-opt,,,16,256,0.01\n"
                                                                    "decode,tiny-opt,,,4,260,0.02\n"
                                                                    "recompute,opt-2.7b,,,12,100,0.03\n"
                                                                    "pause,opt-2.7b,,,2,112,0.04\n"));
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].operation, Operation(LoadOperation{"torch", Tier::kDram, 268435456}));
  EXPECT_EQ(rows[1].operation, Operation(PrefillOperation{"tiny-opt", 16, 256}));
  EXPECT_EQ(rows[2].operation, Operation(DecodeOperation{"tiny-opt", 4, 260}));
  EXPECT_EQ(rows[3].operation, Operation(RecomputeOperation{"opt-2.7b", 12, 100}));
  EXPECT_EQ(rows[4].operation, Operation(PauseOperation{"opt-2.7b", 2, 112}));
  EXPECT_EQ(rows[4].seconds, 0.04);
  fs::remove_all(dir);
}

// Each kind fills its own cells: a count is a whole number, a load names a mode and no model, the other
// kinds a model and no mode or tier. Errors name the line and the column.
TEST(CalibrateInput, CellsThatDoNotBelongToTheKindAreErrorsAtLineAndColumn) {
  const std::string dir = testing::temp_dir("calibrate_input_cells");
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"load,,sllm,ssd,1.5,0,1", "column x0: expected a whole number"},
      {"decode,tiny-opt,,,-2,16,1", "column x0: expected a whole number"},
      {"prefill,tiny-opt,,,8,64.25,1", "column x1: expected a whole number"},
      {"load,,,ssd,1,0,1", "column mode"},
      {"load,tiny-opt,sllm,ssd,1,0,1", "column model"},
      {"load,,sllm,ssd,1,5,1", "column x1"},
      {"decode,,,,1,16,1", "column model"},
      {"decode,tiny-opt,sllm,,1,16,1", "column mode"},
      {"recompute,tiny-opt,,ssd,1,16,1", "column tier"}};
  for (const auto& [row, what] : bad) {
    const std::string path = write(dir, "m.csv", kHeader + "load,,sllm,ssd,1,0,1\n" + row + "\n");
    const std::string error = input_error([&] { read_measurements(path); });
    EXPECT_TRUE(contains(error, "m.csv:3")) << row << ": " << error;
    EXPECT_TRUE(contains(error, what)) << row << ": " << error;
  }
  fs::remove_all(dir);
}

// The committed measurements read (their profiles refit from them: calibrate_fit_test) and write back
// byte for byte: the typed rows keep the file's format.
TEST(CalibrateInput, CommittedMeasurementsWriteBackUnchanged) {
  const std::string dir = testing::temp_dir("calibrate_input_committed");
  fs::create_directories(dir);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(kProfiles)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".measurements.csv") == std::string::npos) continue;
    write_measurements(read_measurements(entry.path().string()), dir + "/" + name);
    EXPECT_EQ(testing::read_text(dir + "/" + name), testing::read_text(entry.path().string())) << name;
    ++files;
  }
  EXPECT_GE(files, 2);
  fs::remove_all(dir);
}

// Each law needs as many distinct points as it has coefficients (a decode piece more than that): a
// measurements file with fewer cannot be fitted or validated, and the error says which law and how many.
TEST(CalibrateInput, TooFewPointsNameTheLawAndWhatItNeeds) {
  struct Case {
    std::vector<Measurement> rows;
    std::string law, needs;
  };
  const LoadOperation one_size{"sllm", Tier::kSsd, 1 << 20};
  const std::vector<Case> cases = {
      // Rounds of one size are one point.
      {{{one_size, 0.01}, {one_size, 0.011}, {one_size, 0.012}}, "load sllm ssd law: 1,", "at least 2"},
      {{{PrefillOperation{"tiny-opt", 8, 64}, 1e-3}, {PrefillOperation{"tiny-opt", 16, 256}, 2e-3}},
       "prefill tiny-opt law: 2,", "at least 3"},
      {{{DecodeOperation{"tiny-opt", 1, 16}, 1e-3}, {DecodeOperation{"tiny-opt", 1, 64}, 1.1e-3}},
       "decode tiny-opt law: 2,", "at least 3"},
      {{{DecodeOperation{"tiny-opt", 1, 16}, 1e-3}, {DecodeOperation{"tiny-opt", 1, 64}, 1.1e-3},
        {DecodeOperation{"tiny-opt", 2, 32}, 1.2e-3}, {DecodeOperation{"tiny-opt", 2, 128}, 1.3e-3}},
       "decode tiny-opt law: 4,", "at least 5"},
      {{{RecomputeOperation{"tiny-opt", 16, 0}, 1e-3}, {PauseOperation{"tiny-opt", 2, 16}, 2e-3}},
       "recompute tiny-opt law: 1,", "at least 2"},
      // A pause is charged on the recompute law: without rounds there is none.
      {{{PauseOperation{"tiny-opt", 2, 16}, 2e-3}}, "recompute tiny-opt law: 0,", "at least 2"}};
  for (const Case& c : cases) {
    Profile p;
    const std::string fit = input_error([&] { fit_profile(c.rows, p, "m.csv"); });
    EXPECT_TRUE(contains(fit, "m.csv: too few points for the " + c.law)) << fit;
    EXPECT_TRUE(contains(fit, c.needs)) << fit;
    const std::string replay = input_error([&] { validate(kCpuProfile, c.rows, "m.csv"); });
    EXPECT_TRUE(contains(replay, "too few points for the " + c.law)) << replay;
  }
  // Enough: 3 contexts at one batch size fit a decode piece, 2 sizes a load law.
  Profile p;
  fit_profile({{DecodeOperation{"tiny-opt", 1, 16}, 1e-3}, {DecodeOperation{"tiny-opt", 1, 64}, 1.1e-3},
               {DecodeOperation{"tiny-opt", 1, 128}, 1.3e-3}, {one_size, 0.01}, {LoadOperation{"sllm", Tier::kSsd, 2 << 20}, 0.02}},
              p);
  ASSERT_EQ(p.engine.size(), 1u);
  EXPECT_EQ(p.engine[0].decode.size(), 1u);
  EXPECT_TRUE(p.loader.at("sllm").ssd);
}

// Found by fuzz_measurements (tests/fuzz/regressions/fuzz_measurements): load times that shrink as the
// checkpoint grows fit a negative bandwidth; fit_load's std::runtime_error escaped (exit 1 from
// `calibrate refit`) instead of an InputError naming the file and the law.
TEST(CalibrateInput, LoadTimesShrinkingWithSizeAreAnInputErrorNamingTheLaw) {
  const std::vector<Measurement> rows = {{LoadOperation{"sllm", Tier::kDram, 1 << 20}, 0.02},
                                         {LoadOperation{"sllm", Tier::kDram, 2 << 20}, 0.01}};
  Profile p;
  const std::string fit = input_error([&] { fit_profile(rows, p, "m.csv"); });
  EXPECT_TRUE(contains(fit, "m.csv: the sllm dram load law: ")) << fit;
  EXPECT_TRUE(contains(fit, "does not grow with size")) << fit;
}

TEST(CalibrateInput, RefitAndValidateWithOnePointPerLawExitTwoNamingTheLaw) {
  const std::string dir = testing::temp_dir("calibrate_input_cli");
  const std::string one = write(dir, "one.csv", kHeader + "load,,sllm,ssd,1048576,0,0.01\n"
                                                          "load,,sllm,dram,1048576,0,0.002\n"
                                                          "prefill,tiny-opt,,,8,64,0.001\n");
  const auto refit = testing::run_sllmsim("calibrate refit --profile " + kCpuProfile + " --measurements " + one +
                                          " -o " + dir + "/refit.yaml");
  EXPECT_EQ(refit.status, 2) << refit.output;
  EXPECT_TRUE(contains(refit.output, "one.csv: too few points for the load sllm ssd law: 1, it needs at least 2"))
      << refit.output;
  EXPECT_FALSE(fs::exists(dir + "/refit.yaml"));
  const auto check = testing::run_sllmsim("calibrate validate --profile " + kCpuProfile + " --measurements " + one);
  EXPECT_EQ(check.status, 2) << check.output;
  EXPECT_TRUE(contains(check.output, "too few points for the load sllm ssd law")) << check.output;
  fs::remove_all(dir);
}

// The profile is written after every probe ran: an output folder that is missing or read-only fails
// before the first probe (the old code probed for minutes, then failed to write).
TEST(CalibrateInput, UnwritableOutputFolderFailsBeforeAnyProbe) {
  const std::string dir = testing::temp_dir("calibrate_input_output");
  fs::create_directories(dir);
  auto calibrate_into = [&](const std::string& out) {
    return testing::run_sllmsim("calibrate --quick --device cpu -o " + out + " --dir " + dir);
  };
  const auto missing = calibrate_into(dir + "/no/such/folder/p.yaml");
  EXPECT_EQ(missing.status, 2) << missing.output;
  EXPECT_TRUE(contains(missing.output, "-o: the folder " + dir + "/no/such/folder does not exist")) << missing.output;
  EXPECT_FALSE(contains(missing.output, "probes")) << missing.output;

  // A read-only folder: permissions do not stop root, sysfs refuses new files to everyone.
  const std::string locked = dir + "/locked";
  fs::create_directories(locked);
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
  std::string read_only;
  for (const std::string& candidate : {locked, std::string("/sys")}) {
    if (!std::ofstream(candidate + "/write-test")) {
      read_only = candidate;
      break;
    }
    fs::remove(candidate + "/write-test");
  }
  if (read_only.empty()) GTEST_SKIP() << "no read-only folder on this machine";
  const auto refused = calibrate_into(read_only + "/p.yaml");
  EXPECT_EQ(refused.status, 2) << refused.output;
  EXPECT_TRUE(contains(refused.output, "-o: cannot write into the folder " + read_only)) << refused.output;
  EXPECT_FALSE(contains(refused.output, "probes")) << refused.output;
  EXPECT_TRUE(fs::is_empty(locked));  // no probe file left behind
  fs::permissions(locked, fs::perms::owner_all);
  // Every scratch folder was removed (or never made).
  for (const auto& entry : fs::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename().string().rfind("sllm-calibrate-", 0), std::string::npos) << entry.path();
  }
  fs::remove_all(dir);
}

// The validation's replay scenario, built in code, is the scenario a config with the same values gives.
TEST(CalibrateReplayScenario, BuiltInCodeEqualsTheSameScenarioFromAConfig) {
  const auto profile = std::make_shared<const Profile>(read_profile(kCpuProfile));
  for (const std::string mode : {"sllm", "torch"}) {
    SCOPED_TRACE(mode);
    ServerGroupSpec server;
    server.gpu = *gpu_preset("A40");
    server.gpus = 2;
    server.dram_capacity = 64'000'000'000;
    server.ssd_capacity = 1'000'000'000'000;
    server.ssd_read_bandwidth = 1e9;  // replaced by the profile's law
    server.pcie_bandwidth = 16e9;     // replaced by the profile's law
    server.nic_bandwidth = 10e9 / 8;
    ClusterSpec cluster;
    cluster.groups = {server};
    cluster.remote_store_bandwidth = 1e9;
    cluster.profile = profile;
    cluster.profile_loader = mode;
    DeploymentSpec d;
    d.model = "tiny-opt";
    d.count = 3;
    const Scenario built = Scenario::from_parts("test", cluster, {d});

    const std::string dir = testing::temp_dir("calibrate_replay_config");
    const std::string config = write(dir, "s.yaml",
                                     "cluster:\n  profile: {file: " + kCpuProfile + ", loader: " + mode +
                                         "}\n  remote_store: {bandwidth: 1 GB/s}\n  servers:\n"
                                         "    - gpus: {type: A40, count: 2}\n      dram: {capacity: 64 GB}\n"
                                         "      ssd: {capacity: 1 TB}\n      nic: 10 Gbps\n"
                                         "models:\n  deployments: [{model: tiny-opt, count: 3}]\n"
                                         "workload: {kind: synthetic, requests: 1, rps: 1}\npolicy: {name: serverlessllm}\n");
    const Scenario read = Scenario::load(config);
    fs::remove_all(dir);
    ASSERT_EQ(built.cluster.groups.size(), 1u);
    const ServerGroupSpec &b = built.cluster.groups[0], &r = read.cluster.groups[0];
    EXPECT_EQ(b.ssd_read_bandwidth, profile->loader.at(mode).ssd->bandwidth);
    EXPECT_EQ(b.pcie_bandwidth, profile->loader.at(mode).dram->bandwidth);
    EXPECT_EQ(b.ssd_read_bandwidth, r.ssd_read_bandwidth);
    EXPECT_EQ(b.pcie_bandwidth, r.pcie_bandwidth);
    EXPECT_EQ(b.dram_bandwidth, 2 * b.pcie_bandwidth);
    EXPECT_EQ(b.dram_bandwidth, r.dram_bandwidth);
    EXPECT_EQ(b.ssd_load_fixed, r.ssd_load_fixed);
    EXPECT_EQ(b.dram_load_fixed, r.dram_load_fixed);
    EXPECT_EQ(b.nic_bandwidth, r.nic_bandwidth);
    EXPECT_EQ(b.dram_capacity, r.dram_capacity);
    EXPECT_EQ(b.ssd_capacity, r.ssd_capacity);
    EXPECT_EQ(b.chunk_size, r.chunk_size);
    EXPECT_EQ(built.cluster.remote_store_bandwidth, read.cluster.remote_store_bandwidth);
    ASSERT_EQ(built.models.size(), 3u);
    ASSERT_EQ(read.models.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(built.models[i].name, read.models[i].name);
      EXPECT_EQ(built.models[i].checkpoint_bytes, read.models[i].checkpoint_bytes);
    }
    EXPECT_EQ(built.deployments[0].gpus_per_instance, read.deployments[0].gpus_per_instance);
    EXPECT_EQ(built.deployments[0].kv_token_budget, read.deployments[0].kv_token_budget);
    EXPECT_EQ(built.deployments[0].kv_reserve_tokens, read.deployments[0].kv_reserve_tokens);
    EXPECT_EQ(built.simulation.cost_model.profile, built.cluster.profile);
    EXPECT_EQ(built.keep_alive.name, read.keep_alive.name);
    EXPECT_EQ(built.dram_eviction.name, read.dram_eviction.name);
    EXPECT_EQ(built.ssd_eviction.name, read.ssd_eviction.name);
  }
}

TEST(CalibrateReplayScenario, BuiltInCodeRejectsWhatAConfigWould) {
  const auto profile = std::make_shared<const Profile>(read_profile(kCpuProfile));
  ServerGroupSpec server;
  server.gpu = *gpu_preset("A40");
  server.dram_capacity = 1'000'000'000;
  server.ssd_capacity = 1'000;  // 1 kB: no checkpoint fits
  server.ssd_read_bandwidth = server.pcie_bandwidth = server.nic_bandwidth = 1e9;
  ClusterSpec cluster;
  cluster.groups = {server};
  cluster.remote_store_bandwidth = 1e9;
  DeploymentSpec d;
  d.model = "tiny-opt";
  EXPECT_TRUE(contains(input_error([&] { Scenario::from_parts("test", cluster, {d}); }), "does not fit on the SSD"));
  cluster.groups[0].ssd_capacity = 1'000'000'000;
  cluster.profile = profile;
  cluster.profile_loader = "no-such-mode";
  EXPECT_TRUE(contains(input_error([&] { Scenario::from_parts("test", cluster, {d}); }), "no loader laws for mode 'no-such-mode'"));
  cluster.profile_loader = "sllm";
  d.model = "no-such-model";
  EXPECT_FALSE(input_error([&] { Scenario::from_parts("test", cluster, {d}); }).empty());
}

}  // namespace
}  // namespace sllm::calibrate
