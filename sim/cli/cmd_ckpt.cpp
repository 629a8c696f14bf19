#include <iostream>

#include "subcommand.h"

namespace {

// Placeholder until its issue lands: says so instead of pretending to work.
int run_ckpt(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::options_description options("ckpt options");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim ckpt", options, {}, args, vm)) return 0;
  std::cerr << "sllmsim ckpt: not implemented yet\n";
  return 1;
}

SLLM_SUBCOMMAND("ckpt", "convert, synthesise, inspect, verify and load checkpoints (issue 4: not yet implemented)", run_ckpt);

}  // namespace
