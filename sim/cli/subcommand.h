// Subcommands of the one `sllmsim` executable. Each lives in its own file in sim/cli/ and registers
// itself with SLLM_SUBCOMMAND; main.cpp dispatches, prints errors and maps them to exit codes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace sllm::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;   // the run failed or a check said no
inline constexpr int kExitBadInput = 2;  // InputError: config, trace, checkpoint, flag

struct Subcommand {
  std::string name;
  std::string summary;
  // args excludes the program and subcommand names.
  std::function<int(const std::vector<std::string>& args)> run;
};

std::vector<Subcommand>& registry();

struct Registrar {
  explicit Registrar(Subcommand s) { registry().push_back(std::move(s)); }
};

// Parses args against `options` (plus positional ones), handling --help: returns false when help was
// printed (the caller returns kExitOk). Unknown flags and bad values throw InputError naming the flag.
bool parse_options(const std::string& usage, const boost::program_options::options_description& options,
                   const boost::program_options::positional_options_description& positional,
                   const std::vector<std::string>& args, boost::program_options::variables_map& vm);

// The output directory of a command (`flag` names the option in errors): created when missing; an
// existing file in its place, or a directory that cannot be written, is an InputError (exit 2) before
// any work starts.
void prepare_output_dir(const std::string& dir, const std::string& flag);

}  // namespace sllm::cli

#define SLLM_CLI_CONCAT2(a, b) a##b
#define SLLM_CLI_CONCAT(a, b) SLLM_CLI_CONCAT2(a, b)
#define SLLM_SUBCOMMAND(name, summary, fn) \
  static const ::sllm::cli::Registrar SLLM_CLI_CONCAT(sllm_subcommand_, __LINE__){{name, summary, fn}}
