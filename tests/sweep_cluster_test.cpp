// Sweeps on a cluster, without a cluster: Slurm job-array tasks pick their shard from the variables Slurm
// sets; scripts/slurm-sweep.sh prints (--dry-run) and submits the array and its merge job, run here by a
// stand-in sbatch (tests/support/fake_sbatch.sh); `mpirun -n 3 sllmsim sweep --mpi` runs a task farm. Each
// ends in a results.csv byte-identical to `sllmsim sweep -j 1`.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "cli_test_util.h"
#include "sim_test_util.h"
#include "sllm/sim/sweep.h"

namespace sllm {
namespace {

namespace fs = std::filesystem;
using testing::read_text;
using testing::run_command;
using testing::run_sllmsim;
using testing::temp_dir;

constexpr const char* kBase = testing::kSmallSweepBase;

// Points that differ in cost by 20x (the requests axis), as real sweeps do, each run with two seeds
// (results.csv: per-seed rows, then each point's mean row).
constexpr const char* kSweep = R"(base: base.yaml
seed: 3
repeat: 2
grid:
  workload.requests: [400, 20, 100]
  policy.name: [serverlessllm, serverless]
)";

const char* const kSlurmVariables[] = {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN",
                                       "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_STEP"};

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A directory holding base.yaml and sweep.yaml; returns the sweep file.
std::string make_sweep(const std::string& name, const std::string& sweep_yaml = kSweep) {
  const fs::path dir = temp_dir(name);
  write(dir / "base.yaml", kBase);
  write(dir / "sweep.yaml", sweep_yaml);
  return (dir / "sweep.yaml").string();
}

// results.csv of the sweep run by one thread: what every cluster run must reproduce byte for byte.
std::string single_thread_results(const std::string& sweep, const std::string& name) {
  const std::string out = temp_dir(name);
  const testing::CliResult r = run_sllmsim("sweep -c " + sweep + " -o " + out + " -j 1 -q");
  EXPECT_EQ(r.status, 0) << r.output;
  const std::string results = read_text(out + "/results.csv");
  EXPECT_EQ(results.rfind("key,seed,", 0), 0u) << "no results.csv in " << out;
  return results;
}

// An environment prefix with exactly the given Slurm array variables set.
std::string slurm_env(const std::string& assignments) {
  std::string env = "env";
  for (const char* v : kSlurmVariables) env += std::string(" -u ") + v;
  return env + " " + assignments;
}

// The keys of the points a sweep directory holds (complete or not).
std::set<std::string> point_dirs(const std::string& dir) {
  std::set<std::string> keys;
  for (const auto& e : fs::directory_iterator(fs::path(dir) / "points")) keys.insert(e.path().filename().string());
  return keys;
}

TEST(SweepSlurm, ArrayTasksRunTheirShardAndMergeIntoTheSingleThreadResults) {
  const std::string sweep = make_sweep("slurm_tasks");
  const SweepSpec spec = SweepSpec::load(sweep);
  ASSERT_EQ(spec.points.size(), 12u);
  const std::string expected = single_thread_results(sweep, "slurm_tasks_j1");
  // Arrays as sbatch --array=0-2, --array=1-3 and --array=0-4:2 number their three tasks.
  struct Array {
    unsigned min, step;
  };
  for (const Array a : {Array{0, 1}, Array{1, 1}, Array{0, 2}}) {
    const std::string label = "min" + std::to_string(a.min) + "_step" + std::to_string(a.step);
    std::string shards;
    for (unsigned task = 0; task < 3; ++task) {
      const unsigned id = a.min + task * a.step;
      const std::string out = temp_dir("slurm_" + label + "_task" + std::to_string(task));
      const testing::CliResult r = run_sllmsim(
          "sweep -c " + sweep + " -o " + out + " --shard slurm -q",
          slurm_env("SLURM_ARRAY_TASK_ID=" + std::to_string(id) + " SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=" +
                    std::to_string(a.min) + " SLURM_ARRAY_TASK_MAX=" + std::to_string(a.min + 2 * a.step) +
                    " SLURM_ARRAY_TASK_STEP=" + std::to_string(a.step)));
      ASSERT_EQ(r.status, 0) << label << " task " << task << ": " << r.output;
      // Task k runs the points with index % 3 == k, as --shard k/3.
      std::set<std::string> expected_keys;
      for (const SweepPoint& p : spec.points) {
        if (p.index % 3 == task) expected_keys.insert(p.key);
      }
      EXPECT_EQ(point_dirs(out), expected_keys) << label << " task " << task;
      shards += " " + out;
    }
    const std::string merged = temp_dir("slurm_" + label + "_merged");
    const testing::CliResult m = run_sllmsim("sweep merge -o " + merged + shards);
    ASSERT_EQ(m.status, 0) << m.output;
    EXPECT_EQ(read_text(merged + "/results.csv"), expected) << label;
  }
}

TEST(SweepSlurm, MissingOrInconsistentVariablesAreInputErrors) {
  const std::string sweep = make_sweep("slurm_bad");
  struct Case {
    const char* env;
    const char* message;
  };
  const Case cases[] = {
      {"", "SLURM_ARRAY_TASK_ID is not set"},
      {"SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_COUNT is not set"},
      {"SLURM_ARRAY_TASK_ID=one SLURM_ARRAY_TASK_COUNT=3", "SLURM_ARRAY_TASK_ID=one: expected a non-negative integer"},
      {"SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=-3", "SLURM_ARRAY_TASK_COUNT=-3: expected a non-negative"},
      {"SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_COUNT=3", "inconsistent"},                          // past the end
      {"SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=1", "inconsistent"},  // before the start
      {"SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_STEP=2", "inconsistent"},  // off the step
      // --array=0,1,7: three tasks that are no range
      {"SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=7", "inconsistent"},
      {"SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT=0", "inconsistent"},
  };
  for (const Case& c : cases) {
    const std::string out = temp_dir("slurm_bad_out");
    const testing::CliResult r = run_sllmsim("sweep -c " + sweep + " -o " + out + " --shard slurm", slurm_env(c.env));
    EXPECT_EQ(r.status, 2) << c.env << ": " << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.env << ": " << r.output;
    EXPECT_NE(r.output.find("--shard slurm"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out)) << c.env << ": nothing is written before the shard is known";
  }
}

// A directory with `sbatch` (the stand-in) to put first on PATH, and the stand-in's state directory.
struct FakeSlurm {
  std::string bin, state;
  explicit FakeSlurm(const std::string& name) : bin(temp_dir(name + "_bin")), state(temp_dir(name + "_state")) {
    fs::create_directories(bin);
    fs::create_symlink(fs::path(SLLM_SOURCE_DIR) / "tests/support/fake_sbatch.sh", fs::path(bin) / "sbatch");
    fs::remove_all(state);
  }
  std::string env() const { return "PATH=" + bin + ":$PATH FAKE_SBATCH_STATE=" + state + " "; }
};

std::string slurm_script() { return std::string(SLLM_SOURCE_DIR) + "/scripts/slurm-sweep.sh --sllmsim " + testing::sllmsim_binary(); }

TEST(SlurmScript, DryRunPrintsTheArrayAndTheMergeThatDependsOnIt) {
  const std::string sweep = make_sweep("script_dry");
  const std::string out = temp_dir("script_dry_out");
  const testing::CliResult r = run_command(slurm_script() + " -c " + sweep + " -o " + out + " -n 3 --dry-run -- --time=10");
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* needle : {"sbatch --parsable", "--array=0-2", "--shard slurm", "--time=10",
                             "--dependency=afterok:", "sweep merge -o " }) {
    EXPECT_NE(r.output.find(needle), std::string::npos) << needle << " in\n" << r.output;
  }
  EXPECT_LT(r.output.find("--array=0-2"), r.output.find("--dependency=afterok:")) << r.output;
  EXPECT_FALSE(fs::exists(out)) << "a dry run submits and writes nothing";

