// Profiles: exact round trip, strict reading, `cluster.profile` in a scenario (missing or malformed files
// fail clearly, exit 2 through the CLI), the loads and costs a profile implies, the A5000 paper profile.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "policy_test_util.h"
#include "sllm/sim/cluster.h"
#include "sllm/sim/cost_model.h"
#include "sllm/core/error.h"
#include "sllm/sim/profile.h"

namespace sllm {
namespace {

namespace fs = std::filesystem;

Profile sample_profile() {
  Profile p;
  p.machine = {"Some CPU: \"quoted\" (8 cores)", "1 x H100", "nvme0n1 (Model: X)", "535.1", "Linux 6.1", "2026-11-22T00:00:00Z", "cuda:0"};
  p.probes["ssd_read_best"] = 3.3333333333333335e9;
  p.probes["dram_copy_threads1"] = 1.0 / 7.0 * 1e10;
  p.chunk_size = 32ull << 20;
  LoadLaw ssd{6.123456789012345e9, 12'345'678, {0.999123, 0.0123, 4}};
  LoadLaw dram{2.4e10 / 3.0, 1'000, {0.98, 0.04, 4}};
  p.loader["sllm"] = {ssd, dram};
  p.loader["torch"] = {LoadLaw{1.1e9, 0, {}}, std::nullopt};
  EngineProfile e;
  e.model = "opt-6.7b";
  e.c0 = 1.0 / 3.0 * 1e-3, e.c1 = 2.2e-5, e.c2 = 1e-9 / 7.0;
  e.m0 = 2.5e-3, e.m1 = 1e-6 / 3.0;
  e.prefill_fit = {0.99, 0.03, 7};
  e.decode.push_back({8, 0.0123, 1.5e-4, 3.3e-8, 1.0 / 3.0 * 1e-6, {0.98, 0.04, 20}});
  e.decode.push_back({DecodePiece::kUnbounded, 0.005, 2e-5, 1e-7, 0, {0.97, 0.03, 8}});
  p.engine.push_back(e);
  p.migration.push_back({"opt-6.7b", 2.5e-5, 4e-3, 1e-9 / 3.0, 2e-8, {0.97, 0.05, 9}, 0.0031, {0.9, 0.08, 3}});
  p.measurements = "x.measurements.csv";
  return p;
}

std::string temp_dir(const std::string& name) {
  const auto dir = testing::temp_dir(name);
  fs::create_directories(dir);
  return dir;
}

TEST(ProfileIo, WriteReadIsExact) {
  const std::string dir = temp_dir("profile_rt");
  const Profile p = sample_profile();
  write_profile(p, dir + "/p.yaml", "a header\nof two lines");
  const Profile back = read_profile(dir + "/p.yaml");
  EXPECT_EQ(back, p);
  EXPECT_EQ(back.source, dir + "/p.yaml");
  EXPECT_FALSE(fs::exists(dir + "/p.yaml.tmp"));
  EXPECT_NEAR(back.loader_efficiency("torch"), 1.1e9 / 6.123456789012345e9, 1e-15);
  fs::remove_all(dir);
}

// Found by fuzz_profile (tests/fuzz/regressions/fuzz_profile): a machine string holding a carriage return
// or other control character was written raw (line breaks as spaces), so the profile read back differed.
TEST(ProfileIo, MachineStringsWithControlCharactersRoundTripExactly) {
  Profile p = sample_profile();
  p.machine.cpu = std::string("line one\r\nline two\ttab \x01\x1f\x7f end \\ \" quote");
  p.machine.disk = "trailing newline\n";
  p.measurements = "m\rn.csv";
  const Profile back = parse_profile(profile_to_yaml(p), "p.yaml");
  EXPECT_EQ(back.machine.cpu, p.machine.cpu);
  EXPECT_EQ(back.machine.disk, p.machine.disk);
  EXPECT_EQ(back.measurements, p.measurements);
  EXPECT_EQ(back, p);
}

// Found by fuzz_profile (tests/fuzz/regressions/fuzz_profile): probe names (free text, unlike the loader
// modes and models, which must be registered) were written unquoted, so one holding a tab, a NUL, a colon,
// a brace or a YAML word (null, true) made the written profile unreadable or read back as another.
TEST(ProfileIo, NamesThatAreNotPlainYamlAreQuoted) {
  Profile p = sample_profile();
  for (const std::string name : {"h2d_p\t\x01ned", "a: b", "{x}", "null", "True", "#c", "- d", "", "ok-name_1.5/x+y"}) {
    p.probes[name] = 1.5;
  }
  const Profile back = parse_profile(profile_to_yaml(p), "p.yaml");
  EXPECT_EQ(back.probes, p.probes);
  EXPECT_EQ(back, p);
  // Plain names stay plain, so existing profiles are written as before.
  EXPECT_NE(profile_to_yaml(p).find("  ok-name_1.5/x+y: 1.5\n"), std::string::npos);
}

TEST(ProfileIo, UnknownKeysAndBadValuesAreLocated) {
  const std::string base = "profile_version: 1\n";
  EXPECT_THROW(parse_profile(base + "tiers: {}\n", "p.yaml"), InputError);
  EXPECT_THROW(parse_profile("profile_version: 2\n", "p.yaml"), InputError);
  EXPECT_THROW(parse_profile(base + "loader: {modes: {sllm: {ssd: {bandwidth: \"-1 GB/s\"}}}}\n", "p.yaml"), InputError);
  EXPECT_THROW(parse_profile(base + "loader: {modes: {fast: {}}}\n", "p.yaml"), InputError);
  const std::string engine = base + "engine:\n  - model: opt-6.7b\n    prefill: {c0: 0, c1: 0, c2: 0}\n";
  EXPECT_NO_THROW(parse_profile(engine + "    decode: [{max_batch: 4, d0: 1, d1: 0, d2: 0}, {d0: 2, d1: 0, d2: 0}]\n", "p.yaml"));
  // A single-piece decode map (the format before piecewise laws) says how to migrate.
  try {
    parse_profile(engine + "    decode: {d0: 0, d1: 0, d2: 0}\n", "p.yaml");
    FAIL() << "a decode map was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("p.yaml:5"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("one-element list"), std::string::npos) << e.what();
  }
  // max_batch: required before the last piece, increasing, absent from the last.
  EXPECT_THROW(parse_profile(engine + "    decode: [{d0: 1, d1: 0, d2: 0}, {d0: 2, d1: 0, d2: 0}]\n", "p.yaml"), InputError);
  EXPECT_THROW(parse_profile(engine + "    decode: [{max_batch: 8, d0: 1, d1: 0, d2: 0}, {max_batch: 4, d0: 1, d1: 0, d2: 0}, {d0: 2, d1: 0, d2: 0}]\n", "p.yaml"), InputError);
  EXPECT_THROW(parse_profile(engine + "    decode: [{max_batch: 8, d0: 1, d1: 0, d2: 0}]\n", "p.yaml"), InputError);
  EXPECT_THROW(parse_profile(engine + "    decode: []\n", "p.yaml"), InputError);
  // Decode not measured: no key, no pieces (and written back the same way).
  const Profile no_decode = parse_profile(engine, "p.yaml");
  ASSERT_EQ(no_decode.engine.size(), 1u);
  EXPECT_TRUE(no_decode.engine[0].decode.empty());
  EXPECT_EQ(parse_profile(profile_to_yaml(no_decode), "again.yaml"), no_decode);
  try {
    parse_profile(base + "engine:\n  - model: gpt-5\n    prefill: {c0: 0, c1: 0, c2: 0}\n    decode: [{d0: 0, d1: 0, d2: 0}]\n", "p.yaml");
    FAIL() << "an unknown model was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("p.yaml:3"), std::string::npos) << e.what();
  }
}

std::string scenario_yaml(const std::string& profile_line, const std::string& extra_ssd_keys = "",
                          const std::string& extra_server_lines = "") {
  return "cluster:\n" + profile_line +
         "  remote_store: {bandwidth: 10 Gbps}\n"
         "  servers:\n"
         "    - gpus: {type: H100, count: 2}\n"
         "      dram: {capacity: 64 GB, chunk_size: 32 MiB}\n"
         "      ssd: {capacity: 1 TB" + extra_ssd_keys + "}\n" + extra_server_lines +
         "      nic: 10 Gbps\n"
         "models:\n  deployments: [{model: opt-6.7b, count: 2}, {model: tiny-opt, count: 1}]\n"
         "workload: {kind: synthetic, requests: 40, rps: 2, lengths: {kind: fixed, input: 64, output: 16}}\n"
         "policy: {name: serverlessllm}\n";
}

Scenario load_scenario(const std::string& dir, const std::string& yaml) {
  std::ofstream(dir + "/scenario.yaml") << yaml;
  return Scenario::load(dir + "/scenario.yaml");
}

TEST(ProfileScenario, ProfileReplacesBandwidthsAndFillAndDrivesCosts) {
  const std::string dir = temp_dir("profile_scenario");
  fs::create_directories(dir + "/profiles");
  write_profile(sample_profile(), dir + "/profiles/p.yaml");
  // Relative to the config's directory.
  const Scenario sc = load_scenario(dir, scenario_yaml("  profile: profiles/p.yaml\n"));
  const ServerGroupSpec& g = sc.cluster.groups[0];
  EXPECT_EQ(g.ssd_read_bandwidth, 6.123456789012345e9);
  EXPECT_EQ(g.pcie_bandwidth, 2.4e10 / 3.0);
  EXPECT_EQ(g.dram_bandwidth, 2 * 2.4e10 / 3.0);

  // Loads follow overhead + bytes / bandwidth of the measured laws (runtime_init is 0).
  const ClusterState st(sc);
  const double bytes = static_cast<double>(sc.models[0].checkpoint_bytes);
  EXPECT_EQ(st.estimate_load(0, 0, Tier::kSsd, 1), from_seconds(bytes / 6.123456789012345e9) + 12'345'678);
  EXPECT_EQ(st.estimate_load(0, 0, Tier::kDram, 1), from_seconds(bytes / (2.4e10 / 3.0)) + 1'000);

  // Costs: the profile's coefficients for opt-6.7b on 1 GPU, the roofline otherwise.
  const auto cost = make_cost_model(sc.simulation.cost_model);
  const ModelArch& opt = *sc.models[0].arch;
  const GpuSpec& gpu = g.gpu;
  // prefill = max(memory-bound line, curve): the line below ~100 tokens, the curve above.
  EXPECT_DOUBLE_EQ(cost->prefill_seconds(opt, gpu, 1, 100, 6000), 1.0 / 3.0 * 1e-3 + 100 * 2.2e-5 + 6000 * (1e-9 / 7.0));
  EXPECT_DOUBLE_EQ(cost->prefill_seconds(opt, gpu, 1, 10, 100), 2.5e-3 + 10 * (1e-6 / 3.0));
  // Decode: the piece of the batch (up to 8: the first; above: the second, also beyond every measured
  // batch), with the per-sequence term folded into the line in C for that batch.
  EXPECT_DOUBLE_EQ(cost->decode_law(opt, gpu, 1, 4).at(1000), 0.0123 + 4 * 1.5e-4 + 1000 * 3.3e-8 + 1000.0 / 4 * (1.0 / 3.0 * 1e-6));
  EXPECT_DOUBLE_EQ(cost->decode_law(opt, gpu, 1, 8).at(1000), 0.0123 + 8 * 1.5e-4 + 1000 * 3.3e-8 + 1000.0 / 8 * (1.0 / 3.0 * 1e-6));
  EXPECT_DOUBLE_EQ(cost->decode_law(opt, gpu, 1, 9).at(1000), 0.005 + 9 * 2e-5 + 1000 * 1e-7);
  EXPECT_DOUBLE_EQ(cost->decode_law(opt, gpu, 1, 500).at(1000), 0.005 + 500 * 2e-5 + 1000 * 1e-7);
  // The simulator's closed-form sum of a run of steps with a fixed batch equals the step-by-step sum.
  for (std::uint32_t b : {3u, 12u}) {
    const StepLaw law = cost->decode_law(opt, gpu, 1, b);
    const DecodeRun run(law, 700.0, b);
    double brute = 0;
    for (int j = 0; j < 250; ++j) brute += law.at(700.0 + b * j);
    EXPECT_NEAR(run.cumulative(250), brute, 1e-12 * brute) << "batch " << b;
  }
  EXPECT_DOUBLE_EQ(cost->recompute_seconds(opt, gpu, 1, 300, 350.0 * 350 - 50.0 * 50, 300.0 * 50),
                   2.5e-5 * 300 + 4e-3 + (350.0 * 350 - 50.0 * 50) * (1e-9 / 3.0) + 300.0 * 50 * 2e-8);
  EXPECT_EQ(cost->migration_handoff_seconds(opt, gpu, 1), 0.0031);
  CostModelSpec without_profile = sc.simulation.cost_model;  // the configured kind alone: the roofline
  without_profile.profile = nullptr;
  const auto roofline = make_cost_model(without_profile);
  const ModelArch& tiny = *sc.models[2].arch;
  EXPECT_EQ(cost->prefill_seconds(tiny, gpu, 1, 100, 6000), roofline->prefill_seconds(tiny, gpu, 1, 100, 6000));
  EXPECT_EQ(cost->prefill_seconds(opt, gpu, 2, 100, 6000), roofline->prefill_seconds(opt, gpu, 2, 100, 6000));
  EXPECT_EQ(cost->migration_handoff_seconds(tiny, gpu, 1), 0.0);

  // And a whole simulation runs with it.
  Simulator sim(sc);
  const RunSummary summary = sim.run();
  (void)summary;

  // A loader mode without a DRAM law leaves `pcie` to the config (required again).
  EXPECT_THROW(load_scenario(dir, scenario_yaml("  profile: {file: profiles/p.yaml, loader: torch}\n")), InputError);
  const Scenario torch =
      load_scenario(dir, scenario_yaml("  profile: {file: profiles/p.yaml, loader: torch}\n", "", "      pcie: 20 GB/s\n"));
  EXPECT_EQ(torch.cluster.groups[0].ssd_read_bandwidth, 1.1e9);
  EXPECT_EQ(torch.cluster.groups[0].pcie_bandwidth, 20e9);
  fs::remove_all(dir);
}

TEST(ProfileScenario, MissingMalformedOrConflictingProfilesFailClearly) {
  const std::string dir = temp_dir("profile_errors");
  try {
    load_scenario(dir, scenario_yaml("  profile: nowhere.yaml\n"));
    FAIL() << "a missing profile was accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cluster.profile"), std::string::npos) << what;
    EXPECT_NE(what.find("nowhere.yaml"), std::string::npos) << what;
    EXPECT_NE(what.find("cannot open"), std::string::npos) << what;
  }
  std::ofstream(dir + "/bad.yaml") << "profile_version: 1\nloader: {modes: {sllm: {ssd: {bandwidth: fast}}}}\n";
  try {
    load_scenario(dir, scenario_yaml("  profile: bad.yaml\n"));
    FAIL() << "a malformed profile was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.yaml:2"), std::string::npos) << e.what();
  }
  write_profile(sample_profile(), dir + "/p.yaml");
  EXPECT_THROW(load_scenario(dir, scenario_yaml("  profile: p.yaml\n", ", read_bandwidth: 3 GB/s")), InputError);

