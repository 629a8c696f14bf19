// GPU benchmark of the engine (OPT-6.7B shapes, fp16, batch 1, random weights) against ceilings measured
// in the same run: decode step vs weight bytes / device copy bandwidth, 1024-token prefill vs cuBLAS fp16
// GEMM throughput, and a live migration with ~1,000 tokens of context (pause vs 2 decode steps + one
// 20-token prefill). Prints "RESULT key value" lines (scripts/engine_hf_bench.py reads them) and a table.
// Also the decode step against the batch size (own GEMV vs cuBLAS). --decode-only measures the decode steps
// alone (no prefill, migration or cuBLAS comparison: a quick run for trying a kernel change).
//   bench_engine_cuda [--model opt-6.7b] [--device cuda:0] [--decode-only]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "sllm/models/device_backend.h"
#include "sllm/models/engine.h"
#include "sllm/models/migration.h"
#include "sllm/models/tensor_layout.h"
#include "sllm/core/error.h"
#include "sllm/core/model_arch.h"

namespace {

using namespace sllm::models;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void result(const char* key, double value) { std::printf("RESULT %s %.6g\n", key, value); }

// Median decode step with `context` tokens already in the cache.
double decode_step(Engine& e, const std::vector<TokenId>& prompt, int context, int steps) {
  e.reset(0);
  SequenceChunk chunk{0, std::span(prompt).first(static_cast<std::size_t>(context))};
  TokenId next = e.forward({&chunk, 1}).front();
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    chunk.tokens = {&next, 1};
    const auto t0 = Clock::now();
    next = e.forward({&chunk, 1}).front();
    times.push_back(since(t0));
  }
  return median(times);
}

// Median decode step of `batch` sequences with `context` tokens each in the cache (one token per sequence).
double decode_batch_step(Engine& e, const std::vector<TokenId>& prompt, int batch, int context, int steps) {
  std::vector<TokenId> next;
  for (int s = 0; s < batch; ++s) {
    e.reset(s);
    const SequenceChunk chunk{s, std::span(prompt).subspan(static_cast<std::size_t>(s), static_cast<std::size_t>(context))};
    next.push_back(e.forward({&chunk, 1}).front());
  }
  std::vector<double> times;
  for (int i = 0; i < steps + 2; ++i) {  // two warm-up steps (graph capture)
    std::vector<SequenceChunk> chunks;
    for (int s = 0; s < batch; ++s) chunks.push_back({s, {&next[static_cast<std::size_t>(s)], 1}});
    const auto t0 = Clock::now();
    next = e.forward(chunks);
    if (i >= 2) times.push_back(since(t0));
  }
  return median(times);
}

double prefill(Engine& e, const std::vector<TokenId>& prompt, int tokens, int repeats) {
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    e.reset(0);
    const SequenceChunk chunk{0, std::span(prompt).first(static_cast<std::size_t>(tokens))};
    const auto t0 = Clock::now();
    e.forward({&chunk, 1});
    times.push_back(since(t0));
  }
  return median(times);
}

// A `tokens`-token chunk appended after `context` tokens (the destination's final recompute).
double append_chunk(Engine& e, const std::vector<TokenId>& prompt, int context, int tokens, int repeats) {
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    e.reset(0);
    SequenceChunk chunk{0, std::span(prompt).first(static_cast<std::size_t>(context))};
    e.forward({&chunk, 1});
    chunk.tokens = std::span(prompt).subspan(static_cast<std::size_t>(context), static_cast<std::size_t>(tokens));
    const auto t0 = Clock::now();
    e.forward({&chunk, 1});
    times.push_back(since(t0));
  }
  return median(times);
}

}  // namespace

