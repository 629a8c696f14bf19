// sllmsim capacity: the smallest value of an integer config axis that meets SLO targets
// (sllm/sim/capacity.h; docs/capacity.md).
// GCC 12 reports a false -Wnull-dereference inside Boost.Program_options' string notifier, instantiated in
// this file (as in the other subcommands that read string options).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <algorithm>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "sllm/core/error.h"
#include "sllm/sim/capacity.h"
#include "subcommand.h"

namespace {

int run_capacity(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::options_description options("capacity options");
  options.add_options()
      ("config,c", po::value<std::string>()->required(), "scenario YAML file")
      ("axis", po::value<std::string>()->required(),
       "integer config key searched, e.g. cluster.servers[0].count or cluster.servers[0].gpus.count")
      ("min", po::value<long long>()->required(), "smallest value of the axis (integer)")
      ("max", po::value<long long>()->required(), "largest value of the axis (integer)")
      ("target", po::value<std::vector<std::string>>()->composing()->required(),
       "METRIC<=VALUE or METRIC>=VALUE, a results.csv metric (repeatable; all must hold), "
       "e.g. ttft_all_censored_p99_s<=10")
      ("seeds", po::value<unsigned>()->default_value(1), "seeds per value (the same seeds at every value)")
      ("confidence", po::value<double>()->default_value(0.95),
       "a value meets a target when the one-sided Student-t bound of the mean over seeds does")
      ("jobs,j", po::value<unsigned>()->default_value(0), "points run in parallel (0: hardware threads)")
      ("output,o", po::value<std::string>()->required(), "output directory (capacity.csv, capacity.json, runs/)")
      ("set", po::value<std::vector<std::string>>()->composing(),
       "override a config value at every point: --set key.path=value (repeatable)")
      ("quiet,q", "no per-value progress lines");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim capacity -c CONFIG --axis KEY --min A --max B --target METRIC<=VALUE... "
                                "[--seeds N] [--confidence C] [-j N] -o DIR [--set key=value]...",
                                options, {}, args, vm)) {
    return sllm::cli::kExitOk;
  }
  sllm::CapacitySpec spec;
  spec.config = vm["config"].as<std::string>();
  spec.axis = vm["axis"].as<std::string>();
  spec.min = vm["min"].as<long long>();
  spec.max = vm["max"].as<long long>();
  for (const std::string& t : vm["target"].as<std::vector<std::string>>()) {
    spec.targets.push_back(sllm::CapacityTarget::parse(t));
  }
  spec.seeds = vm["seeds"].as<unsigned>();
  spec.confidence = vm["confidence"].as<double>();
  if (vm.count("set")) spec.overrides = vm["set"].as<std::vector<std::string>>();
  for (const std::string& o : spec.overrides) {
    if (o.find('=') == std::string::npos || o.front() == '=') {
      throw sllm::InputError("--set " + o, "expected key.path=value");
    }
  }
  spec.validate();

  sllm::CapacityOptions run;
  run.output_dir = vm["output"].as<std::string>();
  sllm::cli::prepare_output_dir(run.output_dir, "--output");
  run.jobs = vm["jobs"].as<unsigned>();
  if (run.jobs == 0) run.jobs = std::max(1u, std::thread::hardware_concurrency());
  if (!vm.count("quiet")) run.log = &std::cerr;
  const sllm::CapacityResult result = sllm::find_capacity(spec, run);

  std::cout << "tried " << spec.axis << " =";
  for (const auto& v : result.tried) std::cout << " " << v.value << (v.met ? "(meets)" : "(fails)");
  std::cout << "  [" << spec.seeds << " seed" << (spec.seeds == 1 ? "" : "s") << ", confidence " << spec.confidence
            << "]\n";
  for (const auto& [a, b] : result.non_monotone) {
    std::cout << "warning: not monotone: " << spec.axis << "=" << a << " meets but " << b
              << " fails; the answer is a meeting value whose lower neighbour fails, not necessarily the smallest\n";
  }
  if (!result.answer) {
    std::cout << "no answer: even " << spec.axis << "=" << spec.max << " does not meet the targets; results in "
              << run.output_dir << "/capacity.csv\n";
    return sllm::cli::kExitFailure;
  }
  std::cout << "answer: " << spec.axis << " = " << *result.answer << "; results in " << run.output_dir
            << "/capacity.csv, capacity.json\n";
  return sllm::cli::kExitOk;
}

SLLM_SUBCOMMAND("capacity", "smallest value of a config axis meeting SLO targets (--axis --min --max --target)",
                run_capacity);

}  // namespace
