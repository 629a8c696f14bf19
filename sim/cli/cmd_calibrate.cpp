// sllmsim calibrate [validate|refit]: measure this host into a simulator profile, check a profile against
// measurements by replaying them through the simulator, refit a profile from its measurements
// (docs/calibration.md).
// GCC 12 reports a false -Wnull-dereference inside Boost.Program_options' string notifier (as in the
// other subcommands that read string options).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "sllm/calibrate/calibration.h"
#include "sllm/calibrate/loader_model_fit.h"
#include "sllm/calibrate/validate.h"
#include "sllm/core/error.h"
#include "sllm/core/model_arch.h"
#include "sllm/sim/profile.h"
#include "subcommand.h"

namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace sllm::calibrate;

// The measurements file sits next to the profile: x.yaml -> x.measurements.csv.
std::string measurements_path_for(const std::string& profile) {
  fs::path p(profile);
  p.replace_extension(".measurements.csv");
  return p.string();
}

// x.yaml -> x.NAME.measurements.csv: the real loader's times on storage device NAME.
std::string storage_measurements_path_for(const std::string& profile, const std::string& storage) {
  fs::path p(profile);
  p.replace_extension("." + storage + ".measurements.csv");
  return p.string();
}

// The measurements file a profile names, relative to the profile (when --measurements is not given).
std::string measurements_named_by(const std::string& profile_path, const sllm::Profile& profile) {
  if (profile.measurements.empty()) throw sllm::InputError("--measurements", "the profile names no measurements file: give one");
  return (fs::path(profile_path).parent_path() / profile.measurements).string();
}

// The profile and its measurements are written after every probe ran (minutes on a GPU host): a folder
// that is missing or cannot be written must fail first. Creating (and removing) a file there is the test
// that holds whatever the cause (permissions, a read-only mount, a file in the way).
void require_writable_folder_of(const std::string& file, const char* flag) {
  if (fs::is_directory(file)) throw sllm::InputError(flag, file + " is a folder; give the profile's file name");
  const fs::path folder = fs::absolute(file).parent_path();
  if (!fs::is_directory(folder)) throw sllm::InputError(flag, "the folder " + folder.string() + " does not exist");
  const fs::path probe = folder / (".sllm-calibrate-write-test-" + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    throw sllm::InputError(flag, "cannot write into the folder " + folder.string() + ": " + std::strerror(errno));
  }
  ::close(fd);
  fs::remove(probe);
}

int report(const std::vector<ValidationRow>& rows, bool check) {
  print_validation(rows, std::cout);
  std::cout << "\n";
  print_validation_markdown(rows, std::cout);
  for (const auto& r : rows) {
    if (check && !r.ok()) return sllm::cli::kExitFailure;
  }
  return sllm::cli::kExitOk;
}

// The storage devices a components profile measured (its NAME_memory_backed probes), in name order.
std::vector<std::string> storages_of(const sllm::Profile& p) {
  std::vector<std::string> names;
  const std::string suffix = "_memory_backed";
  for (const auto& [k, v] : p.probes) {
    if (k.size() > suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0) names.push_back(k.substr(0, k.size() - suffix.size()));
  }
  return names;
}

int validate_components(const std::string& profile_path) {
  const sllm::Profile p = sllm::read_profile(profile_path);
  std::vector<ComponentCheck> checks;
  for (const std::string& name : storages_of(p)) {
    const std::string csv = storage_measurements_path_for(profile_path, name);
    const std::vector<ComponentCheck> c = check_loader_model(p.probes, name, read_measurements(csv));
    checks.insert(checks.end(), c.begin(), c.end());
  }
  if (checks.empty()) throw sllm::InputError(profile_path, "no storage devices measured (not a `calibrate components` profile?)");
  print_component_checks(checks, std::cout);
  return sllm::cli::kExitOk;
}

int validate_cross_host(const std::string& profile_path, const std::string& reference, const std::string& model) {
  const sllm::Profile p = sllm::read_profile(profile_path);
  const sllm::Profile ref = sllm::read_profile(reference);
  const auto bytes = static_cast<double>(sllm::ModelCatalog::builtin().get(model, "--model").checkpoint_bytes());
  std::cout << "| mode | tier | measured (" << reference << ") s | predicted (" << profile_path << ") s | error |\n|---|---|---|---|---|\n";
  for (const CrossHostRow& r : cross_host(p, ref, bytes)) {
    char line[200];
    std::snprintf(line, sizeof line, "| %s | %s | %.3f | %.3f | %+.1f%% |\n", r.mode.c_str(), r.tier == sllm::Tier::kSsd ? "cold (SSD)" : "warm (DRAM)",
                  r.measured, r.predicted, 100 * (r.predicted / r.measured - 1));
    std::cout << line;
  }
  return sllm::cli::kExitOk;
}

