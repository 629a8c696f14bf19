// sllmsim sweep: run a grid of simulations in parallel (sllm/sim/sweep.h; sweep files in docs/paper.md).
// GCC 12 reports a false -Wnull-dereference inside Boost.Program_options' string notifier, instantiated in
// this file (as in the other subcommands that read string options).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <charconv>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sllm/core/error.h"
#include "sllm/sim/sweep.h"
#include "subcommand.h"
#ifdef SLLM_HAVE_MPI
#include "sweep_mpi.h"
#endif

namespace {

// "i/n" with 0 <= i < n.
std::pair<unsigned, unsigned> parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  unsigned i = 0, n = 0;
  const bool ok = slash != std::string::npos &&
                  std::from_chars(text.data(), text.data() + slash, i).ptr == text.data() + slash &&
                  std::from_chars(text.data() + slash + 1, text.data() + text.size(), n).ptr ==
                      text.data() + text.size() &&
                  n > 0 && i < n;
  if (!ok) throw sllm::InputError("--shard " + text, "expected i/n with 0 <= i < n, e.g. 0/4, or slurm");
  return {i, n};
}

// --shard slurm: the shard of this task of a Slurm job array (sbatch --array=MIN-MAX[:STEP]), task
// SLURM_ARRAY_TASK_ID being shard (ID - MIN) / STEP of SLURM_ARRAY_TASK_COUNT.
std::pair<unsigned, unsigned> slurm_shard() {
  const auto variable = [](const char* name, bool required) -> std::optional<unsigned> {
    const char* text = std::getenv(name);
    if (text == nullptr || *text == '\0') {
      if (!required) return std::nullopt;
      throw sllm::InputError("--shard slurm", std::string(name) +
                                                  " is not set: run in a task of a Slurm job array (sbatch "
                                                  "--array=0-N; scripts/slurm-sweep.sh submits one), or use --shard i/n");
    }
    unsigned value = 0;
    const char* end = text + std::char_traits<char>::length(text);
    if (std::from_chars(text, end, value).ptr != end) {
      throw sllm::InputError("--shard slurm", std::string(name) + "=" + text + ": expected a non-negative integer");
    }
    return value;
  };
  const unsigned id = *variable("SLURM_ARRAY_TASK_ID", true);
  const unsigned count = *variable("SLURM_ARRAY_TASK_COUNT", true);
  const unsigned min = variable("SLURM_ARRAY_TASK_MIN", false).value_or(0);
  const unsigned step = variable("SLURM_ARRAY_TASK_STEP", false).value_or(1);
  const std::optional<unsigned> max = variable("SLURM_ARRAY_TASK_MAX", false);
  const std::string array = "SLURM_ARRAY_TASK_ID=" + std::to_string(id) + " MIN=" + std::to_string(min) +
                            " STEP=" + std::to_string(step) + " COUNT=" + std::to_string(count) +
                            (max ? " MAX=" + std::to_string(*max) : "");
  // A shard per task needs the tasks to be the whole range MIN, MIN+STEP, ..., MAX: a list of indices
  // (--array=1,5,9) or a partial resubmission would leave shards out or run one twice.
  const bool range = count > 0 && step > 0 && id >= min && (id - min) % step == 0 && (id - min) / step < count &&
                     (!max || std::uint64_t{min} + std::uint64_t{count - 1} * step == *max);
  if (!range) {
    throw sllm::InputError("--shard slurm", array + ": inconsistent, or not a task of the range MIN..MAX[:STEP] of "
                                                    "COUNT tasks; submit the array as --array=0-N for N + 1 shards "
                                                    "(scripts/slurm-sweep.sh does)");
  }
  return {(id - min) / step, count};
}

// What a sweep prints at the end; the exit status (failed points: kExitFailure, no results.csv).
int report(const sllm::SweepSpec& spec, const sllm::SweepOptions& run, const sllm::SweepOutcome& outcome) {
  std::cout << spec.source << ": " << outcome.planned << " points (" << outcome.ran << " run, " << outcome.skipped
            << " already complete, " << outcome.failures.size() << " failed)";
  if (!outcome.failures.empty()) {
    std::cout << "\n";
    for (const std::string& f : outcome.failures) std::cerr << "failed point " << f << "\n";
    std::cerr << "results.csv not written: re-run to retry the failed points (complete ones are kept)\n";
    return sllm::cli::kExitFailure;
  }
  std::cout << "; results in " << run.output_dir << "/results.csv\n";
  return sllm::cli::kExitOk;
}

#ifdef SLLM_HAVE_MPI
// --mpi: every rank reads the sweep; rank 0 plans it, hands out the points and writes the outputs, the
// others run the points they are handed (sweep_mpi.h).
int run_mpi(const std::string& config, bool quick, const std::vector<std::string>& overrides,
            sllm::SweepOptions run) {
  sllm::cli::MpiSweep mpi;
  if (!mpi.coordinator()) {
    std::optional<sllm::SweepSpec> spec;
    try {
      spec.emplace(sllm::SweepSpec::load(config, quick, overrides));
    } catch (const sllm::InputError& e) {
      mpi.refuse(e.what());  // rank 0 reads the same input and reports the error once
      return sllm::cli::kExitBadInput;
    }
    mpi.serve(*spec, run.output_dir);
    return sllm::cli::kExitOk;
  }
  const sllm::SweepSpec spec = sllm::SweepSpec::load(config, quick, overrides);
  sllm::cli::prepare_output_dir(run.output_dir, "--output");
  const std::unique_ptr<sllm::SweepDispatcher> dispatcher = mpi.dispatcher(spec);
  run.dispatcher = dispatcher.get();
  return report(spec, run, sllm::run_sweep(spec, run));
}
#endif