  // The printed commands are a script: run by the stand-in sbatch they give the single-thread results.
  const std::string script = temp_dir("script_dry_cmds") + "/submit.sh";
  write(script, r.output);
  const FakeSlurm slurm("script_dry");
  const testing::CliResult run = run_command(slurm.env() + "bash " + script);
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(read_text(out + "/results.csv"), single_thread_results(sweep, "script_dry_j1"));
  EXPECT_FALSE(fs::exists(out + "/shards")) << "the merge job removes the shards";
}

TEST(SlurmScript, SubmitsShardsAndMergeThroughSbatch) {
  const std::string sweep = make_sweep("script_submit");
  const std::string out = temp_dir("script_submit_out");
  const FakeSlurm slurm("script_submit");
  // More shards than runs: one per run.
  const testing::CliResult r =
      run_command(slurm.env() + slurm_script() + " -c " + sweep + " -o " + out + " -n 20 --keep-shards");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("submitting 12"), std::string::npos) << r.output;
  EXPECT_EQ(read_text(out + "/results.csv"), single_thread_results(sweep, "script_submit_j1"));
  EXPECT_EQ(point_dirs(out).size(), 12u);
  for (int task = 0; task < 12; ++task) EXPECT_EQ(point_dirs(out + "/shards/" + std::to_string(task)).size(), 1u);
  EXPECT_TRUE(fs::exists(out + "/logs/shard-11.out"));

  // A bad sweep fails before anything is submitted.
  const std::string bad = make_sweep("script_bad", "base: base.yaml\ngrid: {policy.name: [serverlessllm, nope]}\n");
  const FakeSlurm unused("script_bad");
  const testing::CliResult b = run_command(unused.env() + slurm_script() + " -c " + bad + " -o " + out + "2 -n 2");
  EXPECT_EQ(b.status, 2) << b.output;
  EXPECT_NE(b.output.find("policy.name=nope"), std::string::npos) << b.output;
  EXPECT_FALSE(fs::exists(unused.state + "/calls"));
  EXPECT_EQ(run_command(slurm_script() + " -c " + sweep + " -o " + out + " -n 0 --dry-run").status, 2);
  EXPECT_EQ(run_command(slurm_script() + " -c " + sweep + " -n 2 --dry-run").status, 2);
}

