#include <iostream>

#include "subcommand.h"

namespace {

// Placeholder until its issue lands: says so instead of pretending to work.
int run_run(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::options_description options("run options");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim run", options, {}, args, vm)) return 0;
  std::cerr << "sllmsim run: not implemented yet\n";
  return 1;
}

SLLM_SUBCOMMAND("run", "simulate a cluster from a YAML config (not yet implemented)", run_run);

}  // namespace
