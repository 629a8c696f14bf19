// sllmsim engine generate|migrate: the real inference engine and a real live migration.
// GCC 12 reports a false -Wnull-dereference inside Boost.Program_options' string notifier, instantiated in
// this file (the other subcommands that read string options do the same).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include "sllm/models/checkpoint.h"
#include "sllm/models/engine.h"
#include "sllm/models/loader.h"
#include "sllm/models/migration.h"
#include "sllm/core/error.h"
#include "sllm/core/model_arch.h"
#include "subcommand.h"

namespace {

namespace po = boost::program_options;
using namespace sllm::models;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// An engine that owns the loaded checkpoint it reads (the CUDA engine reads the loader's device tensors
// in place, so they must outlive it).
class LoadedEngine final : public Engine {
 public:
  LoadedEngine(std::unique_ptr<LoadedModel> weights, std::unique_ptr<Engine> inner)
      : Engine(inner->arch(), inner->device(), inner->config()), weights_(std::move(weights)), inner_(std::move(inner)) {}
  std::vector<TokenId> forward(std::span<const SequenceChunk> chunks, std::vector<float>* logits) override {
    return inner_->forward(chunks, logits);
  }
  void reset(int slot) override { inner_->reset(slot); }
  int context_length(int slot) const override { return inner_->context_length(slot); }

 private:
  std::unique_ptr<LoadedModel> weights_;
  std::unique_ptr<Engine> inner_;  // destroyed first
};

// Where the weights come from: a checkpoint read through the multi-tier loader (every engine loads its
// own copy, as a destination server would), or random weights of a catalog model (no files).
// Host memory the kernel says can be allocated without swapping (MemAvailable), in bytes; 0 when unknown.
std::uint64_t host_memory_available() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

// The CPU engine holds every weight as fp32: a model that cannot fit is refused before anything is
// allocated, instead of the process being killed by the OOM killer without a word. The bound is a lower
// one (the source weights, activations and KV cache come on top), so nothing that fits is refused.
void check_cpu_memory(const sllm::ModelArch& arch, const Device& device, const char* flag) {
  if (device.backend != "cpu") return;
  const std::uint64_t needed = arch.parameter_count() * sizeof(float);
  const std::uint64_t available = host_memory_available();
  if (available > 0 && needed > available) {
    char text[200];
    std::snprintf(text, sizeof text,
                  "%s needs at least %.1f GiB on the CPU engine (fp32 weights) but %.1f GiB of memory is available "
                  "(MemAvailable): use a smaller model or a GPU (--device cuda:N)",
                  arch.name.c_str(), static_cast<double>(needed) / (1ull << 30),
                  static_cast<double>(available) / (1ull << 30));
    throw sllm::InputError(flag, text);
  }
}

class WeightSource {
 public:
  WeightSource(const po::variables_map& vm, Device device) {
    if (vm.count("ckpt") > 0) {
      checkpoint_ = std::make_unique<Checkpoint>(open_checkpoint(vm["ckpt"].as<std::string>()));
      const std::string name = vm.count("model") ? vm["model"].as<std::string>() : checkpoint_->index.model;
      if (name.empty()) throw sllm::InputError("--model", "the checkpoint names no model: give its architecture");
      arch_ = sllm::ModelCatalog::builtin().get(name, vm.count("model") ? "--model" : "checkpoint index model");
      check_cpu_memory(arch_, device, "--ckpt");
      LoaderOptions options;
      options.pool_backend = device.backend;
      loader_ = std::make_unique<Loader>(options);
      return;
    }
    if (vm.count("model") == 0) throw sllm::InputError("command line", "give --ckpt DIR or --model NAME");
    arch_ = sllm::ModelCatalog::builtin().get(vm["model"].as<std::string>(), "--model");
    check_cpu_memory(arch_, device, "--model");
    seed_ = vm["weights-seed"].as<std::uint64_t>();
    const auto t0 = Clock::now();
    random_ = std::make_unique<RandomWeights>(arch_, seed_);
    prepare_seconds_ = since(t0);
  }
  const sllm::ModelArch& arch() const { return arch_; }
  std::string describe() const {
    char text[400];
    if (checkpoint_) {
      std::snprintf(text, sizeof text, "checkpoint %s (%.2f GB), loaded through the loader (sllm mode)",
                    checkpoint_->dir.c_str(), static_cast<double>(checkpoint_->index.total_bytes()) / 1e9);
    } else {
      std::snprintf(text, sizeof text, "random (seed %llu, %.2f GB, generated in %.2f s)",
                    static_cast<unsigned long long>(seed_), static_cast<double>(random_->bytes()) / 1e9,
                    prepare_seconds_);
    }
    return text;
  }
  // A new engine over these weights; for a checkpoint this includes a real load (one at a time).
  std::unique_ptr<Engine> make_engine(Device device, const EngineConfig& config) {
    if (!checkpoint_) return Engine::create(arch_, *random_, device, config);
    std::lock_guard lock(load_mutex_);
    LoadStats stats;
    auto model = loader_->load(*checkpoint_, LoadOptions{device, std::string(sllm::kDefaultLoaderMode), true}, &stats);
    last_load_seconds_ = stats.seconds;
    auto engine = Engine::create(arch_, *model, device, config);
    return std::make_unique<LoadedEngine>(std::move(model), std::move(engine));
  }
  double last_load_seconds() const { return last_load_seconds_; }

