// sllmsim: serverless LLM inference simulator, checkpoint loader, engine and calibration harness.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "sllm/core/error.h"
#include "subcommand.h"

namespace sllm::cli {

std::vector<Subcommand>& registry() {
  static std::vector<Subcommand> commands;
  return commands;
}

bool parse_options(const std::string& usage, const boost::program_options::options_description& options,
                   const boost::program_options::positional_options_description& positional,
                   const std::vector<std::string>& args, boost::program_options::variables_map& vm) {
  namespace po = boost::program_options;
  if (std::find(args.begin(), args.end(), "--help") != args.end() ||
      std::find(args.begin(), args.end(), "-h") != args.end()) {
    std::cout << "usage: " << usage << "\n\n" << options << "\n";
    return false;
  }
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw InputError("command line", std::string(e.what()) + " (see --help)");
  }
  return true;
}

void prepare_output_dir(const std::string& dir, const std::string& flag) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw InputError(flag + " " + dir, "exists and is not a directory; name a directory for the outputs");
  }
  fs::create_directories(dir, ec);
  if (ec) throw InputError(flag + " " + dir, "cannot create the output directory: " + ec.message());
  // Writable now, not after the work: create and remove a probe file.
  const fs::path probe = fs::path(dir) / ".sllmsim-write-probe";
  std::FILE* f = std::fopen(probe.c_str(), "wb");
  if (f == nullptr) {
    throw InputError(flag + " " + dir, std::string("cannot write into the output directory: ") + std::strerror(errno));
  }
  std::fclose(f);
  fs::remove(probe, ec);
}

}  // namespace sllm::cli

namespace {

void print_usage() {
  std::cout << "usage: sllmsim <command> [options]   (sllmsim <command> --help for its options)\n\ncommands:\n";
  auto commands = sllm::cli::registry();
  std::sort(commands.begin(), commands.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const auto& c : commands) std::printf("  %-10s %s\n", c.name.c_str(), c.summary.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sllm::cli;
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    print_usage();
    return argc < 2 ? kExitBadInput : kExitOk;
  }
  // `sllmsim --version` is the `version` command, as users of other tools expect.
  const std::string name = std::string(argv[1]) == "--version" || std::string(argv[1]) == "-V" ? "version" : argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const Subcommand& c : registry()) {
    if (c.name != name) continue;
    try {
      return c.run(args);
    } catch (const sllm::InputError& e) {
      std::cerr << "sllmsim " << name << ": error: " << e.what() << "\n";
      return kExitBadInput;
    } catch (const std::exception& e) {
      std::cerr << "sllmsim " << name << ": failed: " << e.what() << "\n";
      return kExitFailure;
    }
  }
  std::cerr << "sllmsim: unknown command '" << name << "'\n";
  print_usage();
  return kExitBadInput;
}
