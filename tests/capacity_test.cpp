// Capacity search: the Student-t verdict against hand-computed bounds; the search's answer against a
// brute-force grid over every value of the range (same seeds, same verdicts); the CSV lists each point
// once; the CLI's exit codes (0 found, 1 not even max, 2 bad input).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "sim_test_util.h"
#include "sllm/core/error.h"
#include "sllm/sim/capacity.h"

namespace sllm {
namespace {

namespace fs = std::filesystem;
using testing::temp_dir;

// Two-GPU servers, a bursty load of many small models: more servers, fewer cold-start queues.
constexpr const char* kBase = R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  servers:
    - count: 2
      gpus: {type: A40, count: 2}
      dram: {capacity: 64 GB}
      ssd: {capacity: 1 TB, read_bandwidth: 6 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  deployments:
    - {model: opt-2.7b, count: 12}
workload:
  kind: synthetic
  requests: 120
  rps: 2.0
  cv: 2
  lengths: gsm8k
policy:
  name: serverlessllm
  keep_alive: {name: fixed, timeout: 10 s}
slo: {ttft: 5 s}
output:
  timing: false
)";

constexpr const char* kAxis = "cluster.servers[0].count";
constexpr std::int64_t kMin = 1, kMax = 6;

std::string write_config(const fs::path& dir) {
  fs::create_directories(dir);
  const fs::path file = dir / "base.yaml";
  std::ofstream(file) << kBase;
  return file.string();
}

CapacitySpec spec_with(const std::string& config, const std::vector<std::string>& targets, unsigned seeds) {
  CapacitySpec spec;
  spec.config = config;
  spec.axis = kAxis;
  spec.min = kMin;
  spec.max = kMax;
  spec.seeds = seeds;
  spec.confidence = 0.9;
  for (const std::string& t : targets) spec.targets.push_back(CapacityTarget::parse(t));
  return spec;
}

TEST(CapacityJudge, StudentTBoundMatchesHandComputedValues) {
  // Samples 1, 2, 3: mean 2, s = 1; t(0.95, 2 dof) = 2.919985580; half-width 2.919985580 / sqrt(3).
  const std::vector<double> s{1, 2, 3};
  const double half = 2.919985580 / std::sqrt(3.0);
  const TargetVerdict upper = judge_target(CapacityTarget::parse("ttft_all_censored_p99_s<=3.7"), s, 0.95);
  EXPECT_DOUBLE_EQ(upper.mean, 2.0);
  EXPECT_NEAR(upper.bound, 2.0 + half, 1e-8);
  EXPECT_TRUE(upper.met);
  EXPECT_FALSE(judge_target(CapacityTarget::parse("ttft_all_censored_p99_s<=3.68"), s, 0.95).met);
  const TargetVerdict lower = judge_target(CapacityTarget::parse("slo_attainment>=0.3"), s, 0.95);
  EXPECT_NEAR(lower.bound, 2.0 - half, 1e-8);
  EXPECT_TRUE(lower.met);
  EXPECT_FALSE(judge_target(CapacityTarget::parse("slo_attainment>=0.32"), s, 0.95).met);
  // One sample: the bound is the sample; the threshold is inclusive.
  const std::vector<double> one{5};
  EXPECT_TRUE(judge_target(CapacityTarget::parse("completed>=5"), one, 0.99).met);
  EXPECT_FALSE(judge_target(CapacityTarget::parse("completed>=5.5"), one, 0.99).met);
  // A NaN never meets.
  const std::vector<double> nan{std::nan("")};
  EXPECT_FALSE(judge_target(CapacityTarget::parse("ttft_all_censored_p99_s<=1e9"), nan, 0.9).met);
}

TEST(CapacityTargets, BadTargetsAreInputErrors) {
  EXPECT_THROW(CapacityTarget::parse("no_such_metric<=1"), InputError);
  EXPECT_THROW(CapacityTarget::parse("ttft_all_censored_p99_s<10"), InputError);
  EXPECT_THROW(CapacityTarget::parse("ttft_all_censored_p99_s<=ten"), InputError);
  EXPECT_THROW(CapacityTarget::parse("policy>=1"), InputError);       // text
  EXPECT_THROW(CapacityTarget::parse("wall_time_s<=1"), InputError);  // timing: not in results.csv
  // A summary.json path names the same metric as its column.
  EXPECT_EQ(CapacityTarget::parse("slo.attainment>=0.9").column, "slo_attainment");
}

// Smallest value in [min, max] meeting every target, from verdicts at every value; nullopt when none.
std::optional<std::int64_t> smallest_meeting(const std::vector<CapacityValue>& grid) {
  for (const CapacityValue& v : grid) {
    if (v.met) return v.value;
  }
  return std::nullopt;
}

bool monotone(const std::vector<CapacityValue>& grid) {
  for (std::size_t i = 1; i < grid.size(); ++i) {
    if (grid[i - 1].met && !grid[i].met) return false;
  }
  return true;
}

// Each (value, seed) point appears once among capacity.csv's "point" rows, with as many rows as tried
// values times seeds.
void expect_points_once(const fs::path& csv, const CapacityResult& result, unsigned seeds) {
  std::ifstream in(csv);
  std::string line;
  std::set<std::pair<std::string, std::string>> seen;
  std::size_t points = 0;
  while (std::getline(in, line)) {
    if (line.rfind("point,", 0) != 0) continue;
    std::stringstream cells(line);
    std::string row, value, step, seed;
    std::getline(cells, row, ',');
    std::getline(cells, value, ',');
    std::getline(cells, step, ',');
    std::getline(cells, seed, ',');
    EXPECT_TRUE(seen.emplace(value, seed).second) << "point listed twice: " << line;
    ++points;
  }
  EXPECT_EQ(points, result.tried.size() * seeds);
}

class CapacitySearch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(temp_dir("capacity"));
    config_ = new std::string(write_config(*dir_));
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete config_;
  }
  // The brute force: every value of [min, max] with the spec's seeds, its points kept in `grid_dir`.
  static std::vector<CapacityValue> brute_force(const CapacitySpec& spec, const fs::path& grid_dir) {
    std::vector<std::int64_t> all;
    for (std::int64_t v = spec.min; v <= spec.max; ++v) all.push_back(v);
    CapacityOptions o;
    o.output_dir = grid_dir.string();
    o.jobs = 2;
    return evaluate_capacity(spec, all, o);
  }
  // The search, in a directory seeded with the brute force's points (they resume: nothing re-runs).
  static CapacityResult search(const CapacitySpec& spec, const fs::path& grid_dir, const std::string& name) {
    const fs::path out = *dir_ / name;
    fs::remove_all(out);
    fs::create_directories(out);
    fs::copy(grid_dir / "runs", out / "runs", fs::copy_options::recursive);
    CapacityOptions o;
    o.output_dir = out.string();
    o.jobs = 2;
    return find_capacity(spec, o);
  }
  static fs::path* dir_;
  static std::string* config_;
};
fs::path* CapacitySearch::dir_ = nullptr;
std::string* CapacitySearch::config_ = nullptr;

