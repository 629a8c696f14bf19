// The CUDA backend against the CPU reference backend: logits within fp16 tolerance and the same greedy
// tokens, for both layouts, through every path (own GEMV and cuBLAS linears, own and GEMM attention,
// batches, chunked recompute). Skips without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "sllm/models/engine.h"
#include "sllm/core/model_arch.h"

namespace {

using namespace sllm::models;

std::unique_ptr<Engine> cuda_engine_or_skip(const sllm::ModelArch& arch, const TensorSource& w, const EngineConfig& c) {
  try {
    return Engine::create(arch, w, Device{"cuda", 0}, c);
  } catch (const std::runtime_error& e) {
    return nullptr;
  }
}

double relative_error(const std::vector<float>& got, const std::vector<float>& want, std::size_t begin, std::size_t n) {
  double diff = 0, norm = 0;
  for (std::size_t i = begin; i < begin + n; ++i) {
    diff += (got[i] - want[i]) * (got[i] - want[i]);
    norm += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(diff / norm);
}

// A wider variant of a tiny model so that head_dim (64) and hidden (256) look like real ones.
sllm::ModelArch widened(const std::string& name) {
  sllm::ModelArch a = sllm::ModelCatalog::builtin().get(name, "test");
  a.hidden = 256;
  a.head_dim = 64;
  a.ffn = a.family == sllm::ModelFamily::kOpt ? 1024 : 688;
  return a;
}

class EngineCudaTest : public ::testing::TestWithParam<std::tuple<std::string, bool, bool>> {};

TEST_P(EngineCudaTest, MatchesCpuBackend) {
  const auto& [model, wide, cublas_small] = GetParam();
  const sllm::ModelArch arch = wide ? widened(model) : sllm::ModelCatalog::builtin().get(model, "test");
  const RandomWeights weights(arch, 21);
  const EngineConfig config{.max_sequences = 3, .max_context = 160, .cublas_for_small_batches = cublas_small};
  auto gpu = cuda_engine_or_skip(arch, weights, config);
  if (!gpu) GTEST_SKIP() << "no CUDA device (or built without CUDA)";
  auto cpu = Engine::create(arch, weights, {}, config);
  const std::vector<TokenId> long_prompt = random_tokens(4, 70, arch.vocab);   // GEMM attention path
  const std::vector<TokenId> short_prompt = random_tokens(5, 9, arch.vocab);   // own attention kernel
  const std::vector<TokenId> third = random_tokens(6, 40, arch.vocab);
  const SequenceChunk prefill[] = {{0, long_prompt}, {1, short_prompt}};
  std::vector<float> lg, lc;
  std::vector<TokenId> tg = gpu->forward(prefill, &lg), tc = cpu->forward(prefill, &lc);
  const auto V = static_cast<std::size_t>(arch.vocab);
  for (std::size_t c = 0; c < 2; ++c) EXPECT_LT(relative_error(lg, lc, c * V, V), 1e-2) << "prefill chunk " << c;
  EXPECT_EQ(tg, tc);
  // Decode steps for both, then slot 2 joins with a recompute-sized chunk split in two.
  for (int step = 0; step < 6; ++step) {
    ASSERT_EQ(tg, tc) << "step " << step;
    const TokenId a = tg[0], b = tg[1];
    std::vector<SequenceChunk> batch = {{0, {&a, 1}}, {1, {&b, 1}}};
    if (step == 2) batch.push_back({2, std::span(third).first(35)});
    if (step == 3) batch.push_back({2, std::span(third).subspan(35)});
    tg = gpu->forward(batch, &lg);
    tc = cpu->forward(batch, &lc);
    for (std::size_t c = 0; c < batch.size(); ++c) {
      EXPECT_LT(relative_error(lg, lc, c * V, V), 1e-2) << "step " << step << " chunk " << c;
    }
    EXPECT_EQ(tg.front(), tc.front()) << "step " << step;
    tg.resize(2);
    tc.resize(2);
  }
  EXPECT_EQ(gpu->context_length(0), cpu->context_length(0));
  EXPECT_EQ(gpu->context_length(2), 40);
}

INSTANTIATE_TEST_SUITE_P(Layouts, EngineCudaTest,
                         ::testing::Combine(::testing::Values("tiny-opt", "tiny-llama"), ::testing::Bool(),
                                            ::testing::Bool()));

// Decode batches against the CPU (1-2 rows: the fused GEMV path, in a CUDA graph; 3 and more: cuBLAS), and
// for 1-2 rows batch invariance: a sequence's logits in a batch of 2 are bit-identical to decoding it alone
// (the GEMV's per-output summation order does not depend on the rows).
class EngineCudaBatchTest : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(EngineCudaBatchTest, DecodeBatchMatchesCpuAndSingleSequence) {
  const auto& [model, B] = GetParam();
  const sllm::ModelArch arch = widened(model);
  const RandomWeights weights(arch, 33);
  const EngineConfig config{.max_sequences = 8, .max_context = 64};
  auto gpu = cuda_engine_or_skip(arch, weights, config);
  if (!gpu) GTEST_SKIP() << "no CUDA device (or built without CUDA)";
  auto alone = Engine::create(arch, weights, Device{"cuda", 0}, config);
  auto cpu = Engine::create(arch, weights, {}, config);
  const auto V = static_cast<std::size_t>(arch.vocab);
  std::vector<TokenId> next(static_cast<std::size_t>(B));
  for (int s = 0; s < B; ++s) {  // prompts of 3..8 tokens: multi-token chunks (cuBLAS: GEMV takes 1-2 rows)
    const std::vector<TokenId> prompt = random_tokens(40 + static_cast<std::uint64_t>(s), 3 + s % 6, arch.vocab);
    const SequenceChunk chunk{s, prompt};
    std::vector<float> lg, lc;
    const TokenId tg = gpu->forward({&chunk, 1}, &lg).front();
    next[static_cast<std::size_t>(s)] = cpu->forward({&chunk, 1}, &lc).front();
    EXPECT_LT(relative_error(lg, lc, 0, V), 1e-2) << "prefill of slot " << s;
    EXPECT_EQ(tg, next[static_cast<std::size_t>(s)]) << "prefill of slot " << s;
    if (s == 0) alone->forward({&chunk, 1});
  }
  for (int step = 0; step < 4; ++step) {
    std::vector<SequenceChunk> batch;
    for (int s = 0; s < B; ++s) batch.push_back({s, {&next[static_cast<std::size_t>(s)], 1}});
    std::vector<float> lg, lc, l1;
    const std::vector<TokenId> tg = gpu->forward(batch, &lg), tc = cpu->forward(batch, &lc);
    alone->forward({batch.data(), 1}, &l1);
    for (int s = 0; s < B; ++s) {
      EXPECT_LT(relative_error(lg, lc, static_cast<std::size_t>(s) * V, V), 1e-2) << "step " << step << " slot " << s;
    }
    ASSERT_EQ(tg, tc) << "step " << step;
    if (B <= 2) {
      for (std::size_t i = 0; i < V; ++i) ASSERT_EQ(lg[i], l1[i]) << "step " << step << " logit " << i;
    }
    next = tg;
  }
}

INSTANTIATE_TEST_SUITE_P(Batches, EngineCudaBatchTest,
                         ::testing::Combine(::testing::Values("tiny-opt", "tiny-llama"), ::testing::Values(1, 2, 3, 5, 8)));

// A real model's hidden size and head size (one layer), chunks of 1 to 8 tokens (GEMV and cuBLAS paths).
TEST(EngineCuda, RealHiddenSizeBatchOfEightMatchesCpu) {
  sllm::ModelArch arch = sllm::ModelCatalog::builtin().get("tiny-opt", "test");
  arch.layers = 1;
  arch.hidden = 4096;
  arch.heads = 32;
  arch.head_dim = 128;
  arch.ffn = 512;
  const RandomWeights weights(arch, 5);
  const EngineConfig config{.max_sequences = 8, .max_context = 16};
  auto gpu = cuda_engine_or_skip(arch, weights, config);
  if (!gpu) GTEST_SKIP() << "no CUDA device (or built without CUDA)";
  auto cpu = Engine::create(arch, weights, {}, config);
  const auto V = static_cast<std::size_t>(arch.vocab);
  for (int rows = 1; rows <= 8; ++rows) {  // one chunk of `rows` tokens per slot
    const std::vector<TokenId> prompt = random_tokens(60 + static_cast<std::uint64_t>(rows), rows, arch.vocab);
    const SequenceChunk chunk{rows - 1, prompt};
    std::vector<float> lg, lc;
    EXPECT_EQ(gpu->forward({&chunk, 1}, &lg), cpu->forward({&chunk, 1}, &lc)) << rows << " rows";
    EXPECT_LT(relative_error(lg, lc, 0, V), 1e-2) << rows << " rows";
  }
}

// Decode attention splits a row's keys over up to 8 blocks (32 keys or more each) and combines them: long
// contexts (8 splits), a context crossing 32 keys (1 -> 2 splits) in the same batch, and head sizes whose
// 16-byte chunks do not fill a power of two of lanes (head_dim 40: 5 chunks), against the CPU backend.
class EngineCudaLongContextTest : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(EngineCudaLongContextTest, DecodeOverSplitKeysMatchesCpu) {
  const auto& [model, head_dim] = GetParam();
  sllm::ModelArch arch = sllm::ModelCatalog::builtin().get(model, "test");
  arch.head_dim = head_dim;
  arch.hidden = arch.heads * head_dim;
  arch.max_positions = 1024;
  const RandomWeights weights(arch, 17);
  const EngineConfig config{.max_sequences = 2, .max_context = 1024};
  auto gpu = cuda_engine_or_skip(arch, weights, config);
  if (!gpu) GTEST_SKIP() << "no CUDA device (or built without CUDA)";
  auto cpu = Engine::create(arch, weights, {}, config);
  const std::vector<TokenId> long_prompt = random_tokens(31, 700, arch.vocab);
  const std::vector<TokenId> short_prompt = random_tokens(32, 28, arch.vocab);
  const SequenceChunk prefill[] = {{0, long_prompt}, {1, short_prompt}};
  std::vector<float> lg, lc;
  std::vector<TokenId> tg = gpu->forward(prefill, &lg), tc = cpu->forward(prefill, &lc);
  const auto V = static_cast<std::size_t>(arch.vocab);
  for (int step = 0; step < 8; ++step) {  // contexts 701..708 and 29..36
    ASSERT_EQ(tg, tc) << "step " << step;
    const TokenId a = tg[0], b = tg[1];
    const SequenceChunk batch[] = {{0, {&a, 1}}, {1, {&b, 1}}};
    tg = gpu->forward(batch, &lg);
    tc = cpu->forward(batch, &lc);
    for (std::size_t c = 0; c < 2; ++c) EXPECT_LT(relative_error(lg, lc, c * V, V), 1e-2) << "step " << step << " row " << c;
  }
  EXPECT_EQ(gpu->context_length(0), 708);
}

INSTANTIATE_TEST_SUITE_P(HeadSizes, EngineCudaLongContextTest,
                         ::testing::Combine(::testing::Values("tiny-opt", "tiny-llama"), ::testing::Values(16, 40, 128)));

TEST(EngineCuda, GreedyGenerationMatchesCpu) {
  const sllm::ModelArch arch = widened("tiny-llama");
  const RandomWeights weights(arch, 3);
  auto gpu = cuda_engine_or_skip(arch, weights, {.max_sequences = 1, .max_context = 128});
  if (!gpu) GTEST_SKIP() << "no CUDA device (or built without CUDA)";
  auto cpu = Engine::create(arch, weights, {}, {.max_sequences = 1, .max_context = 128});
  const std::vector<TokenId> prompt = random_tokens(8, 48, arch.vocab);
  const std::vector<TokenId> a = generate_greedy(*gpu, 0, prompt, 16), b = generate_greedy(*cpu, 0, prompt, 16);
  // fp16 may flip a near-tie late in a sequence; the first steps must agree.
  EXPECT_EQ(std::vector<TokenId>(a.begin(), a.begin() + 8), std::vector<TokenId>(b.begin(), b.begin() + 8));
}

}  // namespace