int run_validate(const std::vector<std::string>& args) {
  po::options_description options("calibrate validate options");
  options.add_options()
      ("profile", po::value<std::string>()->required(), "profile YAML to check")
      ("measurements", po::value<std::string>(), "measurements CSV (default: the one the profile names)")
      ("components", po::bool_switch(), "P is a `calibrate components` profile: check its loader model against the real loader's times on each storage device (P.NAME.measurements.csv)")
      ("reference", po::value<std::string>(), "cross-host: compare P's loader model with the measured laws of this profile")
      ("model", po::value<std::string>()->default_value("opt-6.7b"), "with --reference: the catalog model whose checkpoint the laws are compared at")
      ("check", po::bool_switch(), "exit 1 when an operation misses its target (load, prefill, decode 5%; migration 10%)");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim calibrate validate --profile P [--measurements M | --components | --reference R [--model M]] [--check]",
                                options, {}, args, vm)) {
    return sllm::cli::kExitOk;
  }
  const std::string profile = vm["profile"].as<std::string>();
  if (vm["components"].as<bool>()) return validate_components(profile);
  if (vm.count("reference")) return validate_cross_host(profile, vm["reference"].as<std::string>(), vm["model"].as<std::string>());
  std::string measurements;
  if (vm.count("measurements")) {
    measurements = vm["measurements"].as<std::string>();
  } else {
    measurements = measurements_named_by(profile, sllm::read_profile(profile));
  }
  return report(validate(profile, read_measurements(measurements), measurements), vm["check"].as<bool>());
}

// The profile's own header comment (its leading '#' lines), without the '# '.
std::string header_of(const std::string& path) {
  std::ifstream in(path);
  std::string header, line;
  while (std::getline(in, line) && !line.empty() && line[0] == '#') {
    line = line.substr(line.size() > 1 && line[1] == ' ' ? 2 : 1);
    if (line.rfind("Refitted from ", 0) != 0) header += line + "\n";  // one refit note: the latest
  }
  return header;
}

// Fits every law again from the measurements (machine, probes and chunk size kept): for a changed fit
// or profile format, without measuring again.
int run_refit(const std::vector<std::string>& args) {
  po::options_description options("calibrate refit options");
  options.add_options()
      ("profile", po::value<std::string>()->required(), "profile whose machine and probes are kept")
      ("measurements", po::value<std::string>(), "measurements CSV (default: the one the profile names)")
      ("output,o", po::value<std::string>(), "profile to write (default: --profile, replaced)")
      ("check", po::bool_switch(), "exit 1 when the validation misses a target");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim calibrate refit --profile P [--measurements M] [-o OUT] [--check]", options, {},
                                args, vm)) {
    return sllm::cli::kExitOk;
  }
  const std::string in = vm["profile"].as<std::string>();
  sllm::Profile profile = sllm::read_profile(in);
  std::string measurements;
  if (vm.count("measurements")) {
    measurements = vm["measurements"].as<std::string>();
  } else {
    measurements = measurements_named_by(in, profile);
  }
  const std::string out = vm.count("output") ? vm["output"].as<std::string>() : in;
  const std::vector<Measurement> rows = read_measurements(measurements);
  fit_profile(rows, profile, measurements);
  // The profile names its measurements relative to itself.
  profile.measurements = fs::relative(fs::absolute(measurements), fs::absolute(out).parent_path()).string();
  std::string header = header_of(in);
  header += "Refitted from " + fs::path(measurements).filename().string() + " by `sllmsim calibrate refit`.";
  sllm::write_profile(profile, out, header);
  std::cerr << "wrote " << out << " (" << rows.size() << " measurements)\n\n";
  return report(validate(out, rows, measurements), vm["check"].as<bool>());
}

