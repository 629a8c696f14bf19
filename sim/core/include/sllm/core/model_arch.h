// Transformer architectures of the model catalog (models/catalog.yaml, built into the binary).
// Sizes the simulator needs (parameters, checkpoint bytes, KV-cache bytes per token, FLOPs per token)
// are derived here from the architecture so that a catalog entry is only the published config.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sllm {

class ConfigNode;

enum class ModelFamily { kOpt, kLlama, kQwen3, kFalcon };
std::string_view to_string(ModelFamily f);

enum class DType : std::uint8_t { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };
std::string_view to_string(DType d);     // safetensors spelling: "F16", "BF16", ...
std::size_t dtype_size(DType d);
// Accepts safetensors names ("F16") and catalog names ("float16", "bfloat16", "float32").
bool parse_dtype(std::string_view text, DType* out);

struct ModelArch {
  std::string name;
  ModelFamily family = ModelFamily::kLlama;
  int layers = 0;
  int hidden = 0;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;  // hidden / heads unless the config says otherwise (Qwen3)
  int ffn = 0;
  int vocab = 0;
  int max_positions = 0;
  int norms_per_layer = 2;  // falcon: 1 (7B) or 2 (40B); others use two norms per layer
  double rope_theta = 10000.0;
  DType dtype = DType::kF16;

  std::uint64_t parameter_count() const;
  std::uint64_t checkpoint_bytes() const { return parameter_count() * dtype_size(dtype); }
  // K and V for every layer, one token.
  std::uint64_t kv_bytes_per_token() const;
  // Dense FLOPs of one token through the network (2 per weight of the matmuls, lm_head included),
  // excluding attention over the context, which kv_flops_per_context_token() adds per context token.
  double flops_per_token() const;
  double attention_flops_per_context_token() const;
};

class ModelCatalog {
 public:
  // The catalog compiled into the binary from models/catalog.yaml.
  static const ModelCatalog& builtin();
  // Reads a `models:` mapping of name -> architecture (a user catalog extends or overrides the built-in one).
  void load(const ConfigNode& models);

  // Case-insensitive. Returns nullptr when unknown.
  const ModelArch* find(std::string_view name) const;
  // Throws InputError naming `where` and listing the known models.
  const ModelArch& get(std::string_view name, const std::string& where) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, ModelArch, std::less<>> models_;
};

}  // namespace sllm
