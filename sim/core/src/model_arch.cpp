#include "sllm/core/model_arch.h"

#include <algorithm>
#include <cctype>

#include "sllm/core/config_node.h"
#include "sllm/core/error.h"

namespace sllm {

extern const char* const kBuiltinCatalogYaml;  // generated from models/catalog.yaml

std::string_view to_string(ModelFamily f) {
  switch (f) {
    case ModelFamily::kOpt: return "opt";
    case ModelFamily::kLlama: return "llama";
    case ModelFamily::kQwen3: return "qwen3";
    case ModelFamily::kFalcon: return "falcon";
  }
  return "?";
}

std::string_view to_string(DType d) {
  switch (d) {
    case DType::kF64: return "F64";
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kI64: return "I64";
    case DType::kI32: return "I32";
    case DType::kI16: return "I16";
    case DType::kI8: return "I8";
    case DType::kU8: return "U8";
    case DType::kBool: return "BOOL";
  }
  return "?";
}

std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::kF64: case DType::kI64: return 8;
    case DType::kF32: case DType::kI32: return 4;
    case DType::kF16: case DType::kBF16: case DType::kI16: return 2;
    case DType::kI8: case DType::kU8: case DType::kBool: return 1;
  }
  return 0;
}

bool parse_dtype(std::string_view text, DType* out) {
  static constexpr std::pair<std::string_view, DType> names[] = {
      {"F64", DType::kF64},       {"F32", DType::kF32},       {"F16", DType::kF16},
      {"BF16", DType::kBF16},     {"I64", DType::kI64},       {"I32", DType::kI32},
      {"I16", DType::kI16},       {"I8", DType::kI8},         {"U8", DType::kU8},
      {"BOOL", DType::kBool},     {"float64", DType::kF64},   {"float32", DType::kF32},
      {"float16", DType::kF16},   {"bfloat16", DType::kBF16}};
  for (const auto& [name, d] : names) {
    if (text == name) {
      *out = d;
      return true;
    }
  }
  return false;
}

void ModelArch::apply_family_defaults() {
  const bool opt = family == ModelFamily::kOpt;
  norm = opt || family == ModelFamily::kFalcon ? NormKind::kLayerNorm : NormKind::kRmsNorm;
  mlp = opt || family == ModelFamily::kFalcon ? MlpKind::kPlain : MlpKind::kGated;
  tied_embeddings = opt || family == ModelFamily::kFalcon;
  qkv_bias = out_bias = mlp_bias = opt;
  qk_norm = family == ModelFamily::kQwen3;
  learned_positions = opt ? max_positions + 2 : 0;  // OPT's position table has 2 rows of offset
}

std::uint64_t ModelArch::parameter_count() const {
  const std::uint64_t h = static_cast<std::uint64_t>(hidden);
  const std::uint64_t f = static_cast<std::uint64_t>(ffn);
  const std::uint64_t q = static_cast<std::uint64_t>(heads) * static_cast<std::uint64_t>(head_dim);
  const std::uint64_t kv = static_cast<std::uint64_t>(kv_heads) * static_cast<std::uint64_t>(head_dim);
  const std::uint64_t v = static_cast<std::uint64_t>(vocab);
  const std::uint64_t n = static_cast<std::uint64_t>(layers);
  const std::uint64_t norm_params = norm == NormKind::kLayerNorm ? 2 : 1;  // per element: weight (+ bias)
  std::uint64_t attention = h * q + 2 * h * kv + q * h;
  if (qkv_bias) attention += q + 2 * kv;
  if (out_bias) attention += h;
  if (qk_norm) attention += 2 * norm_params * static_cast<std::uint64_t>(head_dim);
  const std::uint64_t projections = mlp == MlpKind::kGated ? 3 : 2;
  std::uint64_t feed_forward = projections * h * f;
  if (mlp_bias) feed_forward += (projections - 1) * f + h;  // the projections into ffn, then back into hidden
  const std::uint64_t per_layer =
      attention + feed_forward + static_cast<std::uint64_t>(norms_per_layer) * norm_params * h;
  const std::uint64_t embeddings = v * h + static_cast<std::uint64_t>(learned_positions) * h;
  return embeddings + n * per_layer + norm_params * h + (tied_embeddings ? 0 : v * h);  // final norm, lm_head
}

std::uint64_t ModelArch::kv_bytes_per_token() const {
  return 2ull * static_cast<std::uint64_t>(layers) * static_cast<std::uint64_t>(kv_heads) *
         static_cast<std::uint64_t>(head_dim) * dtype_size(dtype);
}

double ModelArch::flops_per_token() const {
  // Every weight of a matmul is used once per token (2 FLOPs); embeddings are lookups, but the
  // lm_head (tied or not) is a vocab x hidden matmul.
  const double h = hidden, v = vocab;
  double embed_rows = v * h;
  if (learned_positions > 0) embed_rows += static_cast<double>(learned_positions) * h;
  const double matmul_params =
      static_cast<double>(parameter_count()) - embed_rows - (tied_embeddings ? 0.0 : v * h) + v * h;
  return 2.0 * matmul_params;
}

