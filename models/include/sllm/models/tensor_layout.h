// The tensors of a catalog model, with Hugging Face's names and shapes ([out, in] for linear weights),
// so that synthetic checkpoints look like real ones and the engine finds weights by their real names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sllm/core/model_arch.h"

namespace sllm::models {

struct TensorSpec {
  std::string name;
  DType dtype = DType::kF16;
  std::vector<std::int64_t> shape;
  std::string alias_of;  // non-empty: the same storage as that tensor (tied lm_head)

  std::uint64_t elements() const;
  std::uint64_t bytes() const { return elements() * dtype_size(dtype); }
};

// All tensors of `arch` in checkpoint order (embeddings, layers in order, final norm, head).
std::vector<TensorSpec> tensor_layout(const ModelArch& arch);

}  // namespace sllm::models
