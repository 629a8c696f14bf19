// Sweeps: grid expansion, keys, seeds (against the documented formula with the published FNV-1a and
// splitmix64 constants), bad sweep files, parallel runs equal to running each point alone, resume,
// shards + merge equal to the unsharded sweep, CLI exit codes.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "cli_test_util.h"
#include "sim_test_util.h"
#include "sllm/core/error.h"
#include "sllm/sim/sweep.h"

namespace sllm {
namespace {

namespace fs = std::filesystem;
using testing::read_text;
using testing::temp_dir;

constexpr const char* kBase = testing::kSmallSweepBase;

// results.csv rows by column name; RFC 4180 quoting (keys hold commas).
std::vector<std::map<std::string, std::string>> read_results(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> lines;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cells.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (c == ',' && !quoted) {
        cells.emplace_back();
      } else {
        cells.back() += c;
      }
    }
    lines.push_back(cells);
  }
  std::vector<std::map<std::string, std::string>> rows;
  for (std::size_t r = 1; r < lines.size(); ++r) {
    EXPECT_EQ(lines[r].size(), lines[0].size()) << "row " << r;
    std::map<std::string, std::string> row;
    for (std::size_t c = 0; c < lines[0].size() && c < lines[r].size(); ++c) row[lines[0][c]] = lines[r][c];
    rows.push_back(row);
  }
  return rows;
}

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A sweep directory with base.yaml and sweep.yaml; returns the sweep file's path.
std::string make_sweep(const std::string& name, const std::string& sweep_yaml) {
  const fs::path dir = temp_dir(name);
  write(dir / "base.yaml", kBase);
  write(dir / "sweep.yaml", sweep_yaml);
  return (dir / "sweep.yaml").string();
}

constexpr const char* kGrid = R"(base: base.yaml
seed: 7
set: {workload.requests: 40}
grid:
  policy.name: [serverlessllm, serverless]
  workload.rps: [0.5, 1, 2]
seed_by: [workload.rps]
)";

TEST(SweepSpec, GridIsTheCartesianProductLastAxisFastest) {
  const SweepSpec s = SweepSpec::load(make_sweep("grid", kGrid));
  ASSERT_EQ(s.points.size(), 6u);
  EXPECT_EQ(s.param_names, (std::vector<std::string>{"policy.name", "workload.rps"}));
  const char* expected[] = {"policy.name=serverlessllm,workload.rps=0.5", "policy.name=serverlessllm,workload.rps=1",
                            "policy.name=serverlessllm,workload.rps=2",   "policy.name=serverless,workload.rps=0.5",
                            "policy.name=serverless,workload.rps=1",      "policy.name=serverless,workload.rps=2"};
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(s.points[i].key, expected[i]);
    EXPECT_EQ(s.points[i].index, i);
  }
  // Fixed overrides first, then the point's values.
  EXPECT_EQ(s.points[4].overrides,
            (std::vector<std::string>{"workload.requests=40", "policy.name=serverless", "workload.rps=1"}));
  EXPECT_TRUE(fs::path(s.base_config).is_absolute() || fs::exists(s.base_config));
}

