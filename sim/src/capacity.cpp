#include "sllm/sim/capacity.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <stdexcept>

#include <boost/math/distributions/students_t.hpp>

#include "sllm/core/build_info.h"
#include "sllm/core/error.h"
#include "sllm/core/files.h"
#include "sllm/sim/metrics.h"
#include "sllm/sim/scenario.h"
#include "sllm/sim/sweep.h"

namespace sllm {
namespace fs = std::filesystem;
namespace {

// The seed index of a point: a label (not an override) that alone derives the point's seed, so every
// value of the axis runs the same seeds.
constexpr const char* kSeedLabel = "label.seed";

std::string json_real(double v) { return std::isfinite(v) ? csv_real(v) : "null"; }

// simulation.seed of the scenario with the overrides (and validates the config at `value`).
std::uint64_t base_seed(const CapacitySpec& spec, std::int64_t value) {
  std::vector<std::string> overrides = spec.overrides;
  overrides.push_back(spec.axis + "=" + std::to_string(value));
  return Scenario::load(spec.config, overrides).simulation.seed;
}

std::vector<CapacityValue> evaluate(const CapacitySpec& spec, std::uint64_t seed,
                                    const std::vector<std::int64_t>& values, const CapacityOptions& options,
                                    std::size_t first_step) {
  std::vector<std::vector<std::pair<std::string, std::string>>> params;
  for (const std::int64_t v : values) {
    for (unsigned s = 1; s <= spec.seeds; ++s) {
      params.push_back({{spec.axis, std::to_string(v)}, {kSeedLabel, std::to_string(s)}});
    }
  }
  const SweepSpec sweep = SweepSpec::of_points(spec.config, seed, {kSeedLabel}, spec.overrides, params,
                                               "capacity " + spec.axis + " (" + spec.config + ")");
  SweepOptions run;
  run.output_dir = (fs::path(options.output_dir) / "runs").string();
  run.jobs = std::max(1u, options.jobs);
  const SweepOutcome outcome = run_sweep(sweep, run);
  if (!outcome.failures.empty()) {
    std::string list;
    for (const std::string& f : outcome.failures) list += "\n  " + f;
    throw std::runtime_error(std::to_string(outcome.failures.size()) + " capacity point(s) failed:" + list);
  }

  std::vector<CapacityValue> out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    CapacityValue cv;
    cv.value = values[i];
    cv.step = first_step + i;
    for (unsigned s = 0; s < spec.seeds; ++s) {
      const SweepPoint& p = sweep.points[i * spec.seeds + s];
      cv.seeds.push_back(p.seed);
      // The row the sweep wrote (also for a point resumed from an earlier run).
      const fs::path row_file = fs::path(run.output_dir) / "points" / p.key / "row.csv";
      std::ifstream in(row_file);
      std::string header_line, row_line;
      if (!in || !std::getline(in, header_line) || !std::getline(in, row_line)) {
        throw std::runtime_error("cannot read " + row_file.string());
      }
      const std::vector<std::string> header = csv_fields(header_line), row = csv_fields(row_line);
      std::vector<double> sample;
      for (const CapacityTarget& t : spec.targets) {
        const auto col = std::find(header.begin(), header.end(), t.column);
        if (col == header.end() || static_cast<std::size_t>(col - header.begin()) >= row.size()) {
          throw std::runtime_error(row_file.string() + " has no column " + t.column);
        }
        sample.push_back(parse_csv_real(row[static_cast<std::size_t>(col - header.begin())]));
      }
      cv.samples.push_back(std::move(sample));
    }
    cv.met = true;
    for (std::size_t t = 0; t < spec.targets.size(); ++t) {
      std::vector<double> column;
      for (const auto& sample : cv.samples) column.push_back(sample[t]);
      cv.verdicts.push_back(judge_target(spec.targets[t], column, spec.confidence));
      cv.met = cv.met && cv.verdicts.back().met;
    }
    if (options.log) {
      *options.log << "capacity: " << spec.axis << "=" << cv.value << (cv.met ? " meets" : " fails");
      for (std::size_t t = 0; t < spec.targets.size(); ++t) {
        *options.log << "  " << spec.targets[t].column << " mean " << csv_real(cv.verdicts[t].mean) << " bound "
                     << csv_real(cv.verdicts[t].bound);
      }
      *options.log << "\n";
      options.log->flush();
    }
    out.push_back(std::move(cv));
  }
  return out;
}

bool sample_meets(const CapacitySpec& spec, const std::vector<double>& sample) {
  for (std::size_t t = 0; t < spec.targets.size(); ++t) {
    const CapacityTarget& target = spec.targets[t];
    const double v = sample[t];
    if (!(target.at_most ? v <= target.threshold : v >= target.threshold)) return false;
  }
  return true;
}

std::string csv_text(const CapacitySpec& spec, const CapacityResult& result) {
  std::string csv = "row,value,step,seed";
  for (const CapacityTarget& t : spec.targets) csv += "," + t.text;
  csv += ",met\n";
  for (const CapacityValue& v : result.tried) {
    const std::string prefix = "," + std::to_string(v.value) + "," + std::to_string(v.step) + ",";
    for (std::size_t s = 0; s < v.samples.size(); ++s) {
      csv += "point" + prefix + std::to_string(v.seeds[s]);
      for (const double x : v.samples[s]) csv += "," + csv_real(x);
      csv += std::string(",") + (sample_meets(spec, v.samples[s]) ? "1" : "0") + "\n";
    }
    csv += "mean" + prefix;
    for (const TargetVerdict& t : v.verdicts) csv += "," + csv_real(t.mean);
    csv += ",\nbound" + prefix;
    for (const TargetVerdict& t : v.verdicts) csv += "," + csv_real(t.bound);
    csv += std::string(",") + (v.met ? "1" : "0") + "\n";
  }
  return csv;
}

std::string json_text(const CapacitySpec& spec, const CapacityResult& result) {
  std::string j = "{\n";
  j += "  \"config\": " + json_quoted(spec.config) + ",\n";
  j += "  \"overrides\": [";
  for (std::size_t i = 0; i < spec.overrides.size(); ++i) j += (i ? ", " : "") + json_quoted(spec.overrides[i]);
  j += "],\n  \"axis\": " + json_quoted(spec.axis) + ",\n";
  j += "  \"min\": " + std::to_string(spec.min) + ",\n  \"max\": " + std::to_string(spec.max) + ",\n";
  j += "  \"seeds\": [";
  if (!result.tried.empty()) {
    const auto& seeds = result.tried.front().seeds;
    for (std::size_t i = 0; i < seeds.size(); ++i) j += (i ? ", " : "") + std::to_string(seeds[i]);
  }
  j += "],\n  \"confidence\": " + json_real(spec.confidence) + ",\n  \"targets\": [";
  for (std::size_t i = 0; i < spec.targets.size(); ++i) {
    const CapacityTarget& t = spec.targets[i];
    j += std::string(i ? ", " : "") + "{\"metric\": " + json_quoted(t.column) + ", \"op\": \"" +
         (t.at_most ? "<=" : ">=") + "\", \"threshold\": " + json_real(t.threshold) + "}";
  }
  j += "],\n  \"answer\": " + (result.answer ? std::to_string(*result.answer) : std::string("null")) + ",\n";
  j += "  \"non_monotone\": [";
  for (std::size_t i = 0; i < result.non_monotone.size(); ++i) {
    j += (i ? ", " : "") + std::string("[") + std::to_string(result.non_monotone[i].first) + ", " +
         std::to_string(result.non_monotone[i].second) + "]";
  }
  j += "],\n  \"tried\": [\n";
  for (std::size_t i = 0; i < result.tried.size(); ++i) {
    const CapacityValue& v = result.tried[i];
    j += "    {\"value\": " + std::to_string(v.value) + ", \"step\": " + std::to_string(v.step) +
         ", \"met\": " + (v.met ? "true" : "false") + ", \"mean\": [";
    for (std::size_t t = 0; t < v.verdicts.size(); ++t) j += (t ? ", " : "") + json_real(v.verdicts[t].mean);
    j += "], \"bound\": [";
    for (std::size_t t = 0; t < v.verdicts.size(); ++t) j += (t ? ", " : "") + json_real(v.verdicts[t].bound);
    j += std::string("]}") + (i + 1 < result.tried.size() ? "," : "") + "\n";
  }
  j += "  ],\n  \"version\": " + json_quoted(version()) + ",\n  \"build\": " + json_quoted(build_id()) + "\n}\n";
  return j;
}

}  // namespace

