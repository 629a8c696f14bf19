// CPU reference backend: Eigen, fp32 arithmetic on weights converted once from fp16/bf16/f32.
// All tokens of a batch go through the linear layers as one matrix (rows = tokens of every chunk);
// attention runs per chunk and head over that slot's KV cache, causal within the chunk.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>

#include "engine_internal.h"
#include "sllm/core/error.h"

namespace sllm::models::detail {
namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowVec = Eigen::RowVectorXf;

RowMat load_matrix(const TensorSource& weights, const std::string& name, std::int64_t rows, std::int64_t cols) {
  const std::vector<float> data = host_to_float(require_tensor(weights, name, {rows, cols}));
  return Eigen::Map<const RowMat>(data.data(), rows, cols);
}

RowVec load_vector(const TensorSource& weights, const std::string& name, std::int64_t size) {
  const std::vector<float> data = host_to_float(require_tensor(weights, name, {size}));
  return Eigen::Map<const RowVec>(data.data(), size);
}

struct Linear {
  RowMat weight;  // [out, in], as stored by Hugging Face
  RowVec bias;    // empty when the layout has none

  void load(const TensorSource& w, const std::string& prefix, std::int64_t out, std::int64_t in, bool with_bias) {
    weight = load_matrix(w, prefix + ".weight", out, in);
    if (with_bias) bias = load_vector(w, prefix + ".bias", out);
  }
  RowMat apply(const RowMat& x) const {
    RowMat y(x.rows(), weight.rows());
    y.noalias() = x * weight.transpose();
    if (bias.size() > 0) y.rowwise() += bias;
    return y;
  }
};

struct Norm {
  RowVec weight, bias;  // bias empty for RMSNorm

  void apply_inplace(RowMat& x) const {
    for (Eigen::Index r = 0; r < x.rows(); ++r) {
      auto row = x.row(r);
      if (bias.size() > 0) {  // LayerNorm
        const float mean = row.mean();
        row.array() -= mean;
        const float var = row.squaredNorm() / static_cast<float>(row.size());
        row *= 1.0f / std::sqrt(var + static_cast<float>(kLayerNormEps));
        row = row.cwiseProduct(weight) + bias;
      } else {  // RMSNorm
        const float ms = row.squaredNorm() / static_cast<float>(row.size());
        row *= 1.0f / std::sqrt(ms + static_cast<float>(kRmsNormEps));
        row = row.cwiseProduct(weight);
      }
    }
  }
};

struct Layer {
  Norm attn_norm, mlp_norm;
  Linear q, k, v, o;
  Linear fc1, fc2;            // OPT
  Linear gate, up, down;      // LLaMA
};

class CpuEngine final : public Engine {
 public:
  CpuEngine(const ModelArch& arch, const TensorSource& w, const EngineConfig& config)
      : Engine(arch, Device{}, config) {
    const bool opt = arch.family == ModelFamily::kOpt;
    const std::int64_t h = arch.hidden, f = arch.ffn, q_dim = std::int64_t{arch.heads} * arch.head_dim;
    kv_dim_ = std::int64_t{arch.kv_heads} * arch.head_dim;
    const std::string base = opt ? "model.decoder." : "model.";
    embed_ = load_matrix(w, base + "embed_tokens.weight", arch.vocab, h);
    if (opt) positions_ = load_matrix(w, base + "embed_positions.weight", arch.max_positions + kOptPositionOffset, h);
    layers_.resize(static_cast<std::size_t>(arch.layers));
    for (int i = 0; i < arch.layers; ++i) {
      Layer& L = layers_[static_cast<std::size_t>(i)];
      const std::string p = base + "layers." + std::to_string(i) + ".";
      if (opt) {
        L.q.load(w, p + "self_attn.q_proj", q_dim, h, true);
        L.k.load(w, p + "self_attn.k_proj", kv_dim_, h, true);
        L.v.load(w, p + "self_attn.v_proj", kv_dim_, h, true);
        L.o.load(w, p + "self_attn.out_proj", h, q_dim, true);
        L.attn_norm = {load_vector(w, p + "self_attn_layer_norm.weight", h),
                       load_vector(w, p + "self_attn_layer_norm.bias", h)};
        L.mlp_norm = {load_vector(w, p + "final_layer_norm.weight", h), load_vector(w, p + "final_layer_norm.bias", h)};
        L.fc1.load(w, p + "fc1", f, h, true);
        L.fc2.load(w, p + "fc2", h, f, true);
      } else {
        L.q.load(w, p + "self_attn.q_proj", q_dim, h, false);
        L.k.load(w, p + "self_attn.k_proj", kv_dim_, h, false);
        L.v.load(w, p + "self_attn.v_proj", kv_dim_, h, false);
        L.o.load(w, p + "self_attn.o_proj", h, q_dim, false);
        L.attn_norm = {load_vector(w, p + "input_layernorm.weight", h), {}};
        L.mlp_norm = {load_vector(w, p + "post_attention_layernorm.weight", h), {}};
        L.gate.load(w, p + "mlp.gate_proj", f, h, false);
        L.up.load(w, p + "mlp.up_proj", f, h, false);
        L.down.load(w, p + "mlp.down_proj", h, f, false);
      }
    }
    if (opt) {
      final_norm_ = {load_vector(w, base + "final_layer_norm.weight", h), load_vector(w, base + "final_layer_norm.bias", h)};
      // lm_head is tied to the token embedding (the checkpoint stores an alias): reuse embed_.
    } else {
      final_norm_ = {load_vector(w, "model.norm.weight", h), {}};
      lm_head_ = load_matrix(w, "lm_head.weight", arch.vocab, h);
      // RoPE frequencies, Hugging Face's convention: dims i and i + d/2 rotate by pos * theta^(-2i/d)
      inv_freq_.resize(static_cast<std::size_t>(arch.head_dim / 2));
      for (std::size_t i = 0; i < inv_freq_.size(); ++i) {
        inv_freq_[i] = std::pow(arch.rope_theta, -2.0 * static_cast<double>(i) / arch.head_dim);
      }
    }
    const auto slots = static_cast<std::size_t>(config_.max_sequences);
    lengths_.assign(slots, 0);
    cache_k_.resize(slots * layers_.size());
    cache_v_.resize(slots * layers_.size());
    for (std::size_t i = 0; i < cache_k_.size(); ++i) {
      cache_k_[i].resize(config_.max_context, kv_dim_);
      cache_v_[i].resize(config_.max_context, kv_dim_);
    }
  }