TEST(SweepSpec, ListedPointsCrossTheGrid) {
  const SweepSpec s = SweepSpec::load(make_sweep("points", R"(base: base.yaml
points:
  - models.deployments[0].model: opt-2.7b
  - models.deployments[0].model: opt-6.7b
    models.deployments[0].count: 2
    label.panel: b
grid:
  policy.name: [serverlessllm, serverless]
)"));
  ASSERT_EQ(s.points.size(), 4u);
  EXPECT_EQ(s.param_names, (std::vector<std::string>{"models.deployments[0].model", "models.deployments[0].count",
                                                     "label.panel", "policy.name"}));
  EXPECT_EQ(s.points[3].key,
            "models.deployments_0_.model=opt-6.7b,models.deployments_0_.count=2,label.panel=b,policy.name=serverless~" +
                s.points[3].key.substr(s.points[3].key.size() - 12));
  // Labels are columns, not overrides.
  EXPECT_EQ(s.points[3].overrides,
            (std::vector<std::string>{"models.deployments[0].model=opt-6.7b", "models.deployments[0].count=2",
                                      "policy.name=serverless"}));
  // The first point leaves the count column empty.
  const std::string row = sweep_results_row(s.points[0], RunSummary{}, s.param_names);
  EXPECT_NE(row.find("opt-2.7b,,,serverlessllm,"), std::string::npos) << row;
}

TEST(SweepSpec, MeanWithTimeoutsCountsEachTimeoutAtTheTimeout) {
  SweepPoint p;
  p.key = "k";
  RunSummary s;
  s.completed = 3;
  s.timed_out = 1;
  s.rejected = 5;  // never served: not part of either mean
  s.latency.mean = 10;
  s.request_timeout = 300 * kNanosPerSecond;
  const std::string header = sweep_results_header({});
  const std::string row = sweep_results_row(p, s, {});
  // Column of latency_mean_with_timeouts_s: (3 x 10 s + 300 s) / 4 = 82.5 s.
  std::size_t column = 0;
  for (std::size_t i = 0; i < header.find("latency_mean_with_timeouts_s"); ++i) column += header[i] == ',';
  std::size_t at = 0;
  for (std::size_t c = 0; c < column; ++c) at = row.find(',', at) + 1;
  EXPECT_EQ(row.substr(at, row.find(',', at) - at), "82.5") << row;
}

TEST(SweepSpec, SeedFollowsTheDocumentedFormula) {
  // FNV-1a 64 test vectors (Fowler/Noll/Vo reference): "" and "a".
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  const SweepSpec s = SweepSpec::load(make_sweep("seed", kGrid));
  // Policies at one rate share a seed (same request stream); rates differ.
  EXPECT_EQ(s.points[0].seed, s.points[3].seed);
  EXPECT_NE(s.points[0].seed, s.points[1].seed);
  // splitmix64 (Vigna) of 7 ^ FNV-1a("workload.rps=0.5;"), written out here, shifted to 63 bits.
  std::uint64_t z = (7 ^ fnv1a64("workload.rps=0.5;")) + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  EXPECT_EQ(s.points[0].seed, z >> 1);
}

TEST(SweepSpec, KeysAreDirectorySafeAndDistinct) {
  const std::string a = sweep_point_key({{"workload.lengths", "{kind: fixed, input: 1, output: 2}"}});
  const std::string b = sweep_point_key({{"workload.lengths", "{kind: fixed, input: 1, output: 3}"}});
  EXPECT_NE(a, b);
  for (char c : a) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || std::string("._=,+-~").find(c) != std::string::npos) << a;
  EXPECT_EQ(sweep_point_key({{"workload.rps", "0.5"}}), "workload.rps=0.5");
  EXPECT_EQ(sweep_point_key({}), "base");
  EXPECT_LE(sweep_point_key({{"x", std::string(500, 'a')}}).size(), 200u);
}

TEST(SweepSpec, QuickSectionReplacesAxesAndAddsFixedValues) {
  const std::string file = make_sweep("quick", std::string(kGrid) + R"(quick:
  set: {workload.requests: 10}
  grid: {workload.rps: [1]}
)");
  const SweepSpec full = SweepSpec::load(file);
  const SweepSpec quick = SweepSpec::load(file, true);
  EXPECT_EQ(full.points.size(), 6u);
  ASSERT_EQ(quick.points.size(), 2u);
  EXPECT_EQ(quick.points[0].overrides[0], "workload.requests=10");
  EXPECT_NE(full.fingerprint, quick.fingerprint);
}

