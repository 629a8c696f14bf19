// The CPU engine against a plain reference written here from the Hugging Face formulas (naive loops,
// double precision, own fp16 decoding), for the OPT and LLaMA layouts of the tiny catalog models.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "sllm/models/engine.h"
#include "sllm/core/error.h"
#include "sllm/core/model_arch.h"

namespace {

using sllm::ModelArch;
using sllm::ModelCatalog;
using sllm::ModelFamily;
using sllm::models::Engine;
using sllm::models::RandomWeights;
using sllm::models::SequenceChunk;
using sllm::models::TensorSource;
using sllm::models::TokenId;
using Mat = std::vector<std::vector<double>>;

double decode_half(std::uint16_t h) {  // IEEE binary16, written independently of the engine's converter
  const int sign = (h >> 15) ? -1 : 1, exp = (h >> 10) & 31, mant = h & 1023;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  return sign * std::ldexp(1024 + mant, exp - 25);
}

Mat tensor(const TensorSource& w, const std::string& name) {
  const auto* v = w.find(name);
  EXPECT_NE(v, nullptr) << name;
  const std::int64_t rows = v->shape.size() == 2 ? v->shape[0] : 1, cols = v->shape.back();
  Mat m(static_cast<std::size_t>(rows), std::vector<double>(static_cast<std::size_t>(cols)));
  const auto* raw = static_cast<const std::uint16_t*>(v->data);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) m[r][c] = decode_half(raw[r * cols + c]);
  }
  return m;
}

std::vector<double> linear(const std::vector<double>& x, const Mat& w, const Mat* bias) {
  std::vector<double> y(w.size());
  for (std::size_t o = 0; o < w.size(); ++o) {
    double s = bias ? (*bias)[0][o] : 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) s += w[o][i] * x[i];
    y[o] = s;
  }
  return y;
}

std::vector<double> layer_norm(const std::vector<double>& x, const Mat& g, const Mat& b) {
  double mean = 0, var = 0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  for (double v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(x.size());
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - mean) / std::sqrt(var + 1e-5) * g[0][i] + b[0][i];
  return y;
}

std::vector<double> rms_norm(const std::vector<double>& x, const Mat& g) {
  double ms = 0;
  for (double v : x) ms += v * v;
  ms /= static_cast<double>(x.size());
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] / std::sqrt(ms + 1e-5) * g[0][i];
  return y;
}

// rotate_half convention: q' = q cos + rotate_half(q) sin, rotate_half([a, b]) = [-b, a].
void rope(std::vector<double>& v, int heads, int d, int pos, double theta) {
  for (int h = 0; h < heads; ++h) {
    std::vector<double> orig(v.begin() + h * d, v.begin() + (h + 1) * d);
    for (int i = 0; i < d; ++i) {
      const int j = i % (d / 2);
      const double angle = pos / std::pow(theta, 2.0 * j / d);
      const double rot = i < d / 2 ? -orig[i + d / 2] : orig[i - d / 2];
      v[h * d + i] = orig[i] * std::cos(angle) + rot * std::sin(angle);
    }
  }
}