// A sweep in which two points fail while running (a trace whose last row is bad: found when replayed,
// not when the scenario is read), beside two that succeed.
std::string make_failing_sweep(const std::string& name) {
  const std::string sweep = make_sweep(name, R"(base: base.yaml
set: {workload: "{kind: trace, format: canonical, path: good.csv}"}
grid:
  workload.path: [good.csv, bad.csv]
  policy.name: [serverlessllm, serverless]
)");
  std::string good = "id,arrival_s,model,input_tokens,output_tokens\n";
  for (int i = 0; i < 30; ++i) good += std::to_string(i) + "," + std::to_string(i / 2) + ".5,0,100,20\n";
  const fs::path dir = fs::path(sweep).parent_path();
  write(dir / "good.csv", good);
  write(dir / "bad.csv", good + "30,16.0,1,many,20\n");
  return sweep;
}

#ifdef SLLM_MPIEXEC
// mpirun with N ranks on this machine: more ranks than cores allowed, and as root (CI runs as root).
testing::CliResult mpirun(int ranks, const std::string& sweep_args) {
  return run_command("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " SLLM_MPIEXEC " -n " +
                     std::to_string(ranks) + " --oversubscribe " + testing::sllmsim_binary() + " sweep " + sweep_args +
                     " --mpi");
}
#define SLLM_REQUIRE_MPI()
#else
testing::CliResult mpirun(int, const std::string&) { return {}; }
#define SLLM_REQUIRE_MPI() GTEST_SKIP() << "sllmsim was built without MPI (libopenmpi-dev not found by CMake)"
#endif

