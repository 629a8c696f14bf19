#include <iostream>

#include "subcommand.h"

namespace {

// Placeholder until its issue lands: says so instead of pretending to work.
int run_calibrate(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::options_description options("calibrate options");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim calibrate", options, {}, args, vm)) return 0;
  std::cerr << "sllmsim calibrate: not implemented yet\n";
  return 1;
}

SLLM_SUBCOMMAND("calibrate", "measure this host and write a simulator profile (issue 6: not yet implemented)", run_calibrate);

}  // namespace