int run_bench(int argc, char** argv) {
  std::string model = "opt-6.7b", device_text = "cuda:0";
  bool decode_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--decode-only") == 0) decode_only = true;
    if (i + 1 < argc && std::strcmp(argv[i], "--model") == 0) model = argv[i + 1];
    if (i + 1 < argc && std::strcmp(argv[i], "--device") == 0) device_text = argv[i + 1];
  }
  const Device device = Device::parse(device_text, "--device");
  const sllm::ModelArch arch = sllm::ModelCatalog::builtin().get(model, "--model");
  // The migration starts at ~1,000 tokens of context; enough new tokens that the inference outlasts the
  // destination's load (weights uploaded from host memory), or the migration would be dropped.
  constexpr int kPrefill = 1024, kMigrationContext = 1000, kMigrationNew = 800;

  const DeviceBackend& backend = device_backend(device);
  const DeviceCeilings square = backend.measure_ceilings(device.index, 8192, 8192, 8192);
  const DeviceCeilings fc1 = backend.measure_ceilings(device.index, arch.ffn, kPrefill, arch.hidden);
  const double gemm_ceiling = std::max(square.gemm_flops, fc1.gemm_flops);
  const double copy_bw = std::max(square.copy_bytes_per_second, fc1.copy_bytes_per_second);
  result("copy_bytes_per_second", copy_bw);
  result("gemm_flops_8192", square.gemm_flops);
  result("gemm_flops_fc1_shape", fc1.gemm_flops);

  // Bytes a decode step must read: every weight once, except the learned-position table (one row).
  std::uint64_t weight_bytes = 0;
  for (const TensorSpec& t : tensor_layout(arch)) {
    if (t.alias_of.empty() && t.name.find("embed_positions") == std::string::npos) weight_bytes += t.bytes();
  }
  result("weight_bytes", static_cast<double>(weight_bytes));

  auto t0 = Clock::now();
  const RandomWeights weights(arch, 1);
  std::printf("random weights: %.1f GB in %.1f s\n", static_cast<double>(weights.bytes()) / 1e9, since(t0));
  const std::vector<TokenId> prompt = random_tokens(7, 2048, arch.vocab);
  const EngineConfig config{.max_sequences = 1, .max_context = std::min(2048, arch.max_positions)};

  double decode128 = 0, decode1024 = 0, prefill1024 = 0, chunk20 = 0, decode128_cublas = 0;
  {
    t0 = Clock::now();
    auto engine = Engine::create(arch, weights, device, config);
    std::printf("engine ready (weights uploaded) in %.1f s\n", since(t0));
    if (!decode_only) {
      prefill(*engine, prompt, kPrefill, 1);  // warm-up
      prefill1024 = prefill(*engine, prompt, kPrefill, 5);
    }
    decode128 = decode_step(*engine, prompt, 128, 64);
    decode1024 = decode_step(*engine, prompt, kPrefill, 64);
    if (!decode_only) chunk20 = append_chunk(*engine, prompt, kMigrationContext, 20, 5);
  }
  const double floor = static_cast<double>(weight_bytes) / copy_bw;
  result("decode128_seconds", decode128);
  result("decode1024_seconds", decode1024);
  std::printf("decode step, context 128: %.3f ms, floor %.3f ms, ratio %.3f; context 1024: %.3f ms\n", decode128 * 1e3,
              floor * 1e3, decode128 / floor, decode1024 * 1e3);
  if (!decode_only) {
    auto engine = Engine::create(arch, weights, device,
                                 {.max_sequences = 1, .max_context = config.max_context, .cublas_for_small_batches = true});
    decode_step(*engine, prompt, 128, 4);
    decode128_cublas = decode_step(*engine, prompt, 128, 64);
  }
  // Decode step against batch size, own GEMV (<= 8 rows) vs cuBLAS for every linear layer: where the
  // GEMV stops paying, and whether the step time grows monotonically with the batch (the calibration's fit
  // assumes it does).
  const std::vector<int> batches = {1, 2, 3, 4, 5, 6, 8, 12, 16};
  std::vector<double> batch_gemv, batch_cublas;
  for (const bool cublas : {false, true}) {
    if (cublas && decode_only) break;
    auto engine = Engine::create(arch, weights, device,
                                 {.max_sequences = 16, .max_context = 256, .cublas_for_small_batches = cublas});
    for (const int b : batches) (cublas ? batch_cublas : batch_gemv).push_back(decode_batch_step(*engine, prompt, b, 128, 32));
  }
  batch_cublas.resize(batches.size());
  for (std::size_t i = 0; i < batches.size(); ++i) {
    const std::string key = "decode128_batch" + std::to_string(batches[i]);
    result((key + "_seconds").c_str(), batch_gemv[i]);
    if (!decode_only) result((key + "_cublas_seconds").c_str(), batch_cublas[i]);
  }
  auto print_batches = [&] {
    std::printf("\n%-6s %16s %16s %10s\n", "batch", "engine (ms)", "cuBLAS (ms)", "ratio");
    for (std::size_t i = 0; i < batches.size(); ++i) {
      std::printf("%-6d %16.3f %16.3f %10.3f\n", batches[i], batch_gemv[i] * 1e3, batch_cublas[i] * 1e3,
                  batch_gemv[i] / batch_cublas[i]);
    }
  };
  if (decode_only) {
    print_batches();
    return 0;
  }
  // Useful FLOPs of the prefill: every linear layer per token, lm_head for the last token only (that is
  // all the engine computes), causal attention (token i attends to i + 1 positions).
  const double lm_head = 2.0 * arch.vocab * arch.hidden;
  const double prefill_flops = (arch.flops_per_token() - lm_head) * kPrefill + lm_head +
                               arch.attention_flops_per_context_token() * kPrefill * (kPrefill + 1) / 2.0;
  result("prefill1024_seconds", prefill1024);
  result("prefill1024_flops", prefill_flops / prefill1024);
  result("decode128_cublas_seconds", decode128_cublas);
  result("append20_at1000_seconds", chunk20);

  // Live migration: ~1,000 tokens of context when it starts, two engines on the same GPU.
  LiveMigrationReport mig;
  bool identical = false;
  {
    auto source = Engine::create(arch, weights, device, config);
    const std::vector<TokenId> mprompt(prompt.begin(), prompt.begin() + (kMigrationContext - 8));
    const std::vector<TokenId> uninterrupted = generate_greedy(*source, 0, mprompt, kMigrationNew);
    mig = run_live_migration(
        *source, [&] { return Engine::create(arch, weights, device, config); }, {mprompt, kMigrationNew, 8}, MigrationConfig{});
    identical = mig.output == uninterrupted;
  }
  for (const LiveMigrationRound& r : mig.rounds) {
    std::printf("migration round %d%s: [%lld, %lld) %lld tokens, recompute %.2f ms\n", r.round, r.final ? " (final)" : "",
                static_cast<long long>(r.begin), static_cast<long long>(r.end), static_cast<long long>(r.end - r.begin),
                r.recompute_seconds * 1e3);
  }
  const double pause_budget = 2 * decode1024 + chunk20;
  result("migration_load_seconds", mig.load_seconds);
  result("migration_rounds", static_cast<double>(mig.rounds.size()));
  result("migration_pause_seconds", mig.pause_seconds);
  result("migration_pause_budget_seconds", pause_budget);
  result("migration_identical", identical ? 1 : 0);
  result("migration_dropped", mig.dropped ? 1 : 0);

  const std::string title = "metric (" + model + ", fp16, batch 1)";
  std::printf("\n%-44s %12s %12s %8s %s\n", title.c_str(), "measured", "baseline", "ratio", "target");
  std::printf("%-44s %10.3f ms %10.3f ms %8.3f %s\n", "decode step, context 128 (own GEMV)", decode128 * 1e3, floor * 1e3,
              decode128 / floor, "<= 1.3 x weight bytes / copy bandwidth");
  std::printf("%-44s %10.3f ms %10.3f ms %8.3f %s\n", "decode step, context 1024", decode1024 * 1e3, floor * 1e3,
              decode1024 / floor, "");
  std::printf("%-44s %10.3f ms %10.3f ms %8.3f %s\n", "decode step, context 128 (cuBLAS)", decode128_cublas * 1e3,
              floor * 1e3, decode128_cublas / floor, "");
  std::printf("%-44s %8.1f TF/s %8.1f TF/s %8.3f %s\n", "prefill 1024 tokens (useful FLOP/s)",
              prefill_flops / prefill1024 / 1e12, gemm_ceiling / 1e12, prefill_flops / prefill1024 / gemm_ceiling,
              ">= 0.5 x cuBLAS fp16 GEMM");
  std::printf("%-44s %10.3f ms %10.3f ms %8.3f %s\n", "migration pause, ~1000-token context", mig.pause_seconds * 1e3,
              pause_budget * 1e3, mig.pause_seconds / pause_budget, "<= 2 decode steps + one 20-token prefill");
  std::printf("migration: %zu rounds, %s, identical: %s\n", mig.rounds.size(), mig.dropped ? "dropped" : "handed over",
              identical ? "yes" : "no");
  print_batches();
  return 0;
}

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a crash must not swallow the lines printed before it
  try {
    return run_bench(argc, argv);
  } catch (const sllm::InputError& e) {  // a bad --model or --device
    std::fprintf(stderr, "bench_engine_cuda: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_engine_cuda: %s\n", e.what());
    return 1;
  }
}
