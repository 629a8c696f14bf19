#include <iostream>

#include "subcommand.h"

namespace {

// Placeholder until its issue lands: says so instead of pretending to work.
int run_trace(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::options_description options("trace options");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim trace", options, {}, args, vm)) return 0;
  std::cerr << "sllmsim trace: not implemented yet\n";
  return 1;
}

SLLM_SUBCOMMAND("trace", "inspect and convert request traces (issue 3: not yet implemented)", run_trace);

}  // namespace
