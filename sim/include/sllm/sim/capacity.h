// Capacity planning: the smallest value of one integer config axis (servers, GPUs per server, any
// integer key) at which a scenario meets SLO targets, e.g. "how many servers for p99 TTFT <= 10 s".
// Each value tried runs the same N seeds (common random numbers) as a sweep (sllm/sim/sweep.h), so
// points run in parallel, resume, and re-run when made by another build. docs/capacity.md explains
// the search and the statistics.
//
// Output directory:
//   capacity.csv    every point tried (value, seed, each target's metric, met) and per value its mean,
//                   bound and verdict
//   capacity.json   the answer, the targets and every value tried
//   runs/           the sweep directory of the points (points/<key>/ as a sweep writes them)
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sllm {

// "METRIC<=VALUE" or "METRIC>=VALUE"; METRIC is a numeric results.csv metric of sllm/sim/metrics.h
// (its column or its summary.json path).
struct CapacityTarget {
  std::string text;     // as given
  std::string metric;   // as given
  std::string column;   // the metric's results.csv column
  bool at_most = true;  // <= (false: >=)
  double threshold = 0;
  // Throws InputError for a malformed target, an unknown metric or one without a numeric column.
  static CapacityTarget parse(std::string_view text);
};

// Verdict of one target over a value's seeds at confidence c: the one-sided Student-t bound of the
// mean, mean + t(c, n-1) s / sqrt(n) for <= (the upper bound), mean - t(c, n-1) s / sqrt(n) for >=,
// must lie on the target's side of the threshold (inclusive). With one sample the bound is the sample.
// A NaN sample makes the bound NaN, which never meets.
struct TargetVerdict {
  double mean = 0;
  double bound = 0;
  bool met = false;
};
TargetVerdict judge_target(const CapacityTarget& target, std::span<const double> samples, double confidence);

struct CapacitySpec {
  std::string config;                  // scenario YAML
  std::vector<std::string> overrides;  // "key.path=value", applied at every value
  std::string axis;                    // integer config key searched, e.g. cluster.servers[0].count
  std::int64_t min = 1, max = 1;       // inclusive range of the axis
  std::vector<CapacityTarget> targets;  // all must be met
  unsigned seeds = 1;
  double confidence = 0.95;
  // Throws InputError for bad bounds, no targets, zero seeds, a confidence outside (0, 1), an axis also
  // given in `overrides`, or a config that does not load at `min`.
  void validate() const;
};

struct CapacityOptions {
  std::string output_dir;
  unsigned jobs = 1;
  std::ostream* log = nullptr;  // one line per value tried
};

struct CapacityValue {
  std::int64_t value = 0;
  std::size_t step = 0;                  // 1-based order in which the value was tried
  std::vector<std::uint64_t> seeds;      // the points' seeds (the same for every value)
  std::vector<std::vector<double>> samples;  // [seed][target]
  std::vector<TargetVerdict> verdicts;   // [target]
  bool met = false;                      // every target met
};

struct CapacityResult {
  std::optional<std::int64_t> answer;  // empty: even max does not meet the targets
  std::vector<CapacityValue> tried;    // in the order tried
  // Pairs (a, b) with a < b among the values tried where a meets and b does not: the metric is not
  // monotone in the axis there, and the answer is only the smallest value the search saw meeting with
  // its lower neighbour failing.
  std::vector<std::pair<std::int64_t, std::int64_t>> non_monotone;
};

// Evaluates the targets at each of `values` (one sweep of values x seeds under options.output_dir/runs).
std::vector<CapacityValue> evaluate_capacity(const CapacitySpec& spec, const std::vector<std::int64_t>& values,
                                             const CapacityOptions& options);

// The search: galloping from min (min, min+1, min+3, min+7, ..., capped at max) until a value meets the
// targets, bisection between the last failing and the first meeting value, then a check of the
// answer's upper neighbour (answer+1 when within max and not yet tried) to expose non-monotone metrics.
// The answer meets; answer-1 (when >= min) was tried and fails. When the metric is monotone in the axis
// this is the smallest meeting value in [min, max]. Writes capacity.csv and capacity.json.
CapacityResult find_capacity(const CapacitySpec& spec, const CapacityOptions& options);

}  // namespace sllm