CapacityTarget CapacityTarget::parse(std::string_view text) {
  CapacityTarget t;
  t.text = std::string(text);
  const std::string where = "--target " + t.text;
  std::size_t op = text.find("<=");
  t.at_most = op != std::string_view::npos;
  if (!t.at_most) op = text.find(">=");
  if (op == std::string_view::npos || op == 0 || op + 2 == text.size()) {
    throw InputError(where, "expected METRIC<=VALUE or METRIC>=VALUE, e.g. ttft_all_censored_p99_s<=10");
  }
  t.metric = std::string(text.substr(0, op));
  const std::string value(text.substr(op + 2));
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), t.threshold);
  if (ec != std::errc() || ptr != value.data() + value.size() || !std::isfinite(t.threshold)) {
    throw InputError(where, "the threshold '" + value + "' is not a finite number");
  }
  const Metric* m = nullptr;
  try {
    m = &sllm::metric(t.metric);
  } catch (const std::logic_error&) {
    throw InputError(where, "unknown metric '" + t.metric + "' (the metrics are results.csv's columns; docs/config.md)");
  }
  if (m->column.empty() || m->timing || (m->kind != Metric::Kind::kCount && m->kind != Metric::Kind::kReal)) {
    throw InputError(where, "'" + t.metric + "' is not a numeric results.csv metric");
  }
  t.column = std::string(m->column);
  return t;
}

