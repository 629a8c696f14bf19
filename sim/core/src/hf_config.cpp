// A ModelArch from a Hugging Face config.json. JSON is read through ConfigNode (YAML 1.2 is a superset of
// JSON, and the reader already locates every error at file:line:column and refuses duplicate keys), from
// a file capped at kMaxHfConfigBytes. Only the fields the architecture needs are read: the rest of the
// file (tokenizer ids, dropout, rope scaling...) is left alone, so no finish() here.
#include <optional>
#include <string>

#include "sllm/core/config_node.h"
#include "sllm/core/error.h"
#include "sllm/core/files.h"
#include "sllm/core/model_arch.h"

namespace sllm {

namespace {

constexpr int kBig = 1 << 24;

int int_field(const ConfigNode& c, std::string_view key, std::optional<std::int64_t> def, std::int64_t max = kBig) {
  return static_cast<int>(c.get_int(key, def, 1, max));
}

// The sizes every family names the same way (LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config).
void read_llama_like(const ConfigNode& c, ModelArch& a, std::optional<std::int64_t> default_head_dim) {
  a.hidden = int_field(c, "hidden_size", {});
  a.layers = int_field(c, "num_hidden_layers", {}, 4096);
  a.heads = int_field(c, "num_attention_heads", {}, 4096);
  a.kv_heads = int_field(c, "num_key_value_heads", a.heads, a.heads);
  if (!c.has("head_dim") && !default_head_dim && a.hidden % a.heads != 0) {
    c.child("num_attention_heads").fail("hidden_size must be a multiple of num_attention_heads (no head_dim given)");
  }
  a.head_dim = int_field(c, "head_dim", default_head_dim ? *default_head_dim : a.hidden / a.heads);
  a.ffn = int_field(c, "intermediate_size", {});
  a.vocab = int_field(c, "vocab_size", {});
  a.max_positions = int_field(c, "max_position_embeddings", {}, 1 << 30);
  a.rope_theta = c.get_double("rope_theta", 10000.0, 1.0, 1e12);
}

DType read_dtype(const ConfigNode& c, const DType* override_dtype) {
  if (override_dtype) return *override_dtype;
  // transformers writes `torch_dtype`, and `dtype` from 4.56 on.
  const char* key = c.has("dtype") ? "dtype" : "torch_dtype";
  if (!c.has(key)) c.fail("no torch_dtype: the checkpoint's element type is unknown (give the deployment a dtype)");
  DType d = DType::kF16;
  parse_dtype(c.get_enum(key, {"float16", "bfloat16", "float32"}), &d);
  return d;
}

}  // namespace

ModelArch parse_hf_config(const std::string& text, const std::string& source, const std::string& name,
                          const DType* dtype) {
  const ConfigNode c = ConfigNode::load_string(text, source);
  if (!c.is_map()) c.fail("expected a JSON object (a Hugging Face config.json)");
  ModelArch a;
  a.name = name;
  const std::string type = c.get_enum("model_type", {"llama", "mistral", "qwen2", "qwen3", "opt", "falcon"});
  if (type == "llama" || type == "mistral" || type == "qwen2") {
    a.family = ModelFamily::kLlama;
    read_llama_like(c, a, {});
    a.apply_family_defaults();
    // Llama's attention_bias covers q, k, v and o; Qwen2 always has q, k, v biases and no o bias.
    const bool attention_bias = type == "llama" && c.get_bool("attention_bias", false);
    a.qkv_bias = type == "qwen2" || attention_bias;
    a.out_bias = attention_bias;
    a.mlp_bias = type == "llama" && c.get_bool("mlp_bias", false);
    a.tied_embeddings = c.get_bool("tie_word_embeddings", false);
  } else if (type == "qwen3") {
    a.family = ModelFamily::kQwen3;
    read_llama_like(c, a, 128);  // Qwen3Config's head_dim default
    a.apply_family_defaults();
    a.qkv_bias = a.out_bias = c.get_bool("attention_bias", false);
    a.tied_embeddings = c.get_bool("tie_word_embeddings", false);
  } else if (type == "opt") {
    a.family = ModelFamily::kOpt;
    a.hidden = int_field(c, "hidden_size", {});
    a.layers = int_field(c, "num_hidden_layers", {}, 4096);
    a.heads = int_field(c, "num_attention_heads", {}, 4096);
    a.kv_heads = a.heads;
    if (a.hidden % a.heads != 0) c.child("num_attention_heads").fail("hidden_size must be a multiple of num_attention_heads");
    a.head_dim = a.hidden / a.heads;
    a.ffn = int_field(c, "ffn_dim", {});
    a.vocab = int_field(c, "vocab_size", {});
    a.max_positions = int_field(c, "max_position_embeddings", {}, 1 << 30);
    // OPT-350m projects a smaller embedding in and out and puts its norms after the blocks: another layout.
    if (int_field(c, "word_embed_proj_dim", a.hidden) != a.hidden) {
      c.child("word_embed_proj_dim").fail("differs from hidden_size (project_in/project_out): a layout not described here");
    }
    if (!c.get_bool("do_layer_norm_before", true)) c.child("do_layer_norm_before").fail("false (post-norm OPT) is not described here");
    if (!c.get_bool("layer_norm_elementwise_affine", true)) {
      c.child("layer_norm_elementwise_affine").fail("false (norms without weights) is not described here");
    }
    a.apply_family_defaults();
    a.qkv_bias = a.out_bias = a.mlp_bias = c.get_bool("enable_bias", true);
    a.tied_embeddings = c.get_bool("tie_word_embeddings", true);
  } else {  // falcon (FalconConfig; the older RefinedWeb configs name their fields differently)
    a.family = ModelFamily::kFalcon;
    a.hidden = int_field(c, "hidden_size", {});
    a.layers = int_field(c, "num_hidden_layers", {}, 4096);
    a.heads = int_field(c, "num_attention_heads", {}, 4096);
    if (a.hidden % a.heads != 0) c.child("num_attention_heads").fail("hidden_size must be a multiple of num_attention_heads");
    a.head_dim = a.hidden / a.heads;
    const bool new_layout = c.get_bool("new_decoder_architecture", false);
    // FalconConfig: the new layout has num_kv_heads groups; the old one multi-query (one) or full heads.
    a.kv_heads = new_layout ? int_field(c, "num_kv_heads", a.heads, a.heads) : (c.get_bool("multi_query", true) ? 1 : a.heads);
    if (a.heads % a.kv_heads != 0) c.child("num_kv_heads").fail("num_attention_heads must be a multiple of num_kv_heads");
    a.ffn = int_field(c, "ffn_hidden_size", 4ll * a.hidden);
    a.vocab = int_field(c, "vocab_size", {});
    a.max_positions = int_field(c, "max_position_embeddings", 2048, 1 << 30);
    a.rope_theta = c.get_double("rope_theta", 10000.0, 1.0, 1e12);
    // One LayerNorm before the parallel attention and MLP, or two: ln_attn and ln_mlp (the new layout
    // unless num_ln_in_parallel_attn is 1), or before each of them in turn (parallel_attn false).
    const bool two_parallel_norms = new_layout && c.get_int("num_ln_in_parallel_attn", 2, 1, 2) == 2;
    a.norms_per_layer = two_parallel_norms || !c.get_bool("parallel_attn", true) ? 2 : 1;
    a.apply_family_defaults();
    a.qkv_bias = a.out_bias = a.mlp_bias = c.get_bool("bias", false);
    a.tied_embeddings = c.get_bool("tie_word_embeddings", true);
  }
  if (a.heads % a.kv_heads != 0) c.child("num_key_value_heads").fail("num_attention_heads must be a multiple of num_key_value_heads");
  a.dtype = read_dtype(c, dtype);
  return a;
}

ModelArch import_hf_config(const std::string& path, const std::string& name, const DType* dtype) {
  return parse_hf_config(read_file_limited(path, kMaxHfConfigBytes, "Hugging Face config"), path, name, dtype);
}

}  // namespace sllm
