// sllmsim sweep: run a grid of simulations in parallel (sllm/sim/sweep.h; sweep files in docs/paper.md).
// GCC 12 reports a false -Wnull-dereference inside Boost.Program_options' string notifier, instantiated in
// this file (as in the other subcommands that read string options).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <charconv>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "sllm/core/error.h"
#include "sllm/sim/sweep.h"
#include "subcommand.h"

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
  if (!ok) throw sllm::InputError("--shard " + text, "expected i/n with 0 <= i < n, e.g. 0/4");
  return {i, n};
}

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
      ("shard", po::value<std::string>(), "run only points with index % n == i: --shard i/n")
      ("quick", "apply the sweep file's quick: section (fewer points/requests)")
      ("set", po::value<std::vector<std::string>>()->composing(),
       "override a base-config value for every point: --set key.path=value (repeatable)")
      ("list", "print the points (key, seed, overrides) and exit")
      ("quiet,q", "no per-point progress lines");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim sweep -c SWEEP.yaml -o DIR [-j N] [--shard i/n] [--quick]\n"
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
  const sllm::SweepSpec spec =
      sllm::SweepSpec::load(vm["config"].as<std::string>(), vm.count("quick") > 0, overrides);
  if (vm.count("list")) {
    for (const auto& p : spec.points) {
      std::cout << p.key << "  seed " << p.seed;
      for (const auto& o : p.overrides) std::cout << "  --set '" << o << "'";
      std::cout << "\n";
    }
    return sllm::cli::kExitOk;
  }
  if (!vm.count("output")) throw sllm::InputError("command line", "the option '--output' is required (see --help)");
  sllm::SweepOptions run;
  run.output_dir = vm["output"].as<std::string>();
  sllm::cli::prepare_output_dir(run.output_dir, "--output");
  run.jobs = vm["jobs"].as<unsigned>();
  if (run.jobs == 0) run.jobs = std::max(1u, std::thread::hardware_concurrency());
  if (vm.count("shard")) std::tie(run.shard_index, run.shard_count) = parse_shard(vm["shard"].as<std::string>());
  if (!vm.count("quiet")) run.log = &std::cerr;
  const sllm::SweepOutcome outcome = sllm::run_sweep(spec, run);
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

SLLM_SUBCOMMAND("sweep", "run a grid of simulations in parallel (-c SWEEP -o DIR -j N); 'sweep merge' joins shards",
                run_sweep);

}  // namespace