TargetVerdict judge_target(const CapacityTarget& target, std::span<const double> samples, double confidence) {
  TargetVerdict v;
  if (samples.empty()) throw std::logic_error("judge_target: no samples");
  const double n = static_cast<double>(samples.size());
  double sum = 0;
  for (const double x : samples) sum += x;
  v.mean = sum / n;
  v.bound = v.mean;
  if (samples.size() > 1 && std::isfinite(v.mean)) {
    double ss = 0;
    for (const double x : samples) ss += (x - v.mean) * (x - v.mean);
    const double sd = std::sqrt(ss / (n - 1));
    const boost::math::students_t dist(n - 1);
    const double half = boost::math::quantile(dist, confidence) * sd / std::sqrt(n);
    v.bound = target.at_most ? v.mean + half : v.mean - half;
  }
  v.met = target.at_most ? v.bound <= target.threshold : v.bound >= target.threshold;  // false for NaN
  return v;
}

void CapacitySpec::validate() const {
  if (axis.empty()) throw InputError("--axis", "name the integer config key to search, e.g. cluster.servers[0].count");
  if (min > max) {
    throw InputError("--min " + std::to_string(min) + " --max " + std::to_string(max), "expected min <= max");
  }
  if (targets.empty()) throw InputError("--target", "give at least one target, e.g. ttft_all_censored_p99_s<=10");
  if (seeds == 0) throw InputError("--seeds", "expected at least one seed");
  if (!(confidence > 0 && confidence < 1)) {
    throw InputError("--confidence " + csv_real(confidence), "expected a probability in (0, 1), e.g. 0.95");
  }
  for (const std::string& o : overrides) {
    if (o.substr(0, o.find('=')) == axis) {
      throw InputError("--set " + o, "'" + axis + "' is the searched axis; give its range with --min/--max");
    }
  }
  // Both ends load (the axis exists, is an integer key, and the range is valid for it).
  base_seed(*this, min);
  base_seed(*this, max);
}

std::vector<CapacityValue> evaluate_capacity(const CapacitySpec& spec, const std::vector<std::int64_t>& values,
                                             const CapacityOptions& options) {
  if (values.empty()) return {};
  return evaluate(spec, base_seed(spec, values.front()), values, options, 1);
}

CapacityResult find_capacity(const CapacitySpec& spec, const CapacityOptions& options) {
  spec.validate();
  const std::uint64_t seed = base_seed(spec, spec.min);
  CapacityResult result;
  std::map<std::int64_t, bool> met;  // value -> verdict, of every value tried
  const auto try_value = [&](std::int64_t v) {
    const auto known = met.find(v);
    if (known != met.end()) return known->second;
    CapacityValue cv = std::move(evaluate(spec, seed, {v}, options, result.tried.size() + 1).front());
    met[v] = cv.met;
    result.tried.push_back(std::move(cv));
    return met[v];
  };

  // Galloping: min, min+1, min+3, min+7, ... (capped at max) until a value meets.
  std::optional<std::int64_t> fail;  // largest value known to fail
  std::int64_t step = 1, v = spec.min;
  for (;;) {
    if (try_value(v)) break;
    fail = v;
    if (v == spec.max) break;
    v = (spec.max - v <= step) ? spec.max : v + step;
    step = step > std::numeric_limits<std::int64_t>::max() / 2 ? step : step * 2;
  }
  if (met[v]) {
    // Bisection between the last failing and the first meeting value.
    std::int64_t hi = v;
    if (fail) {
      std::int64_t lo = *fail;
      while (hi - lo > 1) {
        const std::int64_t mid = lo + (hi - lo) / 2;
        (try_value(mid) ? hi : lo) = mid;
      }
    }
    result.answer = hi;
    // The upper neighbour: a metric that fails there after meeting at the answer is not monotone.
    if (hi < spec.max) try_value(hi + 1);
  }
  for (const auto& [a, a_met] : met) {
    for (auto b = met.upper_bound(a); b != met.end(); ++b) {
      if (a_met && !b->second) result.non_monotone.emplace_back(a, b->first);
    }
  }
  write_file_atomically(options.output_dir, "capacity.csv", csv_text(spec, result));
  write_file_atomically(options.output_dir, "capacity.json", json_text(spec, result));
  return result;
}

}  // namespace sllm