  void reset(int slot) override { lengths_.at(static_cast<std::size_t>(slot)) = 0; }
  int context_length(int slot) const override { return lengths_.at(static_cast<std::size_t>(slot)); }

  std::vector<TokenId> forward(std::span<const SequenceChunk> chunks, std::vector<float>* last_logits) override {
    validate_chunks(*this, chunks, lengths_);
    const ModelArch& a = arch_;
    const bool opt = a.family == ModelFamily::kOpt;
    std::vector<Eigen::Index> first_row(chunks.size() + 1, 0);
    for (std::size_t c = 0; c < chunks.size(); ++c) {
      first_row[c + 1] = first_row[c] + static_cast<Eigen::Index>(chunks[c].tokens.size());
    }
    const Eigen::Index rows = first_row.back();
    std::vector<int> position(static_cast<std::size_t>(rows));
    RowMat x(rows, a.hidden);
    for (std::size_t c = 0; c < chunks.size(); ++c) {
      const int start = lengths_[static_cast<std::size_t>(chunks[c].slot)];
      for (std::size_t j = 0; j < chunks[c].tokens.size(); ++j) {
        const Eigen::Index r = first_row[c] + static_cast<Eigen::Index>(j);
        position[static_cast<std::size_t>(r)] = start + static_cast<int>(j);
        x.row(r) = embed_.row(chunks[c].tokens[j]);
        if (opt) x.row(r) += positions_.row(start + static_cast<int>(j) + kOptPositionOffset);
      }
    }

    if (!opt) rope_angles(position);  // the same rotations for q and k of every layer
    const float scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim));
    const int group = a.heads / a.kv_heads;
    for (std::size_t li = 0; li < layers_.size(); ++li) {
      const Layer& L = layers_[li];
      RowMat xn = x;
      L.attn_norm.apply_inplace(xn);
      RowMat q = L.q.apply(xn), k = L.k.apply(xn), v = L.v.apply(xn);
      if (!opt) {
        apply_rope(q, a.heads);
        apply_rope(k, a.kv_heads);
      }
      RowMat attn(rows, std::int64_t{a.heads} * a.head_dim);
      for (std::size_t c = 0; c < chunks.size(); ++c) {
        const auto slot = static_cast<std::size_t>(chunks[c].slot);
        RowMat& ck = cache_k_[slot * layers_.size() + li];
        RowMat& cv = cache_v_[slot * layers_.size() + li];
        const int start = lengths_[slot];
        const auto n = static_cast<Eigen::Index>(chunks[c].tokens.size());
        ck.middleRows(start, n) = k.middleRows(first_row[c], n);
        cv.middleRows(start, n) = v.middleRows(first_row[c], n);
        const Eigen::Index total = start + n;
        for (int hd = 0; hd < a.heads; ++hd) {
          const Eigen::Index qc = std::int64_t{hd} * a.head_dim, kc = std::int64_t{hd / group} * a.head_dim;
          RowMat scores = (q.block(first_row[c], qc, n, a.head_dim) *
                           ck.block(0, kc, total, a.head_dim).transpose()) * scale;
          for (Eigen::Index i = 0; i < n; ++i) {  // row i sees keys 0 .. start + i
            auto row = scores.row(i);
            const Eigen::Index visible = start + i + 1;
            const float max = row.head(visible).maxCoeff();
            row.head(visible) = (row.head(visible).array() - max).exp();
            row.head(visible) /= row.head(visible).sum();
            row.tail(total - visible).setZero();
          }
          attn.block(first_row[c], qc, n, a.head_dim).noalias() = scores * cv.block(0, kc, total, a.head_dim);
        }
      }
      x += L.o.apply(attn);
      xn = x;
      L.mlp_norm.apply_inplace(xn);
      if (opt) {
        x += L.fc2.apply(L.fc1.apply(xn).cwiseMax(0.0f));
      } else {
        const RowMat g = L.gate.apply(xn);
        RowMat u = L.up.apply(xn);
        u.array() *= g.array() / (1.0f + (-g.array()).exp());  // silu(gate) * up
        x += L.down.apply(u);
      }
    }
    for (const SequenceChunk& c : chunks) lengths_[static_cast<std::size_t>(c.slot)] += static_cast<int>(c.tokens.size());