int run_merge(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::options_description options("sweep merge options");
  options.add_options()
      ("output,o", po::value<std::string>()->required(), "merged output directory (may be one of the shards)")
      ("partial", "write results.csv even when points are missing (they are listed)")
      ("shards", po::value<std::vector<std::string>>()->composing(), "sweep output directories to merge");
  po::positional_options_description positional;
  positional.add("shards", -1);
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim sweep merge -o DIR SHARD_DIR...", options, positional, args, vm)) {
    return sllm::cli::kExitOk;
  }
  std::vector<std::string> shards;
  if (vm.count("shards")) shards = vm["shards"].as<std::vector<std::string>>();
  const std::string& out = vm["output"].as<std::string>();
  sllm::cli::prepare_output_dir(out, "--output");
  const std::size_t n = sllm::merge_sweeps(shards, out, vm.count("partial") > 0, &std::cerr);
  std::cout << "merged " << n << " points into " << out << "/results.csv\n";
  return sllm::cli::kExitOk;
}

int run_sweep(const std::vector<std::string>& args) {
  if (!args.empty() && args.front() == "merge") return run_merge({args.begin() + 1, args.end()});
  namespace po = boost::program_options;
  po::options_description options("sweep options");
  options.add_options()
      ("config,c", po::value<std::string>()->required(), "sweep YAML file (base config + grid/points)")
      ("output,o", po::value<std::string>(), "output directory (results.csv, points/<key>/)")
      ("jobs,j", po::value<unsigned>()->default_value(0), "points run in parallel (0: hardware threads)")
      ("shard", po::value<std::string>(),
       "run only points with index % n == i: --shard i/n, or --shard slurm (i, n of this Slurm array task)")
      ("mpi", "run as an MPI task farm, one point at a time per rank: mpirun -n N sllmsim sweep ... --mpi")
      ("quick", "apply the sweep file's quick: section (fewer points/requests)")
      ("set", po::value<std::vector<std::string>>()->composing(),
       "override a base-config value for every point: --set key.path=value (repeatable)")
      ("list", "print the points (key, seed, overrides) and exit")
      ("check", "read every point's scenario, say how many points there are and exit (bad input: status 2)")
      ("quiet,q", "no per-point progress lines");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim sweep -c SWEEP.yaml -o DIR [-j N | --mpi] [--shard i/n|slurm] [--quick]\n"
                                "       sllmsim sweep merge -o DIR SHARD_DIR...",
                                options, {}, args, vm)) {
    return sllm::cli::kExitOk;
  }
  std::vector<std::string> overrides;
  if (vm.count("set")) overrides = vm["set"].as<std::vector<std::string>>();
  for (const std::string& o : overrides) {
    if (o.find('=') == std::string::npos || o.front() == '=') {
      throw sllm::InputError("--set " + o, "expected key.path=value");
    }
  }
  const std::string& config = vm["config"].as<std::string>();
  const bool quick = vm.count("quick") > 0;
  if (vm.count("list")) {
    for (const auto& p : sllm::SweepSpec::load(config, quick, overrides).points) {
      std::cout << p.key << "  seed " << p.seed;
      for (const auto& o : p.overrides) std::cout << "  --set '" << o << "'";
      std::cout << "\n";
    }
    return sllm::cli::kExitOk;
  }
  if (vm.count("check")) {
    const sllm::SweepSpec spec = sllm::SweepSpec::load(config, quick, overrides);
    sllm::check_sweep(spec);
    std::cout << spec.source << ": " << spec.points.size() << " points, every scenario read\n";
    return sllm::cli::kExitOk;
  }
  if (!vm.count("output")) throw sllm::InputError("command line", "the option '--output' is required (see --help)");
  sllm::SweepOptions run;
  run.output_dir = vm["output"].as<std::string>();
  if (vm.count("shard")) {
    const std::string& shard = vm["shard"].as<std::string>();
    std::tie(run.shard_index, run.shard_count) = shard == "slurm" ? slurm_shard() : parse_shard(shard);
  }
  if (!vm.count("quiet")) run.log = &std::cerr;
  if (vm.count("mpi")) {
    if (!vm["jobs"].defaulted()) {
      throw sllm::InputError("--mpi", "runs one point at a time per rank, so -j does not apply: start one rank per "
                                      "core (mpirun -n N)");
    }
#ifdef SLLM_HAVE_MPI
    return run_mpi(config, quick, overrides, run);
#else
    throw sllm::InputError("--mpi", "this sllmsim was built without MPI: install Open MPI (libopenmpi-dev, "
                                    "openmpi-bin; scripts/setup.sh does) and rebuild");
#endif
  }
  const sllm::SweepSpec spec = sllm::SweepSpec::load(config, quick, overrides);
  sllm::cli::prepare_output_dir(run.output_dir, "--output");
  run.jobs = vm["jobs"].as<unsigned>();
  if (run.jobs == 0) run.jobs = std::max(1u, std::thread::hardware_concurrency());
  return report(spec, run, sllm::run_sweep(spec, run));
}

SLLM_SUBCOMMAND("sweep", "run a grid of simulations in parallel (-c SWEEP -o DIR -j N); 'sweep merge' joins shards",
                run_sweep);

}  // namespace