// The loader model's components (docs/loader-model.md): probes of this host and of each storage device,
// and the real loader's per-mode times on each, for the out-of-sample check.
int run_components(const std::vector<std::string>& args) {
  po::options_description options("calibrate components options");
  options.add_options()
      ("output,o", po::value<std::string>()->default_value("components.yaml"), "profile to write (measurements next to it)")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu or cuda:N")
      ("storage", po::value<std::vector<std::string>>(), "NAME=FOLDER: a storage device to measure (repeat; e.g. tmpfs=/dev/shm disk=/var/tmp)")
      ("quick", po::bool_switch(), "fewer, smaller probes (CI)")
      ("refit", po::value<std::string>(), "PROFILE: fit its loader model again from its probes (for storage device --model-storage), no measuring")
      ("model-storage", po::value<std::string>(), "the storage device the profile's loader model reads from (default: the last --storage)");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim calibrate components --storage NAME=DIR... [-o PROFILE.yaml] [--device cpu|cuda:N] [--quick] | --refit PROFILE --model-storage NAME",
                                options, {}, args, vm)) {
    return sllm::cli::kExitOk;
  }
  if (vm.count("refit")) {
    const std::string path = vm["refit"].as<std::string>();
    if (!vm.count("model-storage")) throw sllm::InputError("--refit", "give --model-storage NAME");
    sllm::Profile profile = sllm::read_profile(path);
    const std::string storage = vm["model-storage"].as<std::string>();
    profile.loader_model = fit_loader_model(profile.probes, storage);
    std::string header = header_of(path);
    sllm::write_profile(profile, path, header);
    std::cerr << "wrote " << path << "\n";
    return sllm::cli::kExitOk;
  }
  ComponentOptions o;
  o.device = vm["device"].as<std::string>();
  o.quick = vm["quick"].as<bool>();
  o.log = &std::cerr;
  if (!vm.count("storage")) throw sllm::InputError("--storage", "give at least one storage device as NAME=FOLDER");
  for (const std::string& s : vm["storage"].as<std::vector<std::string>>()) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) throw sllm::InputError("--storage", "expected NAME=FOLDER, got '" + s + "'");
    const std::string name = s.substr(0, eq);
    for (char c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') throw sllm::InputError("--storage", "a storage name is letters, digits and '-': '" + name + "'");
    }
    if (!fs::is_directory(s.substr(eq + 1))) throw sllm::InputError("--storage", "no folder " + s.substr(eq + 1));
    o.storages.emplace_back(name, s.substr(eq + 1));
  }
  const std::string out = vm["output"].as<std::string>();
  require_writable_folder_of(out, "-o");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::pair<std::string, std::vector<Measurement>>> measurements;
  sllm::Profile profile = run_component_calibration(o, measurements);
  std::string files;
  for (const auto& [name, rows] : measurements) {
    const std::string path = storage_measurements_path_for(out, name);
    write_measurements(rows, path);
    files += " " + path;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::ostringstream header;
  header << "Written by `sllmsim calibrate components --device " << o.device << (o.quick ? " --quick" : "") << "` in "
         << static_cast<int>(seconds) << " s (docs/loader-model.md); the real loader's times per storage device in"
         << files << ".";
  sllm::write_profile(profile, out, header.str());  // the probes first: a fit that fails loses nothing
  profile.loader_model = fit_loader_model(profile.probes, o.storages.back().first);
  sllm::write_profile(profile, out, header.str());
  std::cerr << "wrote " << out << " and" << files << " (" << static_cast<int>(seconds) << " s)\n";
  return sllm::cli::kExitOk;
}

int run_calibrate(const std::vector<std::string>& args) {
  if (!args.empty() && args.front() == "validate") return run_validate({args.begin() + 1, args.end()});
  if (!args.empty() && args.front() == "components") return run_components({args.begin() + 1, args.end()});
  if (!args.empty() && args.front() == "refit") return run_refit({args.begin() + 1, args.end()});
  po::options_description options("calibrate options (or: sllmsim calibrate validate|refit --help)");
  options.add_options()
      ("output,o", po::value<std::string>()->default_value("profile.yaml"), "profile to write (measurements next to it)")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu (host-memory loads, CPU engine) or cuda:N")
      ("quick", po::bool_switch(), "fewer, smaller probes (CI)")
      ("dir", po::value<std::string>(), "scratch directory for probe files and checkpoints (default: a fresh one under the system temp dir)")
      ("check", po::bool_switch(), "after writing, exit 1 when the validation misses a target");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim calibrate [-o PROFILE.yaml] [--device cpu|cuda:N] [--quick] [--dir SCRATCH]",
                                options, {}, args, vm)) {
    return sllm::cli::kExitOk;
  }
  CalibrationOptions o;
  o.device = vm["device"].as<std::string>();
  o.quick = vm["quick"].as<bool>();
  o.log = &std::cerr;
  const bool own_scratch = !vm.count("dir");
  o.scratch = own_scratch ? (fs::temp_directory_path() / ("sllm-calibrate-" + std::to_string(::getpid()))).string()
                          : (fs::path(vm["dir"].as<std::string>()) / ("sllm-calibrate-" + std::to_string(::getpid()))).string();
  const std::string out = vm["output"].as<std::string>();
  require_writable_folder_of(out, "-o");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Measurement> measurements;
  sllm::Profile profile;
  try {
    profile = run_calibration(o, measurements);
  } catch (...) {
    fs::remove_all(o.scratch);
    throw;
  }
  fs::remove_all(o.scratch);
  const std::string mpath = measurements_path_for(out);
  write_measurements(measurements, mpath);
  profile.measurements = fs::path(mpath).filename().string();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::ostringstream header;
  header << "Written by `sllmsim calibrate --device " << o.device << (o.quick ? " --quick" : "") << "` in "
         << static_cast<int>(seconds) << " s. Use it from a scenario with `cluster.profile: <this file>`;\n"
         << "check it with `sllmsim calibrate validate --profile <this file>` (docs/calibration.md).";
  sllm::write_profile(profile, out, header.str());
  std::cerr << "wrote " << out << " and " << mpath << " (" << measurements.size() << " measurements, "
            << static_cast<int>(seconds) << " s)\n\n";
  return report(validate(out, measurements, mpath), vm["check"].as<bool>());
}

SLLM_SUBCOMMAND("calibrate", "measure this host into a simulator profile; `calibrate validate` checks one, `calibrate refit` refits one",
                run_calibrate);

}  // namespace
