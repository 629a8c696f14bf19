#include <iostream>

#include "subcommand.h"

namespace {

// Placeholder until its issue lands: says so instead of pretending to work.
int run_engine(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::options_description options("engine options");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim engine", options, {}, args, vm)) return 0;
  std::cerr << "sllmsim engine: not implemented yet\n";
  return 1;
}

SLLM_SUBCOMMAND("engine", "run the real inference engine and live migration (issue 5: not yet implemented)", run_engine);

}  // namespace
