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

// A device by its backend's name (sllm/models/device_backend.h) and ordinal: "cpu" (host memory) or
// "cuda:N". What a device can do is asked of its backend, never decided from its name.
struct Device {
  std::string backend = "cpu";
  int index = 0;  // ordinal among the backend's devices (always 0 for cpu)

  std::string to_string() const { return backend == "cpu" ? backend : backend + ":" + std::to_string(index); }
  // "cpu" or "<backend>:N" (e.g. "cuda:0"); throws InputError naming `flag` otherwise. The backend is
  // looked up (and loaded) when the device is first used, not here.
  static Device parse(std::string_view text, const std::string& flag);
  bool operator==(const Device&) const = default;
};

struct TensorView {
  std::string name;
  DType dtype = DType::kF16;
  std::vector<std::int64_t> shape;
  void* data = nullptr;  // where the device's backend put the bytes (host memory for cpu)
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
