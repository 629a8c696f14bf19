#include <iostream>

#include "sllm/core/build_info.h"
#include "subcommand.h"

namespace {

int run_version(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::options_description options("version options");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim version", options, {}, args, vm)) return 0;
#ifdef SLLM_HAVE_CUDA
  constexpr const char* cuda = "with CUDA";
#else
  constexpr const char* cuda = "without CUDA";
#endif
#ifdef SLLM_HAVE_MPI
  constexpr const char* mpi = "with MPI";
#else
  constexpr const char* mpi = "without MPI";
#endif
  std::cout << "sllmsim " << sllm::version() << " (" << cuda << ", " << mpi << ", " << __VERSION__ << ", build " << sllm::build_id()
            << ")\n";
  return 0;
}

SLLM_SUBCOMMAND("version", "print the version and build configuration", run_version);

}  // namespace
