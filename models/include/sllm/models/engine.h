// The real inference engine: decoder-only transformers of the OPT layout (LayerNorm, learned positions
// with OPT's offset of 2, ReLU MLP, biases, lm_head tied to the token embedding) and the LLaMA layout
// (RMSNorm, RoPE, SwiGLU, grouped-query attention), greedy decoding over a KV cache.
//
// Backends: a CPU reference (Eigen, fp32 arithmetic on weights converted from fp16/bf16/f32) and CUDA
// (fp16 weights read in place, cuBLAS GEMMs, own kernels for attention, norms, RoPE, activations, argmax).
// Weights come from any TensorSource (the loader's LoadedModel, or RandomWeights below) by their
// Hugging Face names; a CUDA engine given host tensors uploads them once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "sllm/models/tensor.h"
#include "sllm/core/model_arch.h"

namespace sllm::models {

using TokenId = std::int32_t;

struct EngineConfig {
  int max_sequences = 1;  // KV-cache slots: sequences that can be resident at once
  int max_context = 0;    // tokens per slot; 0 = the model's max_positions
  // CUDA: use cuBLAS even for forward passes of 1-2 tokens, where the engine's own GEMV kernel is the
  // default (kept selectable to compare the two in the benchmark).
  bool cublas_for_small_batches = false;
};

// Tokens to append to one slot's sequence in a forward pass: a whole prompt (prefill), the tokens a
// migration sends (recompute), or the single latest token (decode).
struct SequenceChunk {
  int slot = 0;
  std::span<const TokenId> tokens;
};

class Engine {
 public:
  // Throws InputError when a tensor is missing or has the wrong shape, and std::runtime_error when the
  // device cannot be used (no GPU, built without CUDA, out of memory).
  static std::unique_ptr<Engine> create(const ModelArch& arch, const TensorSource& weights, Device device,
                                        const EngineConfig& config = {});
  virtual ~Engine() = default;

  // Runs all chunks as one batch: every chunk's tokens are appended to its slot's KV cache (attending
  // to everything already there), and for each chunk the greedy next token after its last token is
  // returned. `last_logits`, when given, receives [chunks x vocab] fp32 logits of those last tokens.
  // Slots must be distinct within one call; chunks must be non-empty and fit in max_context.
  virtual std::vector<TokenId> forward(std::span<const SequenceChunk> chunks,
                                       std::vector<float>* last_logits = nullptr) = 0;
  // Forgets a slot's sequence (its KV cache is reused).
  virtual void reset(int slot) = 0;
  virtual int context_length(int slot) const = 0;

  const ModelArch& arch() const { return arch_; }
  Device device() const { return device_; }
  const EngineConfig& config() const { return config_; }

 protected:
  Engine(const ModelArch& arch, Device device, const EngineConfig& config);
  ModelArch arch_;
  Device device_;
  EngineConfig config_;
};

// Greedy generation of one sequence in `slot` (reset first): prefill of `prompt`, then decode steps until
// `new_tokens` tokens were produced. Returns the generated tokens (not the prompt).
std::vector<TokenId> generate_greedy(Engine& engine, int slot, std::span<const TokenId> prompt, int new_tokens);

// Deterministic pseudo-random token ids in [0, vocab) from `seed` (prompts for benchmarks and tests).
std::vector<TokenId> random_tokens(std::uint64_t seed, int count, int vocab);

// Host tensors with every name and shape of tensor_layout(arch), filled with deterministic pseudo-random
// values scaled like PyTorch's default initialisation (linear weights uniform in +-1/sqrt(fan_in),
// token embeddings in +-0.1, learned positions in +-1, norm weights near 1, small biases) so activations stay O(1) through the layers and
// greedy outputs vary. Fills in parallel (counter-based generator: the result does not depend on the
// thread count). The tied lm_head aliases the token embedding, as in a checkpoint.
class RandomWeights final : public TensorSource {
 public:
  RandomWeights(const ModelArch& arch, std::uint64_t seed);
  const TensorView* find(std::string_view name) const override;
  std::uint64_t bytes() const { return bytes_; }

 private:
  std::vector<TensorView> views_;
  std::vector<std::unique_ptr<std::byte[]>> storage_;
  std::uint64_t bytes_ = 0;
};

// Element conversions shared by the backends and RandomWeights (round to nearest even).
float half_to_float(std::uint16_t h);
std::uint16_t float_to_half(float f);
float bf16_to_float(std::uint16_t b);
std::uint16_t float_to_bf16(float f);

}  // namespace sllm::models