 private:
  sllm::ModelArch arch_;
  std::uint64_t seed_ = 0;
  std::unique_ptr<RandomWeights> random_;
  double prepare_seconds_ = 0;
  std::unique_ptr<Checkpoint> checkpoint_;
  std::unique_ptr<Loader> loader_;
  std::mutex load_mutex_;
  double last_load_seconds_ = 0;
};

void add_common_options(po::options_description& o) {
  o.add_options()
      ("ckpt", po::value<std::string>(), "checkpoint directory (sllmsim ckpt synth/convert)")
      ("model", po::value<std::string>(), "catalog model: random weights without --ckpt, else the checkpoint's architecture")
      ("weights-seed", po::value<std::uint64_t>()->default_value(1), "seed of the random weights (--model)")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu or cuda:N")
      ("prompt-len", po::value<int>()->default_value(32), "prompt tokens")
      ("new-tokens", po::value<int>()->default_value(32), "tokens to generate")
      ("seed", po::value<std::uint64_t>()->default_value(1), "seed of the pseudo-random prompt token ids");
}

int positive(const po::variables_map& vm, const char* name, int minimum) {
  const int v = vm[name].as<int>();
  if (v < minimum) throw sllm::InputError(std::string("--") + name, "must be at least " + std::to_string(minimum));
  return v;
}

std::string model_line(const sllm::ModelArch& a) {
  return a.name + " (" + std::string(sllm::to_string(a.family)) + ", " + std::to_string(a.layers) + " layers, hidden " +
         std::to_string(a.hidden) + ", " + std::to_string(a.heads) + " heads / " + std::to_string(a.kv_heads) +
         " kv, vocab " + std::to_string(a.vocab) + ")";
}

int run_generate(const std::vector<std::string>& args) {
  po::options_description options("engine generate options");
  add_common_options(options);
  options.add_options()("batch", po::value<int>()->default_value(1), "sequences decoded together");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim engine generate (--ckpt DIR | --model NAME) [options]", options, {}, args, vm)) {
    return sllm::cli::kExitOk;
  }
  const Device device = Device::parse(vm["device"].as<std::string>(), "--device");
  const int prompt_len = positive(vm, "prompt-len", 1), new_tokens = positive(vm, "new-tokens", 1);
  const int batch = positive(vm, "batch", 1);
  WeightSource weights(vm, device);
  const sllm::ModelArch& arch = weights.arch();
  const auto load0 = Clock::now();
  auto engine = weights.make_engine(device, {.max_sequences = batch, .max_context = prompt_len + new_tokens});
  const double engine_seconds = since(load0);

