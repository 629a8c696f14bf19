// sllmsim plot: PNG plots of a run or sweep directory, drawn by scripts/sllmsim_plot.py with matplotlib
// (what each plot shows: that script's header and docs/timeline.md).
// GCC 12 reports a false -Wnull-dereference inside Boost.Program_options' string notifier, instantiated in
// this file (as in the other subcommands that read string options).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "sllm/core/error.h"
#include "subcommand.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;

constexpr const char* kScript = "sllmsim_plot.py";
constexpr int kScriptMissingMatplotlib = 3;  // the script's exit status when matplotlib cannot be imported

// The plotting script: beside an installed executable (PREFIX/share/sllmsim/), in the checkout the
// executable was built in (build/sllmsim -> scripts/), or in the source tree it was configured from.
std::string find_script() {
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path().parent_path() / "share" / "sllmsim" / kScript);
    candidates.push_back(exe.parent_path().parent_path() / "scripts" / kScript);
  }
  candidates.push_back(fs::path(SLLM_SOURCE_DIR) / "scripts" / kScript);
  std::string tried;
  for (const fs::path& c : candidates) {
    if (fs::is_regular_file(c, ec)) return c.string();
    tried += "\n  " + c.string();
  }
  throw std::runtime_error(std::string("cannot find the plotting script ") + kScript + "; looked for" + tried);
}

// Debian's interpreter (where python3-matplotlib installs), as the other scripts use; SLLM_PYTHON names
// another (a virtual environment's).
std::string python() {
  if (const char* p = std::getenv("SLLM_PYTHON"); p != nullptr && *p != '\0') return p;
  std::error_code ec;
  return fs::exists("/usr/bin/python3", ec) ? "/usr/bin/python3" : "python3";
}

int run_plot(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::options_description options("plot options");
  options.add_options()
      ("output,o", po::value<std::string>(), "where the PNGs go (default DIR/plots)")
      ("metric", po::value<std::vector<std::string>>()->composing(),
       "sweeps: a results.csv column to plot (repeatable; default latency, P99 TTFT, SLO attainment, GPU busy)")
      ("x", po::value<std::string>(), "sweeps: the swept key on the x axis (default the first numeric one that varies)")
      ("where", po::value<std::vector<std::string>>()->composing(),
       "sweeps: only the points with this value of a swept key: --where KEY=VALUE (repeatable)")
      ("dir", po::value<std::string>()->required(), "a run or sweep output directory");
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map vm;
  if (!sllm::cli::parse_options(
          "sllmsim plot DIR [-o OUT] [--metric NAME]... [--x KEY] [--where KEY=VALUE]...\n\n"
          "A run directory (requests.csv, summary.json, timeseries.csv when written) gives cdf.png (latency and\n"
          "TTFT CDFs) and over-time.png (TTFT, GPU utilisation and queued requests over time); a sweep directory\n"
          "(results.csv) gives sweep.png (metrics against a swept key, a line per policy (or the last other swept\n"
          "key), a column of panels per value of the others, with 95% intervals when points repeat).\n"
          "Drawn by scripts/sllmsim_plot.py with /usr/bin/python3 and python3-matplotlib (SLLM_PYTHON: another\n"
          "interpreter).",
          options, positional, args, vm)) {
    return sllm::cli::kExitOk;
  }
  const std::string dir = vm["dir"].as<std::string>();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw sllm::InputError(dir, fs::exists(dir, ec) ? "not a directory: expected a run or sweep output directory"
                                                    : "no such directory");
  }
  // The script creates it once the input is read, so that bad input leaves no directory behind.
  const std::string out = vm.count("output") ? vm["output"].as<std::string>() : (fs::path(dir) / "plots").string();
  if (fs::exists(out, ec) && !fs::is_directory(out, ec)) {
    throw sllm::InputError("--output " + out, "exists and is not a directory; name a directory for the PNGs");
  }

  const std::string script = find_script();
  const std::string interpreter = python();
  std::vector<std::string> argv_text = {interpreter, script, dir, out};
  if (vm.count("metric")) {
    for (const std::string& m : vm["metric"].as<std::vector<std::string>>()) argv_text.insert(argv_text.end(), {"--metric", m});
  }
  if (vm.count("x")) argv_text.insert(argv_text.end(), {"--x", vm["x"].as<std::string>()});
  if (vm.count("where")) {
    for (const std::string& w : vm["where"].as<std::vector<std::string>>()) argv_text.insert(argv_text.end(), {"--where", w});
  }
  std::vector<char*> argv;
  for (std::string& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t child = 0;
  if (const int err = ::posix_spawnp(&child, interpreter.c_str(), nullptr, nullptr, argv.data(), environ); err != 0) {
    throw std::runtime_error("cannot run " + interpreter + " (" + std::strerror(err) +
                             "): install python3 and python3-matplotlib (scripts/setup.sh does), or name an "
                             "interpreter with SLLM_PYTHON");
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error(std::string("waiting for the plotting script: ") + std::strerror(errno));
  }
  if (!WIFEXITED(status)) throw std::runtime_error(script + " was killed by signal " + std::to_string(WTERMSIG(status)));
  switch (WEXITSTATUS(status)) {
    case 0: return sllm::cli::kExitOk;
    case sllm::cli::kExitBadInput: return sllm::cli::kExitBadInput;  // the script said what and where
    case kScriptMissingMatplotlib: return sllm::cli::kExitFailure;   // it said how to install it
    default: std::cerr << "sllmsim plot: " << script << " failed (exit status " << WEXITSTATUS(status) << ")\n";
             return sllm::cli::kExitFailure;
  }
}

SLLM_SUBCOMMAND("plot", "PNG plots of a run or sweep directory: latency/TTFT CDFs, over time, metrics vs a swept key",
                run_plot);

}  // namespace