double ModelArch::attention_flops_per_context_token() const {
  // QK^T and PV: 2 * 2 * heads * head_dim per layer for each (query token, context token) pair.
  return 4.0 * layers * static_cast<double>(heads) * head_dim;
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

ModelArch ModelCatalog::parse(const std::string& name, const ConfigNode& node) {
  ModelArch a;
  a.name = name;
  const std::string family = node.get_enum("family", {"opt", "llama", "qwen3", "falcon"});
  a.family = family == "opt"      ? ModelFamily::kOpt
             : family == "llama"  ? ModelFamily::kLlama
             : family == "qwen3"  ? ModelFamily::kQwen3
                                  : ModelFamily::kFalcon;
  constexpr int kBig = 1 << 24;
  a.layers = static_cast<int>(node.get_int("layers", {}, 1, 4096));
  a.hidden = static_cast<int>(node.get_int("hidden", {}, 1, kBig));
  a.heads = static_cast<int>(node.get_int("heads", {}, 1, 4096));
  a.kv_heads = static_cast<int>(node.get_int("kv_heads", a.heads, 1, a.heads));
  if (a.heads % a.kv_heads != 0) node.child("kv_heads").fail("heads must be a multiple of kv_heads");
  if (a.hidden % a.heads != 0 && !node.has("head_dim")) node.fail("hidden must be a multiple of heads");
  a.head_dim = static_cast<int>(node.get_int("head_dim", a.hidden / a.heads, 1, kBig));
  a.ffn = static_cast<int>(node.get_int("ffn", {}, 1, kBig));
  a.vocab = static_cast<int>(node.get_int("vocab", {}, 1, kBig));
  a.max_positions = static_cast<int>(node.get_int("max_positions", {}, 1, 1 << 30));
  a.norms_per_layer = static_cast<int>(node.get_int("norms_per_layer", 2, 1, 2));
  a.rope_theta = node.get_double("rope_theta", 10000.0, 1.0, 1e12);
  const std::string dtype = node.get_enum("dtype", {"float16", "bfloat16", "float32"}, "float16");
  parse_dtype(dtype, &a.dtype);
  if (a.family == ModelFamily::kOpt && a.kv_heads != a.heads) node.fail("OPT models have kv_heads == heads");
  // Layout features: the family's unless given.
  a.apply_family_defaults();
  a.norm = node.get_enum("norm", {"layernorm", "rmsnorm"}, a.norm == NormKind::kLayerNorm ? "layernorm" : "rmsnorm") == "layernorm"
               ? NormKind::kLayerNorm
               : NormKind::kRmsNorm;
  a.mlp = node.get_enum("mlp", {"gated", "plain"}, a.mlp == MlpKind::kGated ? "gated" : "plain") == "gated" ? MlpKind::kGated
                                                                                                         : MlpKind::kPlain;
  a.tied_embeddings = node.get_bool("tied_embeddings", a.tied_embeddings);
  a.qkv_bias = node.get_bool("qkv_bias", a.qkv_bias);
  a.out_bias = node.get_bool("out_bias", a.out_bias);
  a.mlp_bias = node.get_bool("mlp_bias", a.mlp_bias);
  a.qk_norm = node.get_bool("qk_norm", a.qk_norm);
  a.learned_positions = static_cast<int>(node.get_int("learned_positions", a.learned_positions, 0, (1 << 30) + 2));
  node.finish();
  return a;
}

const ModelCatalog& ModelCatalog::builtin() {
  static const ModelCatalog catalog = [] {
    ModelCatalog c;
    const ConfigNode root = ConfigNode::load_string(kBuiltinCatalogYaml, "models/catalog.yaml");
    c.load(root.child("models"));
    root.finish();
    return c;
  }();
  return catalog;
}

void ModelCatalog::load(const ConfigNode& models) {
  for (const std::string& name : models.keys()) {
    models_[lower(name)] = parse(lower(name), models.child(name));
  }
}

const ModelArch* ModelCatalog::find(std::string_view name) const {
  auto it = models_.find(lower(name));
  return it == models_.end() ? nullptr : &it->second;
}

const ModelArch& ModelCatalog::get(std::string_view name, const std::string& where) const {
  if (const ModelArch* a = find(name)) return *a;
  std::string known;
  for (const auto& [n, _] : models_) known += (known.empty() ? "" : ", ") + n;
  throw InputError(where, "unknown model '" + std::string(name) + "' (catalog has: " + known + ")");
}

std::vector<std::string> ModelCatalog::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : models_) out.push_back(n);
  return out;
}

}  // namespace sllm