  std::vector<std::vector<TokenId>> prompts;
  for (int b = 0; b < batch; ++b) {
    prompts.push_back(random_tokens(vm["seed"].as<std::uint64_t>() + static_cast<std::uint64_t>(b), prompt_len, arch.vocab));
  }
  std::vector<std::vector<TokenId>> outputs(static_cast<std::size_t>(batch));
  std::vector<SequenceChunk> chunks(static_cast<std::size_t>(batch));
  auto run_once = [&](std::vector<double>* step_seconds) {
    for (int b = 0; b < batch; ++b) {
      engine->reset(b);
      outputs[static_cast<std::size_t>(b)].clear();
      chunks[static_cast<std::size_t>(b)] = {b, prompts[static_cast<std::size_t>(b)]};
    }
    const auto t0 = Clock::now();
    std::vector<TokenId> next = engine->forward(chunks);
    const double prefill = since(t0);
    for (int step = 1;; ++step) {
      for (int b = 0; b < batch; ++b) outputs[static_cast<std::size_t>(b)].push_back(next[static_cast<std::size_t>(b)]);
      if (step == new_tokens) break;
      for (int b = 0; b < batch; ++b) chunks[static_cast<std::size_t>(b)].tokens = {&outputs[static_cast<std::size_t>(b)].back(), 1};
      const auto s0 = Clock::now();
      next = engine->forward(chunks);
      if (step_seconds) step_seconds->push_back(since(s0));
    }
    return prefill;
  };
  run_once(nullptr);  // warm-up: first-touch of the KV cache, GPU kernels and cuBLAS heuristics
  std::vector<double> steps;
  const double prefill = run_once(&steps);

  std::printf("model: %s\nweights: %s\ndevice: %s (engine ready in %.3f s)\n", model_line(arch).c_str(),
              weights.describe().c_str(), device.to_string().c_str(), engine_seconds);
  if (weights.last_load_seconds() > 0) std::printf("checkpoint load: %.3f s\n", weights.last_load_seconds());
  std::printf("batch %d, prompt %d tokens, %d new tokens\n", batch, prompt_len, new_tokens);
  std::printf("prefill: %.3f ms (%d tokens, %.0f tokens/s)\n", prefill * 1e3, batch * prompt_len,
              batch * prompt_len / prefill);
  if (!steps.empty()) {
    std::vector<double> sorted = steps;
    std::sort(sorted.begin(), sorted.end());
    const double total = std::accumulate(steps.begin(), steps.end(), 0.0);
    auto pct = [&](double p) { return sorted[static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1))] * 1e3; };
    std::printf("decode step: mean %.3f ms, p50 %.3f ms, p90 %.3f ms, min %.3f ms, max %.3f ms (%zu steps)\n",
                total / static_cast<double>(steps.size()) * 1e3, pct(0.5), pct(0.9), sorted.front() * 1e3,
                sorted.back() * 1e3, steps.size());
    std::printf("decode: %.0f tokens/s\n", static_cast<double>(batch) * static_cast<double>(steps.size()) / total);
    std::printf("end to end: %.0f generated tokens/s\n", static_cast<double>(batch) * new_tokens / (prefill + total));
  }
  std::printf("sequence 0 tokens:");
  for (std::size_t i = 0; i < outputs[0].size() && i < 16; ++i) std::printf(" %d", outputs[0][i]);
  std::printf("%s\n", outputs[0].size() > 16 ? " ..." : "");
  return sllm::cli::kExitOk;
}

