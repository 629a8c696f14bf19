// sllmsim replay: run a scenario for real on this host with the simulator's policies deciding, and
// compare it with a simulation of the same scenario (sllm/replay/replay.h; docs/replay.md).
// GCC 12 reports a false -Wnull-dereference inside Boost.Program_options' string notifier, instantiated in
// this file (as in the other subcommands that read string options).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "sllm/core/error.h"
#include "sllm/replay/replay.h"
#include "sllm/sim/scenario.h"
#include "subcommand.h"

namespace {

int run_replay_command(const std::vector<std::string>& raw) {
  namespace po = boost::program_options;
  // `sllmsim replay compare ...`: compare an earlier replay's outputs with a simulation.
  const bool compare_only = !raw.empty() && raw.front() == "compare";
  const std::vector<std::string> args(raw.begin() + (compare_only ? 1 : 0), raw.end());
  po::options_description options("replay options");
  options.add_options()
      ("config,c", po::value<std::string>()->required(), "scenario YAML file (the format of `sllmsim run`)")
      ("output,o", po::value<std::string>()->required(),
       "output directory: requests.csv, summary.json, decisions.csv, loads.csv; the simulation in sim/")
      ("set", po::value<std::vector<std::string>>()->composing(), "override a config value: --set key.path=value")
      ("checkpoints", po::value<std::string>(), "checkpoint directory (default OUTPUT/checkpoints; synthesised when missing)")
      ("device", po::value<std::string>()->default_value("cpu"), "the server's GPUs: cpu (CPU engines) or cuda")
      ("loader", po::value<std::string>(), "loader mode (default: the profile's, sllm)")
      ("verify", "check chunk checksums while loading")
      ("io-threads", po::value<int>()->default_value(4), "loader I/O threads")
      ("compare", "after the real run, simulate the scenario and print both side by side")
      ("quiet,q", "no progress lines");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim replay [compare] -c CONFIG -o DIR [--device cpu|cuda] [--checkpoints DIR] "
                                "[--compare] [--set key=value]...",
                                options, {}, args, vm)) {
    return sllm::cli::kExitOk;
  }
  std::vector<std::string> overrides;
  if (vm.count("set")) overrides = vm["set"].as<std::vector<std::string>>();
  const std::string config = vm["config"].as<std::string>();
  const sllm::Scenario scenario = sllm::Scenario::load(config, overrides);
  const std::string out_dir = vm["output"].as<std::string>();
  sllm::cli::prepare_output_dir(out_dir, "--output");

  if (!compare_only) {
    sllm::replay::ReplayOptions opt;
    opt.output_dir = out_dir;
    opt.checkpoint_dir = vm.count("checkpoints") ? vm["checkpoints"].as<std::string>()
                                                  : (std::filesystem::path(out_dir) / "checkpoints").string();
    opt.device = vm["device"].as<std::string>();
    if (opt.device != "cpu" && opt.device != "cuda") {
      throw sllm::InputError("--device " + opt.device, "expected cpu or cuda");
    }
    if (vm.count("loader")) opt.loader_mode = vm["loader"].as<std::string>();
    opt.verify = vm.count("verify") > 0;
    opt.io_threads = vm["io-threads"].as<int>();
    if (!vm.count("quiet")) opt.log = &std::cerr;
    for (const char* stale : {"requests.csv", "requests.csv.zst", "summary.json", "decisions.csv", "loads.csv", "compare.txt"}) {
      std::filesystem::remove(std::filesystem::path(out_dir) / stale);
    }
    sllm::replay::prepare_checkpoints(scenario, opt.checkpoint_dir, opt.synth_threads, opt.log);
    const sllm::RunSummary summary = sllm::replay::run_replay(scenario, opt);
    if (summary.arrived == 0) throw sllm::InputError(config, "the workload produced no requests");
    if (!vm.count("quiet")) {
      summary.print_table(std::cout);
      std::cout << "outputs in " << out_dir << "/\n";
    }
    if (!vm.count("compare")) return sllm::cli::kExitOk;
  }
  std::ostringstream table;
  const std::string sim_dir = (std::filesystem::path(out_dir) / "sim").string();
  sllm::replay::compare(scenario, out_dir, sim_dir, table);
  std::cout << table.str();
  std::ofstream(std::filesystem::path(out_dir) / "compare.txt") << table.str();
  // Missing a target is a finding (docs/replay.md), not a failure of the command.
  return sllm::cli::kExitOk;
}

SLLM_SUBCOMMAND("replay", "run a scenario for real on this host with the same policies; `replay compare` "
                          "sets it beside a simulation (-c CONFIG -o DIR)",
                run_replay_command);

}  // namespace
