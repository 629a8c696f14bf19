// `sllmsim run` end to end: the default config runs and writes its outputs atomically (no temporaries
// left), overrides and seeds apply, and bad input exits with status 2 and a located message.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cli_test_util.h"
#include "sim_test_util.h"

namespace sllm {
namespace {

using namespace sllm::testing;

CliResult run_cli(const std::string& args) { return run_sllmsim("run " + args); }

const std::string kDefault = std::string(SLLM_SOURCE_DIR) + "/configs/default.yaml";

TEST(Cli, DefaultConfigRunsAndWritesOutputs) {
  const std::string dir = temp_dir("cli_default");
  const CliResult r = run_cli("-c " + kDefault + " -o " + dir + " --set workload.requests=300");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("requests: 300 arrived"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir + "/requests.csv"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/summary.json"));
  for (const auto& e : std::filesystem::directory_iterator(dir)) EXPECT_NE(e.path().extension(), ".tmp");
  EXPECT_EQ(read_csv(dir + "/requests.csv").size(), 300u);
  EXPECT_NE(read_text(dir + "/summary.json").find("\"policy\": \"serverlessllm\""), std::string::npos);
}

TEST(Cli, SetAndSeedApply) {
  const std::string a = temp_dir("cli_a"), b = temp_dir("cli_b");
  ASSERT_EQ(run_cli("-q -c " + kDefault + " -o " + a + " --set workload.requests=200 --set policy.name=serverless "
                    "--seed 5").status, 0);
  ASSERT_EQ(run_cli("-q -c " + kDefault + " -o " + b + " --set workload.requests=200 --set policy.name=serverless "
                    "--set simulation.seed=5").status, 0);
  const std::string sa = read_text(a + "/summary.json");
  EXPECT_NE(sa.find("\"policy\": \"serverless\""), std::string::npos);
  EXPECT_NE(sa.find("\"seed\": 5"), std::string::npos);
  EXPECT_EQ(read_text(a + "/requests.csv"), read_text(b + "/requests.csv"));
}

TEST(Cli, BadInputExitsWithStatus2) {
  CliResult r = run_cli("-c " + kDefault + " --set cluster.servers[0].nic=fast");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("cluster.servers[0].nic"), std::string::npos) << r.output;
  r = run_cli("-c /nonexistent.yaml");
  EXPECT_EQ(r.status, 2);
  r = run_cli("-c " + kDefault + " --bogus");
  EXPECT_EQ(r.status, 2);
  r = run_cli("--list");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.output.find("serverlessllm"), std::string::npos);
}

TEST(Cli, OutputNamingAFileExitsWithStatus2BeforeRunning) {
  const std::string dir = temp_dir("cli_output_file");
  std::filesystem::create_directories(dir);
  const std::string file = dir + "/not-a-dir";
  { std::ofstream(file) << "x"; }
  const CliResult r = run_cli("-q -c " + kDefault + " -o " + file);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("not a directory"), std::string::npos) << r.output;
}

TEST(Cli, StaleOutputsOfAnEarlierRunAreRemoved) {
  const std::string dir = temp_dir("cli_stale");
  ASSERT_EQ(run_cli("-q -c " + kDefault + " -o " + dir + " --set workload.requests=50").status, 0);
  ASSERT_TRUE(std::filesystem::exists(dir + "/requests.csv"));
  // The second run writes no requests.csv: the first run's must not survive beside its summary.
  ASSERT_EQ(run_cli("-q -c " + kDefault + " -o " + dir + " --set workload.requests=60 --set output.requests_csv=false")
                .status, 0);
  EXPECT_FALSE(std::filesystem::exists(dir + "/requests.csv"));
  EXPECT_NE(read_text(dir + "/summary.json").find("\"arrived\": 60"), std::string::npos);
}

TEST(Cli, NegativeOrMalformedSeedExitsWithStatus2) {
  for (const char* seed : {"-1", "1.5", "x", "18446744073709551616"}) {
    const CliResult r = run_cli("-q -c " + kDefault + " --seed " + seed);
    EXPECT_EQ(r.status, 2) << seed << ": " << r.output;
    EXPECT_NE(r.output.find("simulation.seed"), std::string::npos) << r.output;
  }
  // The whole 64-bit range is accepted (sweeps derive seeds by hashing).
  EXPECT_EQ(run_cli("-q -c " + kDefault + " --set workload.requests=20 --seed 18446744073709551615").status, 0);
}

TEST(Cli, JsonFlagPrintsTheSummaryJson) {
  const std::string dir = temp_dir("cli_json");
  const CliResult r = run_cli("--json -c " + kDefault + " -o " + dir + " --set workload.requests=40 --set output.timing=false");
  ASSERT_EQ(r.status, 0) << r.output;
  // stdout is exactly summary.json (timing off, so byte for byte) and nothing else.
  EXPECT_EQ(r.output, read_text(dir + "/summary.json"));
}

TEST(Cli, VersionFlagPrintsTheVersion) {
  for (const char* flag : {"--version", "-V"}) {
    const CliResult r = run_sllmsim(flag);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("sllmsim "), std::string::npos) << r.output;
  }
}

}  // namespace
}  // namespace sllm