  // Through the CLI: exit status 2 and the reason on stderr.
  std::ofstream(dir + "/scenario.yaml") << scenario_yaml("  profile: nowhere.yaml\n");
  const std::string cmd = std::string(SLLM_BINARY) + " run -q -c " + dir + "/scenario.yaml -o " + dir + "/out 2>" + dir + "/err.txt";
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(testing::read_text(dir + "/err.txt").find("nowhere.yaml"), std::string::npos);
  fs::remove_all(dir);
}

// The simulator charges a migration's pause as the profile says: the final round's recompute (a n + b)
// plus the hand-off. With a = c = 0 every round takes b, so the pause is exactly b + handoff. The scenario is
// the policy tests' locality-contention example (A migrates once when B arrives at 20 s).
TEST(ProfileScenario, MigrationPauseIsTheFinalRoundPlusTheHandoff) {
  const std::string dir = temp_dir("profile_pause");
  Profile p;
  p.migration.push_back({"opt-6.7b", 0.0, 1e-3, 0.0, 0.0, {}, 0.05, {}});
  write_profile(p, dir + "/migration.yaml");
  std::string yaml = testing::policy_cluster_yaml(2, 4, true, 1, "  name: serverlessllm\n  replace_loads: false\n  keep_alive: {name: fixed, timeout: 2 s}");
  yaml.replace(yaml.find("cluster:\n"), 9, "cluster:\n  profile: " + dir + "/migration.yaml\n");
  const Scenario sc = testing::scenario_from_yaml(yaml);
  Simulator sim(sc);
  const RunSummary s = sim.run(testing::with_requests(
      {testing::request(0.0, 3, 10, 1), testing::request(0.1, 1, 100, 1500), testing::request(20.0, 0, 10, 10)}, dir));
  ASSERT_EQ(s.migrations_completed, 1u);
  ASSERT_EQ(s.migration_pause.count, 1u);
  const auto rows = testing::read_csv(dir + "/requests.csv");
  const testing::Row& a = testing::row_of(rows, 1);
  EXPECT_EQ(a.at("migrations"), "1");
  EXPECT_NEAR(testing::num(a, "migration_pause_s"), 1e-3 + 0.05, 1e-9);
  fs::remove_all(dir);
}

