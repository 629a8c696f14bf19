// Streaming statistics of a request stream for `sllmsim trace inspect`: counts, duration, rate,
// burstiness and token-length percentiles in constant memory.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "sllm/core/units.h"
#include "sllm/core/request.h"

namespace sllm::traces {

// Histogram of 32-bit values in fixed memory (about 190 KiB): exact below 2048; above, buckets of relative
// width 2^-10, so a reported percentile is the lower edge of its bucket, at most 0.1% below the true
// value. Percentiles are nearest-rank (the smallest value with at least p of the counts at or below it).
class LengthHistogram {
 public:
  LengthHistogram();
  void add(std::uint32_t value);
  std::uint64_t count() const { return count_; }
  std::uint32_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_); }
  std::uint32_t percentile(double p) const;  // p in [0, 1]; 0 when empty

 private:
  static constexpr int kSubBits = 10;  // 1024 sub-buckets per power of two
  static std::size_t bucket_of(std::uint32_t v);
  static std::uint32_t lower_edge(std::size_t bucket);
  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0, sum_ = 0;
  std::uint32_t max_ = 0;
};

struct TraceSummary {
  std::uint64_t requests = 0;
  Nanos first_arrival = 0, last_arrival = 0;
  double duration_s = 0;         // last - first arrival
  double mean_rate = 0;          // requests per second: (requests - 1) / duration
  double interarrival_cv = 0;    // standard deviation / mean of the gaps (1 for Poisson); 0 with < 3 requests
  std::uint32_t models = 0;      // distinct model indices
};

class TraceStatistics {
 public:
  void add(const RequestSpec& r);
  TraceSummary summary() const;
  const LengthHistogram& input_tokens() const { return input_; }
  const LengthHistogram& output_tokens() const { return output_; }
  const std::vector<std::uint64_t>& requests_per_model() const { return per_model_; }

 private:
  std::uint64_t n_ = 0;
  Nanos first_ = 0, last_ = 0;
  // Welford's running mean and variance of the n_ - 1 inter-arrival gaps (seconds), numerically stable.
  double gap_mean_ = 0, gap_m2_ = 0;
  LengthHistogram input_, output_;
  std::vector<std::uint64_t> per_model_;  // grows to the largest model index seen
};

}  // namespace sllm::traces
