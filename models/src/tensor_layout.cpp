#include "sllm/models/tensor_layout.h"

#include <string>

#include "sllm/models/tensor.h"

namespace sllm::models {

std::uint64_t TensorSpec::elements() const { return element_count(shape); }

namespace {

class Builder {
 public:
  explicit Builder(DType dtype) : dtype_(dtype) {}
  void add(std::string name, std::vector<std::int64_t> shape) {
    out.push_back({std::move(name), dtype_, std::move(shape), {}});
  }
  void alias(std::string name, const std::string& target) {
    for (const TensorSpec& t : out) {
      if (t.name == target) {
        out.push_back({std::move(name), t.dtype, t.shape, target});
        return;
      }
    }
  }
  std::vector<TensorSpec> out;

 private:
  DType dtype_;
};

void opt_layout(const ModelArch& a, Builder& b) {
  const std::int64_t h = a.hidden, f = a.ffn;
  b.add("model.decoder.embed_tokens.weight", {a.vocab, h});
  b.add("model.decoder.embed_positions.weight", {a.max_positions + 2, h});
  for (int i = 0; i < a.layers; ++i) {
    const std::string p = "model.decoder.layers." + std::to_string(i) + ".";
    for (const char* proj : {"k_proj", "v_proj", "q_proj", "out_proj"}) {
      b.add(p + "self_attn." + proj + ".weight", {h, h});
      b.add(p + "self_attn." + proj + ".bias", {h});
    }
    b.add(p + "self_attn_layer_norm.weight", {h});
    b.add(p + "self_attn_layer_norm.bias", {h});
    b.add(p + "fc1.weight", {f, h});
    b.add(p + "fc1.bias", {f});
    b.add(p + "fc2.weight", {h, f});
    b.add(p + "fc2.bias", {h});
    b.add(p + "final_layer_norm.weight", {h});
    b.add(p + "final_layer_norm.bias", {h});
  }
  b.add("model.decoder.final_layer_norm.weight", {h});
  b.add("model.decoder.final_layer_norm.bias", {h});
  b.alias("lm_head.weight", "model.decoder.embed_tokens.weight");
}

void llama_layout(const ModelArch& a, Builder& b) {
  const std::int64_t h = a.hidden, f = a.ffn;
  const std::int64_t q = static_cast<std::int64_t>(a.heads) * a.head_dim;
  const std::int64_t kv = static_cast<std::int64_t>(a.kv_heads) * a.head_dim;
  b.add("model.embed_tokens.weight", {a.vocab, h});
  for (int i = 0; i < a.layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    b.add(p + "self_attn.q_proj.weight", {q, h});
    b.add(p + "self_attn.k_proj.weight", {kv, h});
    b.add(p + "self_attn.v_proj.weight", {kv, h});
    b.add(p + "self_attn.o_proj.weight", {h, q});
    if (a.family == ModelFamily::kQwen3) {
      b.add(p + "self_attn.q_norm.weight", {a.head_dim});
      b.add(p + "self_attn.k_norm.weight", {a.head_dim});
    }
    b.add(p + "mlp.gate_proj.weight", {f, h});
    b.add(p + "mlp.up_proj.weight", {f, h});
    b.add(p + "mlp.down_proj.weight", {h, f});
    b.add(p + "input_layernorm.weight", {h});
    b.add(p + "post_attention_layernorm.weight", {h});
  }
  b.add("model.norm.weight", {h});
  b.add("lm_head.weight", {a.vocab, h});
}

void falcon_layout(const ModelArch& a, Builder& b) {
  const std::int64_t h = a.hidden, f = a.ffn;
  const std::int64_t qkv = (static_cast<std::int64_t>(a.heads) + 2 * a.kv_heads) * a.head_dim;
  b.add("transformer.word_embeddings.weight", {a.vocab, h});
  for (int i = 0; i < a.layers; ++i) {
    const std::string p = "transformer.h." + std::to_string(i) + ".";
    if (a.norms_per_layer == 1) {
      b.add(p + "input_layernorm.weight", {h});
      b.add(p + "input_layernorm.bias", {h});
    } else {
      for (const char* ln : {"ln_attn", "ln_mlp"}) {
        b.add(p + ln + ".weight", {h});
        b.add(p + ln + ".bias", {h});
      }
    }
    b.add(p + "self_attention.query_key_value.weight", {qkv, h});
    b.add(p + "self_attention.dense.weight", {h, static_cast<std::int64_t>(a.heads) * a.head_dim});
    b.add(p + "mlp.dense_h_to_4h.weight", {f, h});
    b.add(p + "mlp.dense_4h_to_h.weight", {h, f});
  }
  b.add("transformer.ln_f.weight", {h});
  b.add("transformer.ln_f.bias", {h});
  b.alias("lm_head.weight", "transformer.word_embeddings.weight");
}

}  // namespace

std::vector<TensorSpec> tensor_layout(const ModelArch& arch) {
  Builder b(arch.dtype);
  switch (arch.family) {
    case ModelFamily::kOpt: opt_layout(arch, b); break;
    case ModelFamily::kLlama:
    case ModelFamily::kQwen3: llama_layout(arch, b); break;
    case ModelFamily::kFalcon: falcon_layout(arch, b); break;
  }
  return std::move(b.out);
}

}  // namespace sllm::models
