// Synthetic workloads: N deployed models with a popularity distribution, a total request rate, Gamma
// inter-arrival times with a given coefficient of variation (CV 1 = Poisson; the paper uses CV 8 for
// bursty, Azure-Functions-like arrivals), and token lengths from token_lengths.h. All seeded.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "sllm/core/random.h"
#include "sllm/core/units.h"
#include "sllm/core/request.h"
#include "sllm/traces/token_lengths.h"

namespace sllm {
class ConfigNode;
}

namespace sllm::traces {

enum class Popularity { kUniform, kZipf };

struct SyntheticSpec {
  std::uint32_t models = 1;
  double rps = 1.0;              // total over all models
  double cv = 1.0;               // of inter-arrival times
  Popularity popularity = Popularity::kUniform;
  double zipf_s = 1.0;           // P(model k) ~ 1 / (k+1)^s, k = 0 is the most popular
  std::uint64_t max_requests = 0;  // 0: no limit (then `duration` must be set)
  Nanos duration = 0;              // 0: no limit
  std::shared_ptr<const TokenLengthSampler> lengths;
  std::uint64_t seed = 1;
};

// Reads a `workload` section of kind synthetic (the caller has read `kind`):
//   requests: 5000, duration: "1 h" (at least one), rps: 2.0, cv: 8,
//   popularity: uniform | {kind: zipf, s: 1.1}, lengths: gsm8k | {...} (see token_lengths.h).
// Calls finish() on the section.
SyntheticSpec parse_synthetic(const ConfigNode& workload, std::uint32_t model_count, std::uint64_t seed);

class SyntheticSource final : public RequestSource {
 public:
  explicit SyntheticSource(SyntheticSpec spec);
  bool next(RequestSpec& out) override;

 private:
  std::uint32_t pick_model();

  SyntheticSpec spec_;
  std::vector<double> cdf_;  // popularity CDF over models (empty for uniform)
  Rng arrivals_, models_, lengths_;
  double clock_s_ = 0;       // exact running sum; rounded to ns per request
  std::uint64_t produced_ = 0;
};

// A fixed list of requests (tests, small hand-written scenarios). Sorts by arrival (stable) and
// renumbers ids densely.
class ListSource final : public RequestSource {
 public:
  explicit ListSource(std::vector<RequestSpec> requests);
  bool next(RequestSpec& out) override;

 private:
  std::vector<RequestSpec> requests_;
  std::size_t pos_ = 0;
};

}  // namespace sllm::traces
