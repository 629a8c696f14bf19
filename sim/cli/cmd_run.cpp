// sllmsim run: simulate a cluster from a YAML scenario (configs/default.yaml; reference in docs/config.md).
// GCC 12 reports a false -Wnull-dereference inside Boost.Program_options' string notifier, instantiated in
// this file (as in the other subcommands that read string options).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "sllm/core/error.h"
#include "sllm/sim/cost_model.h"
#include "sllm/sim/policy.h"
#include "sllm/sim/scenario.h"
#include "sllm/sim/simulator.h"
#include "sllm/core/workload.h"
#include "subcommand.h"

namespace {

int run_run(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::options_description options("run options");
  options.add_options()
      ("config,c", po::value<std::string>(), "scenario YAML file (required)")
      ("output,o", po::value<std::string>(), "output directory (requests.csv, summary.json)")
      ("set", po::value<std::vector<std::string>>()->composing(),
       "override a config value: --set key.path=value (repeatable; e.g. --set policy.name=serverless)")
      ("seed", po::value<std::string>(), "random seed: the same as --set simulation.seed=N")
      ("quiet,q", "do not print the summary table")
      ("json", "print the summary as JSON on stdout (summary.json's content) instead of the table")
      ("list", "list the registered policies and workload kinds, then exit");
  po::positional_options_description positional;
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim run -c CONFIG [-o DIR] [--set key=value]... [--seed N]", options,
                                positional, args, vm)) {
    return sllm::cli::kExitOk;
  }
  if (vm.count("list")) {
    const auto show = [](const char* title, const auto& entries) {
      std::cout << title << ":\n";
      for (const auto& [name, summary] : entries) std::cout << "  " << name << "  " << summary << "\n";
    };
    show("scheduling policies (policy.name)", sllm::SchedulingRegistry::instance().list());
    show("keep-alive policies (policy.keep_alive.name)", sllm::KeepAliveRegistry::instance().list());
    show("eviction policies (policy.eviction.dram / .ssd)", sllm::EvictionRegistry::instance().list());
    show("workload kinds (workload.kind)", sllm::WorkloadRegistry::instance().list());
    show("cost models (simulation.cost_model.kind)", sllm::CostModelRegistry::instance().list());
    return sllm::cli::kExitOk;
  }
  if (!vm.count("config")) throw sllm::InputError("command line", "--config is required (see --help)");
  std::vector<std::string> overrides;
  if (vm.count("set")) overrides = vm["set"].as<std::vector<std::string>>();
  // One parser and one range for the seed: the config's.
  if (vm.count("seed")) overrides.push_back("simulation.seed=" + vm["seed"].as<std::string>());
  const std::string& config = vm["config"].as<std::string>();
  const sllm::Scenario scenario = sllm::Scenario::load(config, overrides);

  sllm::RunOptions run;
  if (vm.count("output")) {
    run.output_dir = vm["output"].as<std::string>();
    sllm::cli::prepare_output_dir(run.output_dir, "--output");
  }
  run.progress = isatty(STDERR_FILENO) != 0;
  sllm::Simulator simulator(scenario);
  const sllm::RunSummary summary = simulator.run(run);
  sllm::check_requests_arrived(summary, scenario, config);
  if (vm.count("json")) {
    std::cout << summary.to_json(scenario.output.timing);
  } else if (!vm.count("quiet")) {
    summary.print_table(std::cout);
    if (!run.output_dir.empty()) std::cout << "outputs in " << run.output_dir << "/\n";
  }
  return sllm::cli::kExitOk;
}

SLLM_SUBCOMMAND("run", "simulate a cluster from a YAML scenario (-c CONFIG -o DIR)", run_run);

}  // namespace
