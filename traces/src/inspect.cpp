#include "sllm/traces/inspect.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sllm::traces {

namespace {
constexpr std::size_t kExactBelow = std::size_t{2} << 10;  // 2048: values below map to themselves
}

LengthHistogram::LengthHistogram() : buckets_(bucket_of(UINT32_MAX) + 1, 0) {}

// Values below 2048 have their own bucket. A larger value with highest bit h (h >= 11) falls in octave
// h - 10, split into 1024 buckets by the 10 bits after the highest one.
std::size_t LengthHistogram::bucket_of(std::uint32_t v) {
  if (v < kExactBelow) return v;
  const int h = std::bit_width(v) - 1;
  const std::size_t sub = (v >> (h - kSubBits)) & ((std::size_t{1} << kSubBits) - 1);
  return kExactBelow + static_cast<std::size_t>(h - 11) * (std::size_t{1} << kSubBits) + sub;
}

std::uint32_t LengthHistogram::lower_edge(std::size_t bucket) {
  if (bucket < kExactBelow) return static_cast<std::uint32_t>(bucket);
  const std::size_t rel = bucket - kExactBelow;
  const int h = static_cast<int>(rel >> kSubBits) + 11;
  const std::uint64_t sub = rel & ((std::size_t{1} << kSubBits) - 1);
  return static_cast<std::uint32_t>((std::uint64_t{1} << h) | (sub << (h - kSubBits)));
}

void LengthHistogram::add(std::uint32_t v) {
  ++buckets_[bucket_of(v)];
  ++count_;
  sum_ += v;
  max_ = std::max(max_, v);
}

std::uint32_t LengthHistogram::percentile(double p) const {
  if (count_ == 0) return 0;
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    seen += buckets_[b];
    if (seen >= rank) return std::min(lower_edge(b), max_);
  }
  return max_;
}

void TraceStatistics::add(const RequestSpec& r) {
  if (n_ == 0) {
    first_ = r.arrival;
  } else {
    const double gap = to_seconds(r.arrival - last_);
    const double delta = gap - gap_mean_;
    gap_mean_ += delta / static_cast<double>(n_);  // n_ gaps with this one
    gap_m2_ += delta * (gap - gap_mean_);
  }
  last_ = r.arrival;
  ++n_;
  input_.add(r.input_tokens);
  output_.add(r.output_tokens);
  if (r.model >= per_model_.size()) per_model_.resize(std::size_t{r.model} + 1, 0);
  ++per_model_[r.model];
}

TraceSummary TraceStatistics::summary() const {
  TraceSummary s;
  s.requests = n_;
  s.first_arrival = first_;
  s.last_arrival = last_;
  s.duration_s = to_seconds(last_ - first_);
  s.mean_rate = s.duration_s > 0 ? static_cast<double>(n_ - 1) / s.duration_s : 0.0;
  if (n_ >= 3 && gap_mean_ > 0) {
    s.interarrival_cv = std::sqrt(gap_m2_ / static_cast<double>(n_ - 1)) / gap_mean_;
  }
  s.models = static_cast<std::uint32_t>(std::count_if(per_model_.begin(), per_model_.end(),
                                                      [](std::uint64_t c) { return c > 0; }));
  return s;
}

}  // namespace sllm::traces