int run_migrate(const std::vector<std::string>& args) {
  po::options_description options("engine migrate options");
  add_common_options(options);
  options.add_options()
      ("at-token", po::value<int>()->default_value(8), "start migrating once the source produced this many tokens")
      ("stop-tokens", po::value<int>()->default_value(MigrationConfig{}.stop_tokens),
       "stop the source once at most this many tokens are not yet on the destination")
      ("max-rounds", po::value<int>()->default_value(MigrationConfig{}.max_rounds), "rounds before stopping anyway");
  po::variables_map vm;
  if (!sllm::cli::parse_options("sllmsim engine migrate (--ckpt DIR | --model NAME) --at-token K [options]", options, {},
                                args, vm)) {
    return sllm::cli::kExitOk;
  }
  const Device device = Device::parse(vm["device"].as<std::string>(), "--device");
  const int prompt_len = positive(vm, "prompt-len", 1), new_tokens = positive(vm, "new-tokens", 1);
  const int at = vm["at-token"].as<int>();
  if (at < 0 || at >= new_tokens) throw sllm::InputError("--at-token", "must be in [0, --new-tokens)");
  const MigrationConfig config{positive(vm, "stop-tokens", 0), positive(vm, "max-rounds", 1)};
  WeightSource weights(vm, device);
  const sllm::ModelArch& arch = weights.arch();
  const EngineConfig engine_config{.max_sequences = 1, .max_context = prompt_len + new_tokens};
  auto source = weights.make_engine(device, engine_config);
  const std::vector<TokenId> prompt = random_tokens(vm["seed"].as<std::uint64_t>(), prompt_len, arch.vocab);

  const auto t0 = Clock::now();
  const std::vector<TokenId> uninterrupted = generate_greedy(*source, 0, prompt, new_tokens);
  const double uninterrupted_seconds = since(t0);
  const LiveMigrationReport r = run_live_migration(
      *source, [&] { return weights.make_engine(device, engine_config); }, {prompt, new_tokens, at}, config);

  std::printf("model: %s\nweights: %s\ndevice: %s (source and destination)\n", model_line(arch).c_str(),
              weights.describe().c_str(), device.to_string().c_str());
  std::printf("prompt %d tokens, %d new tokens, migration at token %d, stop_tokens %d, max_rounds %d\n", prompt_len,
              new_tokens, at, config.stop_tokens, config.max_rounds);
  std::printf("uninterrupted run: %.3f s; source decode step before the migration: %.3f ms\n", uninterrupted_seconds,
              r.decode_step_seconds * 1e3);
  std::printf("destination load: %.3f s (model load and engine set-up)\n", r.load_seconds);
  for (const LiveMigrationRound& round : r.rounds) {
    std::printf("round %d%s: tokens [%lld, %lld): %lld sent, recompute %.3f ms\n", round.round,
                round.final ? " (final)" : "", static_cast<long long>(round.begin), static_cast<long long>(round.end),
                static_cast<long long>(round.end - round.begin), round.recompute_seconds * 1e3);
  }
  std::printf("rounds: %zu\n", r.rounds.size());
  if (r.dropped) {
    std::printf("migration dropped: the inference finished at the source first\n");
  } else {
    std::printf("pause: %.3f ms (source's last token to destination's first new token)\n", r.pause_seconds * 1e3);
  }
  std::printf("tokens: %lld by the source, %lld by the destination\n", static_cast<long long>(r.tokens_by_source),
              static_cast<long long>(r.tokens_by_destination));
  const bool identical = r.output == uninterrupted;
  std::printf("identical: %s\n", identical ? "yes" : "no");
  return identical ? sllm::cli::kExitOk : sllm::cli::kExitFailure;
}

int run_engine(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: sllmsim engine generate|migrate [options]   (sllmsim engine <verb> --help)\n"
      "  generate  prefill + greedy decode, prints prefill time, per-step decode latency, tokens/s\n"
      "  migrate   a real live migration mid-generation between two engines, checked against an uninterrupted run\n";
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << usage;
    return args.empty() ? sllm::cli::kExitBadInput : sllm::cli::kExitOk;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "generate") return run_generate(rest);
  if (args[0] == "migrate") return run_migrate(rest);
  throw sllm::InputError("command line", "unknown engine verb '" + args[0] + "' (generate or migrate)");
}

SLLM_SUBCOMMAND("engine", "run the real inference engine (generate) and a real live migration (migrate)", run_engine);

}  // namespace
