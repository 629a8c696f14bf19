#include "sllm/traces/token_lengths.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "sllm/core/config_node.h"

namespace sllm::traces {
namespace {

// Inverse-CDF sampling from a table of quantiles at 0, 5, 10, ..., 100 %, interpolating linearly
// between neighbouring quantiles (so every value between the minimum and the maximum can occur).
using QuantileTable = std::array<double, 21>;

double sample_quantiles(const QuantileTable& q, double u) {
  const double pos = u * 20.0;
  const auto i = std::min<std::size_t>(static_cast<std::size_t>(pos), 19);
  const double frac = pos - static_cast<double>(i);
  return q[i] + (q[i + 1] - q[i]) * frac;
}

double mean_of_quantiles(const QuantileTable& q) {
  double sum = 0;  // mean of the piecewise-linear inverse CDF: trapezoids of width 1/20
  for (std::size_t i = 0; i < 20; ++i) sum += 0.5 * (q[i] + q[i + 1]) / 20.0;
  return sum;
}

std::uint32_t to_tokens(double x) { return static_cast<std::uint32_t>(std::max(1.0, std::round(x))); }

// GSM8K (Cobbe et al. 2021), test split, 1,319 problems: input = question, output = reference answer.
// Derived offline from ../shared/data/datasets/gsm8k/test.jsonl (never read at run time): each text was
// split into words and punctuation marks (regex \w+|[^\w\s]), a close stand-in for a BPE token count of
// this plain-English, number-heavy text (no tokenizer is available offline; real GPT-2/OPT BPE counts
// are similar or slightly higher). Quantiles at 0, 5, ..., 100 % (nearest rank):
//   question: mean 53.9, p50 51, p90 81, max 181;  answer: mean 101.2, p50 94, p90 159, max 304.
constexpr QuantileTable kGsm8kInput{19, 28, 32, 34, 36, 38, 41, 43, 46, 48, 51,
                                    53, 55, 58, 61, 64, 68, 74, 81, 94, 181};
constexpr QuantileTable kGsm8kOutput{25,  47,  53,  59,  65,  69,  74,  78,  84,  89, 94,
                                     100, 106, 112, 119, 125, 134, 145, 159, 176, 304};

class QuantileLengths final : public TokenLengthSampler {
 public:
  QuantileLengths(const QuantileTable& in, const QuantileTable& out) : in_(in), out_(out) {}
  TokenLengths sample(Rng& rng) const override {
    const double u_in = rng.uniform();
    const double u_out = rng.uniform();
    return {to_tokens(sample_quantiles(in_, u_in)), to_tokens(sample_quantiles(out_, u_out))};
  }
  double mean_input() const override { return mean_of_quantiles(in_); }
  double mean_output() const override { return mean_of_quantiles(out_); }

 private:
  QuantileTable in_, out_;
};

// ShareGPT conversations as used by the vLLM paper (Kwon et al., SOSP 2023, section 6.1 and Fig. 11):
// mean input 161.31 tokens and mean output 337.99 tokens (OPT tokenizer). The paper publishes histograms,
// not a closed form: we use independent log-normals with sigma 1.0 (a long right tail like the published
// histograms; an assumption), each clipped to [4, 1024] so that input + output fits the 2,048-token
// context of OPT models, with mu chosen so that the clipped distribution keeps the published mean.
class ShareGptLengths final : public TokenLengthSampler {
 public:
  ShareGptLengths() : mu_in_(solved_mus().first), mu_out_(solved_mus().second) {}
  TokenLengths sample(Rng& rng) const override {
    const double a = rng.normal();
    const double b = rng.normal();
    return {clip(std::exp(mu_in_ + kSigma * a)), clip(std::exp(mu_out_ + kSigma * b))};
  }
  double mean_input() const override { return clipped_mean(mu_in_); }
  double mean_output() const override { return clipped_mean(mu_out_); }