    RowMat last(static_cast<Eigen::Index>(chunks.size()), a.hidden);
    for (std::size_t c = 0; c < chunks.size(); ++c) last.row(static_cast<Eigen::Index>(c)) = x.row(first_row[c + 1] - 1);
    final_norm_.apply_inplace(last);
    RowMat logits(last.rows(), a.vocab);
    logits.noalias() = last * (opt ? embed_ : lm_head_).transpose();
    std::vector<TokenId> next(chunks.size());
    for (Eigen::Index r = 0; r < logits.rows(); ++r) {
      Eigen::Index best = 0;
      logits.row(r).maxCoeff(&best);  // first index of the maximum
      next[static_cast<std::size_t>(r)] = static_cast<TokenId>(best);
    }
    if (last_logits != nullptr) last_logits->assign(logits.data(), logits.data() + logits.size());
    return next;
  }

 private:
  // cos and sin of every row's rotation angles, [rows, head_dim / 2].
  void rope_angles(const std::vector<int>& position) {
    const std::size_t half = inv_freq_.size();
    rope_cos_.resize(position.size() * half);
    rope_sin_.resize(position.size() * half);
    for (std::size_t r = 0; r < position.size(); ++r) {
      const double pos = position[r];
      for (std::size_t i = 0; i < half; ++i) {
        const double angle = pos * inv_freq_[i];
        rope_cos_[r * half + i] = static_cast<float>(std::cos(angle));
        rope_sin_[r * half + i] = static_cast<float>(std::sin(angle));
      }
    }
  }

  void apply_rope(RowMat& m, int heads) const {
    const int d = arch_.head_dim, half = d / 2;
    for (Eigen::Index r = 0; r < m.rows(); ++r) {
      for (int i = 0; i < half; ++i) {
        const std::size_t at = static_cast<std::size_t>(r) * static_cast<std::size_t>(half) + static_cast<std::size_t>(i);
        const float c = rope_cos_[at], s = rope_sin_[at];
        for (int hd = 0; hd < heads; ++hd) {
          float& x1 = m(r, hd * d + i);
          float& x2 = m(r, hd * d + i + half);
          const float a1 = x1, a2 = x2;
          x1 = a1 * c - a2 * s;
          x2 = a2 * c + a1 * s;
        }
      }
    }
  }

  std::int64_t kv_dim_ = 0;
  RowMat embed_, positions_, lm_head_;
  std::vector<Layer> layers_;
  Norm final_norm_;
  std::vector<double> inv_freq_;
  std::vector<float> rope_cos_, rope_sin_;  // this forward pass's rotations (rope_angles)
  std::vector<int> lengths_;
  std::vector<RowMat> cache_k_, cache_v_;  // [slot * layers + layer]: [max_context, kv_heads * head_dim]
};

}  // namespace

std::unique_ptr<Engine> create_cpu_engine(const ModelArch& arch, const TensorSource& weights,
                                          const EngineConfig& config) {
  return std::make_unique<CpuEngine>(arch, weights, config);
}

}  // namespace sllm::models::detail
