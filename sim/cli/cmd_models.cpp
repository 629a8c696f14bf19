// sllmsim models: the numbers the simulator derives from each architecture (parameters, checkpoint bytes,
// KV-cache bytes per token, FLOPs per token): of the built-in catalog, of Hugging Face config.json files,
// or of the models a scenario deploys (catalog or described, docs/config.md).
// GCC 12 reports a false -Wnull-dereference inside Boost.Program_options' string and vector<string>
// notifiers, instantiated in this file (as in cmd_ckpt.cpp).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "sllm/core/model_arch.h"
#include "sllm/sim/scenario.h"
#include "subcommand.h"

namespace {

using sllm::ModelArch;

void print_header() {
  std::printf("%-24s %-7s %6s %7s %5s %5s %8s %7s %-5s %16s %8s %10s %11s\n", "model", "family", "layers", "hidden", "heads",
              "kv", "ffn", "vocab", "dtype", "parameters", "ckpt_GB", "kv_B/token", "GFLOP/token");
}

void print_row(const ModelArch& a) {
  std::printf("%-24s %-7s %6d %7d %5d %5d %8d %7d %-5s %16llu %8.3f %10llu %11.3f\n", a.name.c_str(),
              std::string(sllm::to_string(a.family)).c_str(), a.layers, a.hidden, a.heads, a.kv_heads, a.ffn, a.vocab,
              std::string(sllm::to_string(a.dtype)).c_str(), static_cast<unsigned long long>(a.parameter_count()),
              static_cast<double>(a.checkpoint_bytes()) / 1e9, static_cast<unsigned long long>(a.kv_bytes_per_token()),
              a.flops_per_token() / 1e9);
}

int run_models(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::options_description options("models options");
  options.add_options()
      ("hf-config", po::value<std::vector<std::string>>()->multitoken(),
       "Hugging Face config.json files to derive (named after the file)")
      ("scenario", po::value<std::string>(), "a scenario: the models its deployments use");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim models [--hf-config FILE...] [--scenario FILE]", options, {}, args, vm)) {
    return sllm::cli::kExitOk;
  }
  print_header();
  if (!vm.count("hf-config") && !vm.count("scenario")) {
    const sllm::ModelCatalog& catalog = sllm::ModelCatalog::builtin();
    for (const std::string& name : catalog.names()) print_row(*catalog.find(name));
    return sllm::cli::kExitOk;
  }
  if (vm.count("hf-config")) {
    for (const std::string& path : vm["hf-config"].as<std::vector<std::string>>()) {
      print_row(sllm::import_hf_config(path, path));
    }
  }
  if (vm.count("scenario")) {
    const sllm::Scenario s = sllm::Scenario::load(vm["scenario"].as<std::string>());
    for (const sllm::DeploymentSpec& d : s.deployments) print_row(*d.arch);
  }
  return sllm::cli::kExitOk;
}

SLLM_SUBCOMMAND("models", "the derived sizes and costs of catalog models, HF config.json files or a scenario's models",
                run_models);

}  // namespace