 private:
  static constexpr double kMeanInput = 161.31, kMeanOutput = 337.99, kSigma = 1.0;
  static constexpr double kMin = 4, kMax = 1024;
  static std::uint32_t clip(double x) { return to_tokens(std::clamp(x, kMin, kMax)); }
  // E[clamp(exp(mu + sigma Z))] by midpoint integration over Z (deterministic, accurate to ~1e-6).
  static double clipped_mean(double mu) {
    const int n = 4000;
    double sum = 0, weight = 0;
    for (int i = 0; i < n; ++i) {
      const double z = -8.0 + 16.0 * (i + 0.5) / n;
      const double pdf = std::exp(-0.5 * z * z);
      sum += pdf * std::clamp(std::exp(mu + kSigma * z), kMin, kMax);
      weight += pdf;
    }
    return sum / weight;
  }
  // The clipped mean grows with mu: bisection.
  static double solve_mu(double target) {
    double lo = std::log(kMin), hi = std::log(kMax);
    for (int i = 0; i < 60; ++i) {
      const double mid = 0.5 * (lo + hi);
      (clipped_mean(mid) < target ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
  }
  // The bisections cost about half a million exp() calls and depend only on constants: solved once per
  // process, not per sampler (every config naming the preset builds one).
  static const std::pair<double, double>& solved_mus() {
    static const std::pair<double, double> mus{solve_mu(kMeanInput), solve_mu(kMeanOutput)};
    return mus;
  }
  double mu_in_, mu_out_;
};

class FixedLengths final : public TokenLengthSampler {
 public:
  FixedLengths(std::uint32_t in, std::uint32_t out) : in_(in), out_(out) {}
  TokenLengths sample(Rng&) const override { return {in_, out_}; }
  double mean_input() const override { return in_; }
  double mean_output() const override { return out_; }

 private:
  std::uint32_t in_, out_;
};

class UniformLengths final : public TokenLengthSampler {
 public:
  UniformLengths(std::uint32_t in_lo, std::uint32_t in_hi, std::uint32_t out_lo, std::uint32_t out_hi)
      : in_lo_(in_lo), in_hi_(in_hi), out_lo_(out_lo), out_hi_(out_hi) {}
  TokenLengths sample(Rng& rng) const override {
    const auto in = static_cast<std::uint32_t>(rng.uniform_int(in_lo_, in_hi_));
    const auto out = static_cast<std::uint32_t>(rng.uniform_int(out_lo_, out_hi_));
    return {in, out};
  }
  double mean_input() const override { return 0.5 * (in_lo_ + in_hi_); }
  double mean_output() const override { return 0.5 * (out_lo_ + out_hi_); }

 private:
  std::uint32_t in_lo_, in_hi_, out_lo_, out_hi_;
};

constexpr std::int64_t kMaxTokens = 1 << 20;

std::pair<std::uint32_t, std::uint32_t> read_range(const ConfigNode& node) {
  const auto elems = node.elements();
  if (elems.size() != 2) node.fail("expected a range [low, high]");
  const auto lo = elems[0].as_int(1, kMaxTokens);
  const auto hi = elems[1].as_int(1, kMaxTokens);
  if (hi < lo) node.fail("range [low, high] has high < low");
  return {static_cast<std::uint32_t>(lo), static_cast<std::uint32_t>(hi)};
}

}  // namespace

std::vector<std::string> token_length_preset_names() { return {"gsm8k", "sharegpt"}; }

std::unique_ptr<TokenLengthSampler> token_length_preset(std::string_view name) {
  if (name == "gsm8k") return std::make_unique<QuantileLengths>(kGsm8kInput, kGsm8kOutput);
  if (name == "sharegpt") return std::make_unique<ShareGptLengths>();
  return nullptr;
}

std::unique_ptr<TokenLengthSampler> make_token_lengths(const ConfigNode& node) {
  if (!node.is_map()) {
    const std::string name = node.as_enum({"gsm8k", "sharegpt"});
    return token_length_preset(name);
  }
  const std::string kind = node.get_enum("kind", {"gsm8k", "sharegpt", "fixed", "uniform"});
  std::unique_ptr<TokenLengthSampler> out;
  if (kind == "fixed") {
    out = std::make_unique<FixedLengths>(static_cast<std::uint32_t>(node.get_int("input", {}, 1, kMaxTokens)),
                                         static_cast<std::uint32_t>(node.get_int("output", {}, 1, kMaxTokens)));
  } else if (kind == "uniform") {
    const auto in = read_range(node.child("input"));
    const auto out_range = read_range(node.child("output"));
    out = std::make_unique<UniformLengths>(in.first, in.second, out_range.first, out_range.second);
  } else {
    out = token_length_preset(kind);
  }
  node.finish();
  return out;
}

}  // namespace sllm::traces