TEST_F(CapacitySearch, AnswerEqualsBruteForceForSeveralTargets) {
  const unsigned seeds = 2;
  // The metric's bounds at every value, to pick thresholds whose answers lie inside the range.
  const CapacitySpec probe = spec_with(*config_, {"ttft_all_censored_p99_s<=1e9", "slo_attainment>=0"}, seeds);
  const fs::path grid_dir = *dir_ / "grid";
  const std::vector<CapacityValue> grid = brute_force(probe, grid_dir);
  ASSERT_EQ(grid.size(), static_cast<std::size_t>(kMax - kMin + 1));
  for (const CapacityValue& v : grid) {
    ASSERT_EQ(v.seeds, grid.front().seeds) << "common random numbers: the same seeds at every value";
  }
  // More servers must matter in this scenario, or the comparison below proves little.
  ASSERT_GT(grid.front().verdicts[0].bound, grid.back().verdicts[0].bound);

  std::vector<std::vector<std::string>> target_sets;
  // Thresholds at the bounds of the two largest values: met there, and (the metric falling with servers)
  // not below, so the answers lie above min.
  for (const std::size_t at : {grid.size() - 2, grid.size() - 1}) {
    char text[96];
    std::snprintf(text, sizeof text, "ttft_all_censored_p99_s<=%.9g", grid[at].verdicts[0].bound);
    target_sets.push_back({text});
  }
  target_sets.push_back({"ttft_all_censored_p99_s<=1e9"});  // met at min
  target_sets.push_back({"ttft_all_censored_p99_s<=-1"});   // never met
  {
    char text[96];
    std::snprintf(text, sizeof text, "slo_attainment>=%.9g", 0.5 * (grid.front().samples[0][1] + 1.0));
    target_sets.push_back({target_sets[0][0], "requests.completed>=1", text});
  }
  int interior = 0;
  for (std::size_t k = 0; k < target_sets.size(); ++k) {
    CapacitySpec spec = spec_with(*config_, target_sets[k], seeds);
    // The brute force's verdicts for these targets, from the same points (resumed, not re-run).
    const std::vector<CapacityValue> truth = brute_force(spec, grid_dir);
    const std::optional<std::int64_t> expected = smallest_meeting(truth);
    const CapacityResult result = search(spec, grid_dir, "search" + std::to_string(k));
    SCOPED_TRACE(target_sets[k][0]);
    std::set<std::int64_t> tried;
    for (const CapacityValue& v : result.tried) EXPECT_TRUE(tried.insert(v.value).second) << "tried twice";
    expect_points_once(*dir_ / ("search" + std::to_string(k)) / "capacity.csv", result, seeds);
    if (!expected) {
      EXPECT_FALSE(result.answer);
      EXPECT_TRUE(tried.count(kMax)) << "max was tried";
      continue;
    }
    ASSERT_TRUE(result.answer);
    if (monotone(truth)) {
      EXPECT_EQ(*result.answer, *expected);
      EXPECT_TRUE(result.non_monotone.empty());
    } else {
      // Not monotone: the search guarantees a meeting value whose lower neighbour (when in range) fails.
      EXPECT_TRUE(truth[static_cast<std::size_t>(*result.answer - kMin)].met);
      if (*result.answer > kMin) {
        EXPECT_FALSE(truth[static_cast<std::size_t>(*result.answer - 1 - kMin)].met);
      }
    }
    // Its neighbours were tried.
    EXPECT_TRUE(tried.count(*result.answer));
    if (*result.answer > kMin) {
      EXPECT_TRUE(tried.count(*result.answer - 1));
    }
    interior += *result.answer > kMin ? 1 : 0;
  }
  EXPECT_GE(interior, 2) << "at least two targets whose answer is above min";
}

