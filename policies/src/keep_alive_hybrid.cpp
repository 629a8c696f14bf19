// The hybrid histogram keep-alive policy of "Serverless in the Wild" (Shahrad et al., ATC 2020). Per
// model, a histogram of idle times (from an instance becoming idle to the model's next request) in
// 1-minute bins over a 4-hour range. When the histogram is representative, an instance that finishes
// serving is unloaded and the model pre-warmed (loaded again) after the pre-warm window, the head
// percentile (5th) of the idle times less a 10% margin, and then kept alive for the keep-alive window,
// the tail percentile (99th) plus a 10% margin, minus the pre-warm window. A zero pre-warm window keeps
// the instance loaded for the keep-alive window. Not representative (fewer than `min_samples` idle
// times, coefficient of variation of the bin counts below `cv_threshold`, or most idle times beyond the
// range): a fixed keep-alive (`fallback`, by default the histogram's range, as in the paper). The paper's
// ARIMA forecast for idle times beyond the range is not modelled (they count towards the fallback).
// On the simulator's hooks: keep_alive() returns 0 to unload at once and prewarm_delay() then gives the
// pre-warm window; the pre-warmed instance's first keep_alive() (no request in between) gets the window.
#include <cmath>
#include <optional>
#include <vector>

#include "sllm/sim/policy.h"

namespace sllm {
namespace {

class HybridHistogramKeepAlive final : public KeepAlivePolicy {
 public:
  explicit HybridHistogramKeepAlive(const ConfigNode& params)
      : bin_(params.get_duration("bin", "60 s")),
        range_(params.get_duration("range", "4 h")),
        head_(params.get_double("head_percentile", 5, 0, 100) / 100.0),
        tail_(params.get_double("tail_percentile", 99, 0, 100) / 100.0),
        margin_(params.get_double("margin", 0.1, 0, 1)),
        cv_threshold_(params.get_double("cv_threshold", 2, 0, 1e9)),
        min_samples_(static_cast<std::uint32_t>(params.get_int("min_samples", 10, 1, 1 << 30))),
        fallback_(params.get_duration("fallback", range_)) {  // default: the range (range_ is set first)
    if (bin_ <= 0) params.child("bin").fail("must be positive");
    if (range_ < bin_) params.child("range").fail("must be at least one bin");
    if (head_ > tail_) params.child("head_percentile").fail("must not exceed tail_percentile");
    bins_ = static_cast<std::size_t>(range_ / bin_);
  }

  void on_request(ModelId m, Nanos now) override {
    State& st = state(m);
    st.request_since_prewarm = true;
    st.prewarm_armed = -1;  // demand came back first: the planned pre-warm is moot
    if (st.idle_since < 0) return;  // not idle: no idle time to record
    const Nanos idle = now - st.idle_since;
    st.idle_since = -1;
    const auto bin = static_cast<std::size_t>(idle / bin_);
    if (bin < bins_) {
      ++st.counts[bin];
    } else {
      ++st.out_of_range;
    }
    ++st.samples;
  }

  // Called when an instance becomes idle: either one that served requests (plan from the histogram)
  // or one loaded by a pre-warm that nobody used yet (its keep-alive window).
  Nanos keep_alive(ModelId m, Nanos now) override {
    State& st = state(m);
    if (st.prewarmed && !st.request_since_prewarm) {
      st.prewarmed = false;
      return st.window;
    }
    st.prewarmed = false;
    st.idle_since = now;
    st.prewarm_armed = -1;
    if (!representative(st)) return fallback_;
    const Nanos head = percentile_bin(st, head_) * bin_;        // lower edge of the head bin
    const Nanos tail = (percentile_bin(st, tail_) + 1) * bin_;  // upper edge of the tail bin
    // Rounded to the nanosecond (floor/ceil would turn 780 s x 1.1 into 858 s + 1 ns).
    const Nanos prewarm = std::llround(static_cast<double>(head) * (1.0 - margin_));
    const Nanos until = std::llround(static_cast<double>(tail) * (1.0 + margin_));
    st.window = until - prewarm;
    if (prewarm == 0) return st.window;  // stay loaded through the keep-alive window
    st.prewarm_armed = prewarm;           // unload now, load again `prewarm` later
    return 0;
  }

  std::optional<Nanos> prewarm_delay(ModelId m, Nanos /*now*/) override {
    State& st = state(m);
    if (st.prewarm_armed < 0) return std::nullopt;
    const Nanos delay = st.prewarm_armed;
    st.prewarm_armed = -1;
    st.prewarmed = true;
    st.request_since_prewarm = false;
    return delay;
  }

 private:
  struct State {
    std::vector<std::uint32_t> counts;
    std::uint64_t samples = 0, out_of_range = 0;
    Nanos idle_since = -1;
    Nanos window = 0;            // keep-alive window of the current plan
    Nanos prewarm_armed = -1;    // >= 0: pre-warm this long after the instance unloads
    bool prewarmed = false;      // a pre-warm was asked for; its instance's first idle keeps `window`
    bool request_since_prewarm = false;
  };

  State& state(ModelId m) {
    if (m >= models_.size()) models_.resize(m + 1);
    State& st = models_[m];
    if (st.counts.empty()) st.counts.assign(bins_, 0);
    return st;
  }

  bool representative(const State& st) const {
    const std::uint64_t in_range = st.samples - st.out_of_range;
    if (st.samples < min_samples_ || 2 * st.out_of_range > st.samples || in_range == 0) return false;
    // Coefficient of variation of the bin counts: a flat histogram says nothing about the next idle time.
    const double mean = static_cast<double>(in_range) / static_cast<double>(bins_);
    double var = 0;
    for (std::uint32_t c : st.counts) var += (c - mean) * (c - mean);
    var /= static_cast<double>(bins_);
    return std::sqrt(var) / mean >= cv_threshold_;
  }

  // The bin holding the p-quantile of the in-range idle times (nearest rank).
  Nanos percentile_bin(const State& st, double p) const {
    const std::uint64_t in_range = st.samples - st.out_of_range;
    const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(in_range))));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < bins_; ++b) {
      seen += st.counts[b];
      if (seen >= rank) return static_cast<Nanos>(b);
    }
    return static_cast<Nanos>(bins_ - 1);
  }

  Nanos bin_, range_;
  double head_, tail_, margin_, cv_threshold_;
  std::uint32_t min_samples_;
  Nanos fallback_;
  std::size_t bins_ = 0;
  std::vector<State> models_;
};

std::unique_ptr<KeepAlivePolicy> make(const ConfigNode& params) {
  return std::make_unique<HybridHistogramKeepAlive>(params);
}

SLLM_REGISTER(KeepAlivePolicy, "hybrid-histogram",
              "Serverless in the Wild (ATC 2020): pre-warm and keep-alive windows from each model's idle-time "
              "histogram, fixed fallback",
              make);

}  // namespace
}  // namespace sllm