TEST(SweepMpi, ThreeRanksWriteTheSingleThreadResults) {
  SLLM_REQUIRE_MPI();
  const std::string sweep = make_sweep("mpi_run");
  const std::string out = temp_dir("mpi_run_out");
  const testing::CliResult r = mpirun(3, "-c " + sweep + " -o " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string reference = temp_dir("mpi_run_j1");
  ASSERT_EQ(run_sllmsim("sweep -c " + sweep + " -o " + reference + " -j 1 -q").status, 0);
  EXPECT_EQ(read_text(out + "/results.csv"), read_text(reference + "/results.csv"));
  EXPECT_EQ(read_text(out + "/plan.txt"), read_text(reference + "/plan.txt"));
  for (const SweepPoint& p : SweepSpec::load(sweep).points) {
    EXPECT_TRUE(fs::exists(out + "/points/" + p.key + "/row.csv")) << p.key;
    EXPECT_EQ(read_text(out + "/points/" + p.key + "/requests.csv"),
              read_text(reference + "/points/" + p.key + "/requests.csv"))
        << p.key;
  }
  // Run again: every point is complete, nothing runs, the same results.
  const testing::CliResult again = mpirun(3, "-c " + sweep + " -o " + out + " -q");
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_NE(again.output.find("(0 run, 12 already complete, 0 failed)"), std::string::npos) << again.output;
  EXPECT_EQ(read_text(out + "/results.csv"), read_text(reference + "/results.csv"));
}

TEST(SweepMpi, FailedPointsAreReportedByKeyAfterTheOthersFinish) {
  SLLM_REQUIRE_MPI();
  const std::string sweep = make_failing_sweep("mpi_fail");
  const std::string out = temp_dir("mpi_fail_out");
  const testing::CliResult r = mpirun(3, "-c " + sweep + " -o " + out + " -q");
  EXPECT_EQ(r.status, 1) << r.output;
  for (const char* key : {"workload.path=bad.csv,policy.name=serverlessllm", "workload.path=bad.csv,policy.name=serverless"}) {
    EXPECT_NE(r.output.find(std::string("failed point ") + key + ": "), std::string::npos) << key << "\n" << r.output;
    EXPECT_FALSE(fs::exists(out + "/points/" + key + "/row.csv")) << key;
  }
  EXPECT_NE(r.output.find("bad.csv:32"), std::string::npos) << "the point's own error, with file and line\n" << r.output;
  EXPECT_NE(r.output.find("(2 run, 0 already complete, 2 failed)"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(out + "/points/workload.path=good.csv,policy.name=serverless/row.csv"));
  EXPECT_FALSE(fs::exists(out + "/results.csv"));

  // Fixed, the sweep resumes: only the failed points run, and the results are the single-thread ones.
  const fs::path dir = fs::path(sweep).parent_path();
  fs::copy_file(dir / "good.csv", dir / "bad.csv", fs::copy_options::overwrite_existing);
  const testing::CliResult again = mpirun(3, "-c " + sweep + " -o " + out + " -q");
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_NE(again.output.find("(2 run, 2 already complete, 0 failed)"), std::string::npos) << again.output;
  EXPECT_EQ(read_text(out + "/results.csv"), single_thread_results(sweep, "mpi_fail_j1"));
}

TEST(SweepMpi, BadInputIsReportedOnceWithStatusTwo) {
  SLLM_REQUIRE_MPI();
  const std::string sweep = make_sweep("mpi_bad");
  const auto expect_once = [](const testing::CliResult& r, const std::string& message) {
    EXPECT_EQ(r.status, 2) << r.output;
    const std::size_t first = r.output.find(message);
    ASSERT_NE(first, std::string::npos) << r.output;
    EXPECT_EQ(r.output.find(message, first + 1), std::string::npos) << "reported more than once:\n" << r.output;
  };
  // Every rank reads the sweep and finds the error; rank 0 alone reports it.
  expect_once(mpirun(3, "-c " + sweep + " -o " + temp_dir("mpi_bad_out") + " --set policy.name=nope"),
              "sllmsim sweep: error: --set policy.name=nope");
  // Rank 0 finds a bad point while the workers wait for work: they are released.
  expect_once(mpirun(3, "-c " + sweep + " -o " + temp_dir("mpi_bad_out") + " --set policy.keep_alive.name=nope"),
              "sllmsim sweep: error: sweep point");
  // So is an output path rank 0 cannot use.
  expect_once(mpirun(3, "-c " + sweep + " -o " + sweep), "exists and is not a directory");
}

}  // namespace
}  // namespace sllm
