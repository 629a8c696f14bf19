// Identifiers shared by the simulator, the policies and the real replay: dense indices into the
// scenario's models, the cluster's servers and the simulator's instance slots.
#pragma once

#include <cstdint>

namespace sllm {

using ModelId = std::uint32_t;     // index into the scenario's deployed models
using ServerId = std::uint32_t;    // index into the cluster's servers
using InstanceId = std::uint32_t;  // instance slot (reused; see Instance::generation)
inline constexpr std::uint32_t kNone = UINT32_MAX;

}  // namespace sllm
