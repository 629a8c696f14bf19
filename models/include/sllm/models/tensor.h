// A view of one tensor's bytes where the loader put them (host memory or a GPU). The loader owns the
// memory; the engine reads weights through these views by their checkpoint names.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/core/model_arch.h"

namespace sllm::models {

// Elements of a tensor of `shape` (1 for a scalar); dimensions are non-negative.
inline std::uint64_t element_count(std::span<const std::int64_t> shape) {
  std::uint64_t n = 1;
  for (std::int64_t d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

struct Device {
  enum class Kind : std::uint8_t { kCpu, kCuda };
  Kind kind = Kind::kCpu;
  int index = 0;  // CUDA ordinal

  bool is_cuda() const { return kind == Kind::kCuda; }
  std::string to_string() const { return is_cuda() ? "cuda:" + std::to_string(index) : "cpu"; }
  // "cpu" or "cuda:N"; throws InputError naming `flag` otherwise.
  static Device parse(std::string_view text, const std::string& flag);
};

struct TensorView {
  std::string name;
  DType dtype = DType::kF16;
  std::vector<std::int64_t> shape;
  void* data = nullptr;  // host pointer for Device::kCpu, device pointer for kCuda
  std::uint64_t bytes = 0;
  Device device;
};

// What the engine needs from whoever holds the weights (the loader's LoadedModel, or a test).
class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // nullptr when absent.
  virtual const TensorView* find(std::string_view name) const = 0;
};

}  // namespace sllm::models
