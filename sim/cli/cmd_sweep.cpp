#include <iostream>

#include "subcommand.h"

namespace {

// Placeholder until its issue lands: says so instead of pretending to work.
int run_sweep(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::options_description options("sweep options");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim sweep", options, {}, args, vm)) return 0;
  std::cerr << "sllmsim sweep: not implemented yet\n";
  return 1;
}

SLLM_SUBCOMMAND("sweep", "run a grid of simulations in parallel (issue 7: not yet implemented)", run_sweep);

}  // namespace