// Logits of every position of `tokens` (the whole sequence from position 0).
Mat reference_logits(const ModelArch& a, const TensorSource& w, const std::vector<TokenId>& tokens) {
  const bool opt = a.family == ModelFamily::kOpt;
  const std::string base = opt ? "model.decoder." : "model.";
  const Mat embed = tensor(w, base + "embed_tokens.weight");
  const std::size_t n = tokens.size();
  Mat x(n);
  for (std::size_t t = 0; t < n; ++t) {
    x[t] = embed[static_cast<std::size_t>(tokens[t])];
    if (opt) {
      const Mat pos = tensor(w, base + "embed_positions.weight");
      for (int i = 0; i < a.hidden; ++i) x[t][i] += pos[t + 2][i];
    }
  }
  const int d = a.head_dim, group = a.heads / a.kv_heads;
  for (int l = 0; l < a.layers; ++l) {
    const std::string p = base + "layers." + std::to_string(l) + ".";
    auto W = [&](const std::string& s) { return tensor(w, p + s); };
    Mat q(n), k(n), v(n);
    const Mat wq = W("self_attn.q_proj.weight"), wk = W("self_attn.k_proj.weight"), wv = W("self_attn.v_proj.weight");
    Mat bq, bk, bv, g1, b1;
    if (opt) {
      bq = W("self_attn.q_proj.bias"), bk = W("self_attn.k_proj.bias"), bv = W("self_attn.v_proj.bias");
      g1 = W("self_attn_layer_norm.weight"), b1 = W("self_attn_layer_norm.bias");
    } else {
      g1 = W("input_layernorm.weight");
    }
    for (std::size_t t = 0; t < n; ++t) {
      const std::vector<double> h = opt ? layer_norm(x[t], g1, b1) : rms_norm(x[t], g1);
      q[t] = linear(h, wq, opt ? &bq : nullptr);
      k[t] = linear(h, wk, opt ? &bk : nullptr);
      v[t] = linear(h, wv, opt ? &bv : nullptr);
      if (!opt) {
        rope(q[t], a.heads, d, static_cast<int>(t), a.rope_theta);
        rope(k[t], a.kv_heads, d, static_cast<int>(t), a.rope_theta);
      }
    }
    const Mat wo = W(opt ? "self_attn.out_proj.weight" : "self_attn.o_proj.weight");
    Mat bo;
    if (opt) bo = W("self_attn.out_proj.bias");
    for (std::size_t t = 0; t < n; ++t) {
      std::vector<double> attn(static_cast<std::size_t>(a.heads * d), 0.0);
      for (int h = 0; h < a.heads; ++h) {
        const int kh = h / group;
        std::vector<double> s(t + 1);
        double mx = -1e300;
        for (std::size_t j = 0; j <= t; ++j) {
          double dot = 0;
          for (int i = 0; i < d; ++i) dot += q[t][h * d + i] * k[j][kh * d + i];
          s[j] = dot / std::sqrt(static_cast<double>(d));
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (std::size_t j = 0; j <= t; ++j) {
          for (int i = 0; i < d; ++i) attn[h * d + i] += s[j] / sum * v[j][kh * d + i];
        }
      }
      const std::vector<double> o = linear(attn, wo, opt ? &bo : nullptr);
      for (int i = 0; i < a.hidden; ++i) x[t][i] += o[i];
    }
    for (std::size_t t = 0; t < n; ++t) {
      std::vector<double> out;
      if (opt) {
        const std::vector<double> h = layer_norm(x[t], W("final_layer_norm.weight"), W("final_layer_norm.bias"));
        const Mat b_fc1 = W("fc1.bias"), b_fc2 = W("fc2.bias");
        std::vector<double> f = linear(h, W("fc1.weight"), &b_fc1);
        for (double& e : f) e = std::max(e, 0.0);
        out = linear(f, W("fc2.weight"), &b_fc2);
      } else {
        const std::vector<double> h = rms_norm(x[t], W("post_attention_layernorm.weight"));
        std::vector<double> g = linear(h, W("mlp.gate_proj.weight"), nullptr);
        const std::vector<double> u = linear(h, W("mlp.up_proj.weight"), nullptr);
        for (std::size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
        out = linear(g, W("mlp.down_proj.weight"), nullptr);
      }
      for (int i = 0; i < a.hidden; ++i) x[t][i] += out[i];
    }
  }
  Mat logits(n);
  const Mat head = opt ? embed : tensor(w, "lm_head.weight");
  for (std::size_t t = 0; t < n; ++t) {
    const std::vector<double> h = opt ? layer_norm(x[t], tensor(w, base + "final_layer_norm.weight"),
                                                   tensor(w, base + "final_layer_norm.bias"))
                                      : rms_norm(x[t], tensor(w, "model.norm.weight"));
    logits[t] = linear(h, head, nullptr);
  }
  return logits;
}

double relative_error(const std::vector<float>& got, std::size_t offset, const std::vector<double>& want) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    diff += (got[offset + i] - want[i]) * (got[offset + i] - want[i]);
    norm += want[i] * want[i];
  }
  return std::sqrt(diff / norm);
}

std::size_t argmax(const std::vector<double>& v) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < v.size(); ++i) if (v[i] > v[best]) best = i;
  return best;
}

class EngineCpuTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineCpuTest, PrefillAndDecodeMatchReference) {
  const ModelArch& arch = ModelCatalog::builtin().get(GetParam(), "test");
  const RandomWeights weights(arch, 7);
  auto engine = Engine::create(arch, weights, {}, {.max_sequences = 2, .max_context = 64});
  std::vector<TokenId> seq = sllm::models::random_tokens(3, 6, arch.vocab);
  std::vector<float> logits;
  SequenceChunk chunk{0, seq};
  TokenId next = engine->forward({&chunk, 1}, &logits).front();
  for (int step = 0; step < 4; ++step) {
    const Mat ref = reference_logits(arch, weights, seq);
    ASSERT_EQ(logits.size(), static_cast<std::size_t>(arch.vocab));
    EXPECT_LT(relative_error(logits, 0, ref.back()), 1e-4) << "step " << step;
    EXPECT_EQ(static_cast<std::size_t>(next), argmax(ref.back())) << "step " << step;
    seq.push_back(next);
    const TokenId last = seq.back();
    chunk.tokens = {&last, 1};
    next = engine->forward({&chunk, 1}, &logits).front();
  }
  EXPECT_EQ(engine->context_length(0), static_cast<int>(seq.size()));
}

TEST_P(EngineCpuTest, MixedBatchAndChunkedPrefillMatchReference) {
  const ModelArch& arch = ModelCatalog::builtin().get(GetParam(), "test");
  const RandomWeights weights(arch, 11);
  auto engine = Engine::create(arch, weights, {}, {.max_sequences = 3, .max_context = 64});
  const std::vector<TokenId> a = sllm::models::random_tokens(1, 9, arch.vocab);
  const std::vector<TokenId> b = sllm::models::random_tokens(2, 4, arch.vocab);
  // Slot 0 gets a's first 5 tokens, then in one batch its last 4 (a recompute chunk) next to b's prefill.
  std::vector<float> logits;
  SequenceChunk first{0, std::span(a).first(5)};
  engine->forward({&first, 1});
  const SequenceChunk batch[] = {{0, std::span(a).subspan(5)}, {2, b}};
  engine->forward(batch, &logits);
  EXPECT_LT(relative_error(logits, 0, reference_logits(arch, weights, a).back()), 1e-4);
  EXPECT_LT(relative_error(logits, static_cast<std::size_t>(arch.vocab), reference_logits(arch, weights, b).back()), 1e-4);
  EXPECT_EQ(engine->context_length(0), 9);
  EXPECT_EQ(engine->context_length(1), 0);
  EXPECT_EQ(engine->context_length(2), 4);
}

INSTANTIATE_TEST_SUITE_P(Layouts, EngineCpuTest, ::testing::Values("tiny-opt", "tiny-llama"));

TEST(EngineCpu, RejectsBadArguments) {
  const ModelArch& arch = ModelCatalog::builtin().get("tiny-llama", "test");
  const RandomWeights weights(arch, 1);
  auto engine = Engine::create(arch, weights, {}, {.max_sequences = 1, .max_context = 8});
  const std::vector<TokenId> nine(9, 1), bad{arch.vocab};
  SequenceChunk c{0, nine};
  EXPECT_THROW(engine->forward({&c, 1}), sllm::InputError);  // longer than max_context
  c.tokens = bad;
  EXPECT_THROW(engine->forward({&c, 1}), sllm::InputError);  // outside the vocabulary
  c = {1, nine};
  EXPECT_THROW(engine->forward({&c, 1}), sllm::InputError);  // no such slot
  const ModelArch& qwen = ModelCatalog::builtin().get("qwen3-32b", "test");
  EXPECT_THROW(Engine::create(qwen, weights, {}, {}), sllm::InputError);
  ModelArch wider = arch;
  wider.hidden = 128;  // shapes no longer match the tensors
  EXPECT_THROW(Engine::create(wider, weights, {}, {}), sllm::InputError);
}

TEST(EngineCpu, HalfConversionRoundTrips) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const auto half = static_cast<std::uint16_t>(h);
    if ((half & 0x7c00) == 0x7c00) continue;  // inf and NaN
    EXPECT_EQ(sllm::models::float_to_half(static_cast<float>(decode_half(half))), half);
    ASSERT_EQ(sllm::models::half_to_float(half), static_cast<float>(decode_half(half)));
  }
  EXPECT_EQ(sllm::models::float_to_half(1.0f + 1.0f / 4096), 0x3c00);  // tie rounds to even
  EXPECT_EQ(sllm::models::float_to_half(70000.0f), 0x7c00);
}

}  // namespace