TEST(CapacityCli, ExitCodesAndOutputs) {
  const fs::path dir = temp_dir("capacity-cli");
  const std::string config = write_config(dir);
  const std::string common = std::string("capacity -c ") + config + " --axis '" + kAxis + "' -j 2 -q ";
  const auto bad = [&](const std::string& args) {
    const testing::CliResult r = testing::run_sllmsim(common + args + " -o " + (dir / "bad").string());
    EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
  };
  bad("--min 1 --max 3 --target 'no_such_metric<=1'");
  bad("--min 3 --max 1 --target 'ttft_all_censored_p99_s<=10'");
  bad("--min 1 --max 3 --target 'ttft_all_censored_p99_s=10'");
  bad("--min 1.5 --max 3 --target 'ttft_all_censored_p99_s<=10'");
  bad("--min 1 --max 3 --target 'ttft_all_censored_p99_s<=10' --seeds 0");
  bad("--min 1 --max 3 --target 'ttft_all_censored_p99_s<=10' --confidence 1");
  bad("--min 1 --max 3 --target 'ttft_all_censored_p99_s<=10' --set '" + std::string(kAxis) + "=2'");
  bad("--min 0 --max 3 --target 'ttft_all_censored_p99_s<=10'");  // zero servers: the config refuses it
  bad("--min 1 --max 3");                                           // no target

  const fs::path found = dir / "found";
  const testing::CliResult ok =
      testing::run_sllmsim(common + "--min 1 --max 3 --target 'ttft_all_censored_p99_s<=1e9' -o " + found.string());
  EXPECT_EQ(ok.status, 0) << ok.output;
  EXPECT_NE(ok.output.find("answer: cluster.servers[0].count = 1"), std::string::npos) << ok.output;
  EXPECT_TRUE(fs::exists(found / "capacity.csv"));
  EXPECT_TRUE(fs::exists(found / "capacity.json"));

  const testing::CliResult none =
      testing::run_sllmsim(common + "--min 1 --max 2 --target 'completed>=1e9' -o " + (dir / "none").string());
  EXPECT_EQ(none.status, 1) << none.output;
  EXPECT_NE(none.output.find("no answer"), std::string::npos) << none.output;
}

}  // namespace
}  // namespace sllm
