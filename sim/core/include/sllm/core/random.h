// Seeded random numbers for the simulator and workloads. std:: distributions are implementation-defined,
// so every sampler here is written out: the same seed gives the same numbers with any standard library.
#pragma once

#include <cmath>
#include <cstdint>

namespace sllm {

// Stafford's "Mix13" 64-bit finaliser, as in splitmix64: every input bit affects every output bit.
constexpr std::uint64_t splitmix64_finaliser(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// splitmix64: turns one seed (or a seed plus a stream number) into well-mixed 64-bit values.
constexpr std::uint64_t splitmix64(std::uint64_t& state) { return splitmix64_finaliser(state += 0x9e3779b97f4a7c15ull); }

// xoshiro256** (Blackman and Vigna): small, fast, statistically strong; state seeded by splitmix64.
class Rng {
 public:
  // `stream` separates independent sequences drawn from one user seed (arrivals, models, lengths, ...).
  explicit Rng(std::uint64_t seed, std::uint64_t stream = 0) {
    std::uint64_t sm = seed ^ (stream * 0xd1b54a32d192ed03ull);
    for (auto& w : s_) w = splitmix64(sm);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform in (0, 1]: safe to take the logarithm of.
  double uniform_pos() { return static_cast<double>((next() >> 11) + 1) * 0x1.0p-53; }
  // Uniform integer in [lo, hi] (inclusive); exact for ranges below 2^53, which is all we draw.
  std::uint64_t uniform_int(std::uint64_t lo, std::uint64_t hi) {
    const double span = static_cast<double>(hi - lo) + 1.0;
    const auto k = static_cast<std::uint64_t>(uniform() * span);
    return lo + (k > hi - lo ? hi - lo : k);
  }
  double exponential(double mean) { return -mean * std::log(uniform_pos()); }
  // Standard normal by the Marsaglia polar method (no cached second value, so the stream stays simple).
  double normal() {
    for (;;) {
      const double u = 2.0 * uniform() - 1.0;
      const double v = 2.0 * uniform() - 1.0;
      const double s = u * u + v * v;
      if (s > 0.0 && s < 1.0) return u * std::sqrt(-2.0 * std::log(s) / s);
    }
  }
  // Gamma(shape, scale) by Marsaglia and Tsang (2000); shape < 1 uses Gamma(shape + 1) * U^(1/shape).
  double gamma(double shape, double scale) {
    if (shape < 1.0) {
      const double boost = std::pow(uniform_pos(), 1.0 / shape);
      return gamma(shape + 1.0, scale) * boost;
    }
    const double d = shape - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x = 0, v = 0;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0.0);
      v = v * v * v;
      const double u = uniform_pos();
      if (u < 1.0 - 0.0331 * x * x * x * x) return d * v * scale;
      if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v * scale;
    }
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace sllm