void expect_input_error(const std::string& name, const std::string& yaml, const std::string& needle) {
  try {
    SweepSpec::load(make_sweep(name, yaml));
    ADD_FAILURE() << "no error for " << name;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(SweepSpec, BadFilesAreInputErrorsThatSayWhere) {
  expect_input_error("nobase", "grid: {workload.rps: [1]}\n", "missing required key 'base'");
  expect_input_error("badbase", "base: nope.yaml\n", "cannot open base config");
  expect_input_error("unknown", "base: base.yaml\ngrids: {a: [1]}\n", "unknown key 'grids'");
  expect_input_error("empty", "base: base.yaml\ngrid: {workload.rps: []}\n", "at least one value");
  expect_input_error("scalar", "base: base.yaml\ngrid: {workload.rps: 1}\n", "expected a list");
  expect_input_error("dup", "base: base.yaml\ngrid: {workload.rps: [1, 1]}\n", "same value twice");
  expect_input_error("seedby", "base: base.yaml\ngrid: {workload.rps: [1]}\nseed_by: [policy.name]\n",
                     "not a swept key");
  expect_input_error("both", "base: base.yaml\nset: {workload.rps: 2}\ngrid: {workload.rps: [1]}\n",
                     "both fixed");
}

TEST(SweepSpec, QuickAxisMustExist) {
  const std::string file =
      make_sweep("quickaxis2", "base: base.yaml\ngrid: {workload.rps: [1]}\nquick: {grid: {policy.name: [x]}}\n");
  EXPECT_NO_THROW(SweepSpec::load(file));  // the quick section is checked only when used
  EXPECT_THROW(SweepSpec::load(file, true), InputError);
}

TEST(SweepRun, BadPointFailsBeforeAnythingRuns) {
  const SweepSpec s = SweepSpec::load(
      make_sweep("badpoint", "base: base.yaml\ngrid: {policy.name: [serverlessllm, no-such-policy]}\n"));
  const std::string out = temp_dir("badpoint_out");
  SweepOptions o;
  o.output_dir = out;
  o.jobs = 2;
  try {
    run_sweep(s, o);
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("policy.name=no-such-policy"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(fs::path(out) / "points" / "policy.name=serverlessllm"));
}

// Each row equals the point run alone (same scenario, overrides and seed): independent of threads.
TEST(SweepRun, ParallelRowsEqualPointsRunAlone) {
  const SweepSpec s = SweepSpec::load(make_sweep("run", kGrid));
  const std::string out = temp_dir("run_out");
  SweepOptions o;
  o.output_dir = out;
  o.jobs = 3;
  const SweepOutcome r = run_sweep(s, o);
  EXPECT_EQ(r.ran, 6u);
  EXPECT_TRUE(r.failures.empty());
  const auto all = read_results(out + "/results.csv");
  ASSERT_EQ(all.size(), 12u);  // each run's row, then its point's mean row (one seed: the same numbers)
  std::vector<std::map<std::string, std::string>> rows;
  for (std::size_t i = 0; i < all.size(); i += 2) {
    rows.push_back(all[i]);
    EXPECT_EQ(all[i].at("repeat"), "0");
    EXPECT_EQ(all[i + 1].at("repeat"), "mean");
    EXPECT_EQ(all[i + 1].at("key"), all[i].at("key"));
    EXPECT_EQ(all[i + 1].at("seed"), "");
    EXPECT_EQ(std::stod(all[i + 1].at("completed")), std::stod(all[i].at("completed")));
    EXPECT_EQ(all[i + 1].at("completed_ci95"), "");  // no interval from one seed
    EXPECT_EQ(all[i + 1].at("fingerprint"), all[i].at("fingerprint"));
  }
  for (std::size_t i = 0; i < 6; ++i) {
    const SweepPoint& p = s.points[i];
    const Scenario alone = Scenario::load(s.base_config, p.overrides, p.seed);
    Simulator sim(alone);
    const RunSummary summary = sim.run();
    EXPECT_EQ(rows[i].at("key"), p.key);
    EXPECT_EQ(rows[i].at("seed"), std::to_string(p.seed));
    EXPECT_EQ(rows[i].at("workload.rps"), p.params[1].second);
    EXPECT_EQ(std::stoull(rows[i].at("arrived")), 40u);
    EXPECT_EQ(std::stoull(rows[i].at("arrived")), summary.arrived);
    EXPECT_EQ(std::stoull(rows[i].at("completed")), summary.completed);
    char fp[17];
    std::snprintf(fp, sizeof fp, "%016llx", static_cast<unsigned long long>(summary.fingerprint));
    EXPECT_EQ(rows[i].at("fingerprint"), fp);
    EXPECT_TRUE(fs::exists(fs::path(out) / "points" / p.key / "requests.csv"));
    EXPECT_TRUE(fs::exists(fs::path(out) / "points" / p.key / "summary.json"));
  }
  // One thread gives the same file.
  const std::string serial = temp_dir("run_serial");
  o.output_dir = serial;
  o.jobs = 1;
  run_sweep(s, o);
  EXPECT_EQ(read_text(out + "/results.csv"), read_text(serial + "/results.csv"));
}

TEST(SweepRun, ResumeSkipsCompletePointsAndRerunsChangedOnes) {
  const std::string file = make_sweep("resume", kGrid);
  const SweepSpec s = SweepSpec::load(file);
  const std::string out = temp_dir("resume_out");
  SweepOptions o;
  o.output_dir = out;
  o.jobs = 2;
  EXPECT_EQ(run_sweep(s, o).ran, 6u);
  const std::string first = read_text(out + "/results.csv");
  SweepOutcome again = run_sweep(s, o);
  EXPECT_EQ(again.ran, 0u);
  EXPECT_EQ(again.skipped, 6u);
  EXPECT_EQ(read_text(out + "/results.csv"), first);
  // An incomplete point (no row.csv) runs again; so does one whose overrides changed.
  fs::remove(fs::path(out) / "points" / s.points[2].key / "row.csv");
  again = run_sweep(s, o);
  EXPECT_EQ(again.ran, 1u);
  EXPECT_EQ(read_text(out + "/results.csv"), first);
  const SweepSpec changed = SweepSpec::load(file, false, {"workload.cv=1"});
  EXPECT_EQ(run_sweep(changed, o).ran, 6u);
}

TEST(SweepRun, ShardsMergeIntoTheUnshardedResult) {
  const SweepSpec s = SweepSpec::load(make_sweep("shard", kGrid));
  SweepOptions o;
  o.jobs = 2;
  const std::string all_dir = temp_dir("shard_all");
  o.output_dir = all_dir;
  run_sweep(s, o);
  std::vector<std::string> shards;
  for (unsigned i = 0; i < 3; ++i) {
    o.output_dir = temp_dir("shard_" + std::to_string(i));
    o.shard_index = i;
    o.shard_count = 3;
    EXPECT_EQ(run_sweep(s, o).planned, 2u);
    shards.push_back(o.output_dir);
  }
  const std::string merged = temp_dir("shard_merged");
  EXPECT_EQ(merge_sweeps(shards, merged, false), 6u);
  EXPECT_EQ(read_text(merged + "/results.csv"), read_text(all_dir + "/results.csv"));
  // Merging into one of the shards works too.
  EXPECT_EQ(merge_sweeps(shards, shards[0], false), 6u);
  EXPECT_EQ(read_text(shards[0] + "/results.csv"), read_text(merged + "/results.csv"));
  // A missing shard is an error unless partial results are asked for.
  EXPECT_THROW(merge_sweeps({shards[1], shards[2]}, temp_dir("shard_partial"), false), std::runtime_error);
  EXPECT_EQ(merge_sweeps({shards[1], shards[2]}, temp_dir("shard_partial"), true), 4u);
  // A shard of another sweep is refused.
  const SweepSpec other = SweepSpec::load(make_sweep("shard_other", kGrid), false, {"workload.cv=1"});
  o.output_dir = temp_dir("shard_other_out");
  o.shard_index = 0;
  o.shard_count = 1;
  run_sweep(other, o);
  EXPECT_THROW(merge_sweeps({shards[1], o.output_dir}, temp_dir("shard_mixed"), false), InputError);
}

// Student-t intervals of known samples (t quantiles from standard tables: t(0.975, 4) = 2.776445,
// t(0.975, 2) = 4.302653).
TEST(SweepStats, SampleMeanAndItsStudentTInterval) {
  SampleMean m = sample_mean({1, 2, 3, 4, 5});
  EXPECT_DOUBLE_EQ(m.mean, 3.0);
  EXPECT_EQ(m.n, 5u);
  EXPECT_NEAR(m.half_width, 2.7764451051977987 * std::sqrt(2.5) / std::sqrt(5.0), 1e-9);
  m = sample_mean({10, 14, std::nan(""), 12});  // NaN left out
  EXPECT_EQ(m.n, 3u);
  EXPECT_DOUBLE_EQ(m.mean, 12.0);
  EXPECT_NEAR(m.half_width, 4.302652729749464 * 2.0 / std::sqrt(3.0), 1e-9);
  m = sample_mean({7});
  EXPECT_DOUBLE_EQ(m.mean, 7.0);
  EXPECT_TRUE(std::isnan(m.half_width));
  EXPECT_NEAR(sample_mean({0, 1}, 0.90).half_width, 6.313751514675 * std::sqrt(0.5) / std::sqrt(2.0), 1e-9);
}

constexpr const char* kRepeat = R"(base: base.yaml
seed: 7
repeat: 3
set: {workload.requests: 30}
grid:
  policy.name: [serverlessllm, serverless]
  workload.rps: [0.5, 2]
seed_by: [workload.rps]
quick: {repeat: 2}
)";

TEST(SweepSpec, RepeatRunsEachPointWithItsOwnSeedsSharedAcrossPolicies) {
  const std::string file = make_sweep("repeat", kRepeat);
  const SweepSpec s = SweepSpec::load(file);
  ASSERT_EQ(s.repeat, 3u);
  ASSERT_EQ(s.points.size(), 12u);
  const std::uint64_t point_seed = sweep_point_seed(7, {{"workload.rps", "0.5"}}, {"workload.rps"});
  std::set<std::uint64_t> seeds;
  for (std::uint32_t r = 0; r < 3; ++r) {
    const SweepPoint& p = s.points[r];
    EXPECT_EQ(p.replicate, r);
    EXPECT_EQ(p.param_key, "policy.name=serverlessllm,workload.rps=0.5");
    EXPECT_EQ(p.key, p.param_key + ",repeat=" + std::to_string(r));
    EXPECT_EQ(p.seed, sweep_replicate_seed(point_seed, r));
    seeds.insert(p.seed);
    // The other policy at the same rate runs the same seeds (common random numbers).
    EXPECT_EQ(s.points[6 + r].seed, p.seed);
    EXPECT_NE(s.points[3 + r].seed, p.seed);  // another rate: other streams
  }
  EXPECT_EQ(s.points[0].seed, point_seed);  // replicate 0 keeps the seed a sweep without repeat gives
  EXPECT_EQ(seeds.size(), 3u);
  EXPECT_EQ(SweepSpec::load(file, true).points.size(), 8u);  // quick.repeat
}

TEST(SweepRun, MeanRowsAverageTheSeedsWithTheirInterval) {
  const SweepSpec s = SweepSpec::load(make_sweep("repeat_run", kRepeat));
  const std::string out = temp_dir("repeat_out");
  SweepOptions o;
  o.output_dir = out;
  o.jobs = 2;
  ASSERT_TRUE(run_sweep(s, o).failures.empty());
  const auto rows = read_results(out + "/results.csv");
  ASSERT_EQ(rows.size(), 16u);  // 4 points x (3 seeds + mean)
  for (std::size_t g = 0; g < 4; ++g) {
    const auto& mean = rows[g * 4 + 3];
    EXPECT_EQ(mean.at("repeat"), "mean");
    EXPECT_EQ(mean.at("key"), s.points[g * 3].param_key);
    for (const std::string metric : {"completed", "latency_all_censored_mean_s", "ttft_all_censored_p99_s"}) {
      double x[3];
      for (int r = 0; r < 3; ++r) {
        EXPECT_EQ(rows[g * 4 + r].at("repeat"), std::to_string(r));
        EXPECT_EQ(rows[g * 4 + r].at(metric + "_ci95"), "");
        x[r] = std::stod(rows[g * 4 + r].at(metric));
      }
      const double mu = (x[0] + x[1] + x[2]) / 3;
      const double sd = std::sqrt(((x[0] - mu) * (x[0] - mu) + (x[1] - mu) * (x[1] - mu) + (x[2] - mu) * (x[2] - mu)) / 2);
      EXPECT_NEAR(std::stod(mean.at(metric)), mu, 1e-8 * std::max(1.0, mu)) << metric;
      if (sd > 0) {
        EXPECT_NEAR(std::stod(mean.at(metric + "_ci95")), 4.302652729749464 * sd / std::sqrt(3.0),
                    1e-7 * std::max(1.0, sd)) << metric;
      }
    }
    // A text metric that differs between the seeds has no mean.
    EXPECT_EQ(mean.at("fingerprint"), "");
  }
}

int run_cli(const std::string& args) { return testing::run_sllmsim(args).status; }

TEST(SweepCli, ExitCodes) {
  const std::string good = make_sweep("cli", kGrid);
  const std::string out = temp_dir("cli_out");
  EXPECT_EQ(run_cli("sweep -c " + good + " -o " + out + " -j 2 -q"), 0);
  EXPECT_TRUE(fs::exists(out + "/results.csv"));
  EXPECT_EQ(run_cli("sweep -c " + make_sweep("cli_bad", "base: base.yaml\ngrid: {workload.rps: []}\n") + " -o " +
                    temp_dir("cli_bad_out")),
            2);
  EXPECT_EQ(run_cli("sweep -c " + good + " -o " + out + " --shard 3/2"), 2);
  EXPECT_EQ(run_cli("sweep -c " + good + " -o " + out + " --set policy.name=serverless"), 2);
  EXPECT_EQ(run_cli("sweep merge -o " + temp_dir("cli_merge") + " " + temp_dir("cli_nothing")), 2);
  EXPECT_EQ(run_cli("sweep merge -o " + temp_dir("cli_merge2") + " " + out), 0);
}

}  // namespace
}  // namespace sllm
