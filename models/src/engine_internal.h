// Pieces shared by the engine's backends (engine_cpu.cpp for device cpu, cuda/engine_cuda.cu for cuda) and
// engine.cpp. The cuda backend is a module in a dynamic build: what it uses here the executable exports.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sllm/models/engine.h"

namespace sllm::models::detail {

// Numerical constants of the supported layouts (the catalog does not carry them): OPT's LayerNorm and
// Llama-2/3's RMSNorm both use 1e-5 in their published configs.
inline constexpr double kLayerNormEps = 1e-5;
inline constexpr double kRmsNormEps = 1e-5;
inline constexpr int kOptPositionOffset = 2;  // OPT's learned positions start at row 2

// The tensor `name`, checked to have `shape`; InputError naming the tensor otherwise.
const TensorView& require_tensor(const TensorSource& weights, const std::string& name,
                                 const std::vector<std::int64_t>& shape);
// A host tensor's elements as fp32 (F16, BF16 or F32).
std::vector<float> host_to_float(const TensorView& view);

// Checks the arguments of Engine::forward (slots, lengths, token ids): InputError when wrong.
void validate_chunks(const Engine& engine, std::span<const SequenceChunk> chunks,
                     std::span<const int> context_lengths);
// Throws InputError for families the engine does not implement (qwen3, falcon).
void check_supported(const ModelArch& arch);
int effective_max_context(const ModelArch& arch, const EngineConfig& config);

std::unique_ptr<Engine> create_cpu_engine(const ModelArch& arch, const TensorSource& weights,
                                          const EngineConfig& config);
std::unique_ptr<Engine> create_cuda_engine(const ModelArch& arch, const TensorSource& weights, Device device,
                                           const EngineConfig& config);

}  // namespace sllm::models::detail
