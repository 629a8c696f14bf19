// Transformer architectures: the model catalog (models/catalog.yaml, built into the binary) and models a
// config describes (a deployment's `arch:` section, or a Hugging Face config.json it names). Sizes the
// simulator needs (parameters, checkpoint bytes, KV-cache bytes per token, FLOPs per token) are derived
// here from the architecture so that a model is only its published config.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sllm {

class ConfigNode;

// The layout family: the tensor names and forward pass of the real engine and checkpoint writer
// (models/), and the defaults of the layout features below.
enum class ModelFamily { kOpt, kLlama, kQwen3, kFalcon };
std::string_view to_string(ModelFamily f);
enum class NormKind : std::uint8_t { kLayerNorm, kRmsNorm };  // LayerNorm has a weight and a bias, RMSNorm a weight
enum class MlpKind : std::uint8_t { kGated, kPlain };         // gated: gate, up, down (SwiGLU); plain: up, down

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
  // Layout features: what the parameter count depends on beyond the sizes above. Defaults come from the
  // family (family_defaults); a described model may set each.
  NormKind norm = NormKind::kRmsNorm;
  MlpKind mlp = MlpKind::kGated;
  bool tied_embeddings = false;  // lm_head shares the token embedding (stored once)
  bool qkv_bias = false;         // biases of the q, k and v projections (Qwen2, OPT)
  bool out_bias = false;         // bias of the attention output projection (OPT)
  bool mlp_bias = false;         // biases of the MLP projections (OPT)
  bool qk_norm = false;          // a norm of head_dim over each head's q and k (Qwen3)
  int learned_positions = 0;     // rows of a learned position embedding (OPT: max_positions + 2), 0: RoPE

  // Sets the layout features to the family's (family and max_positions already set).
  void apply_family_defaults();

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
  // One architecture as a catalog entry writes it (family, sizes, optional layout features), named `name`.
  static ModelArch parse(const std::string& name, const ConfigNode& node);

  // Case-insensitive. Returns nullptr when unknown.
  const ModelArch* find(std::string_view name) const;
  // Throws InputError naming `where` and listing the known models.
  const ModelArch& get(std::string_view name, const std::string& where) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, ModelArch, std::less<>> models_;
};

// The largest Hugging Face config.json read (they are a few KiB): a larger file is refused unread.
inline constexpr std::uint64_t kMaxHfConfigBytes = 1ull << 20;

// A model from a Hugging Face config.json (model_type llama, mistral, qwen2, qwen3, opt or falcon), named
// `name`, its element type `dtype` where given, else the file's torch_dtype. Reads only the fields the
// architecture needs; InputError naming the file, line and field when one is missing, out of range or a
// layout this model cannot describe (docs/config.md lists the mapping).
ModelArch import_hf_config(const std::string& path, const std::string& name, const DType* dtype = nullptr);
// The same from text already read (`source` names it in errors).
ModelArch parse_hf_config(const std::string& text, const std::string& source, const std::string& name,
                          const DType* dtype = nullptr);

}  // namespace sllm