TEST(ProfileA5000Paper, BandwidthsReproduceTheMeasuredMeanLoadTimes) {
  const Profile p = read_profile(std::string(SLLM_SOURCE_DIR) + "/configs/profiles/a5000-paper.yaml");
  const double bytes = static_cast<double>(ModelCatalog::builtin().get("opt-6.7b", "test").checkpoint_bytes());
  EXPECT_EQ(bytes, 13'316'947'968.0);  // 6,658,473,984 parameters x 2 bytes
  // Means of loading_time over the 30 loads of each JSON file (hand-computed from the data set).
  EXPECT_NEAR(bytes / p.loader.at("sllm").ssd->bandwidth, 1.1750046571095785, 1e-9);
  EXPECT_NEAR(bytes / p.loader.at("safetensors").ssd->bandwidth, 5.094716628392537, 1e-8);
  EXPECT_NEAR(p.loader_efficiency("safetensors"), 0.2306, 1e-4);
  const std::string data =
      testing::shared_data_path("calibration/sllm-store-a5000-2024/facebook_opt-6.7b_phantom_30_random.json");
  if (!fs::exists(data)) GTEST_SKIP() << "data set absent (" << data << "): the means above are the recorded ones";
  // The data set itself: recompute the sllm mean from the JSON's loading_time fields.
  const std::string text = testing::read_text(data);
  double sum = 0;
  int n = 0;
  for (std::size_t at = text.find("\"loading_time\":"); at != std::string::npos; at = text.find("\"loading_time\":", at + 1)) {
    sum += std::stod(text.substr(at + 15));
    ++n;
  }
  ASSERT_EQ(n, 30);
  EXPECT_NEAR(sum / n, bytes / p.loader.at("sllm").ssd->bandwidth, 1e-9);
}

}  // namespace
}  // namespace sllm
