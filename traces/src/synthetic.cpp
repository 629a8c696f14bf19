#include "sllm/traces/synthetic.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "sllm/core/config_node.h"
#include "sllm/core/workload.h"

namespace sllm::traces {

SyntheticSpec parse_synthetic(const ConfigNode& workload, std::uint32_t model_count, std::uint64_t seed) {
  SyntheticSpec spec;
  spec.models = model_count;
  spec.seed = seed;
  spec.rps = workload.get_double("rps", {}, 1e-9, 1e9);
  spec.cv = workload.get_double("cv", 1.0, 1e-3, 1e3);
  spec.max_requests = static_cast<std::uint64_t>(workload.get_int("requests", 0, 0, std::int64_t{1} << 40));
  spec.duration = workload.has("duration") ? workload.get_duration("duration") : 0;
  if (spec.max_requests == 0 && spec.duration == 0) {
    workload.fail("set `requests` or `duration` (or both) so the workload ends");
  }
  if (auto pop = workload.optional_child("popularity")) {
    if (pop->is_map()) {
      const std::string kind = pop->get_enum("kind", {"uniform", "zipf"});
      if (kind == "zipf") {
        spec.popularity = Popularity::kZipf;
        spec.zipf_s = pop->get_double("s", 1.0, 0.0, 10.0);
      }
      pop->finish();
    } else {
      spec.popularity = pop->as_enum({"uniform", "zipf"}) == "zipf" ? Popularity::kZipf : Popularity::kUniform;
    }
  }
  if (auto lengths = workload.optional_child("lengths")) {
    spec.lengths = make_token_lengths(*lengths);
  } else {
    spec.lengths = token_length_preset("gsm8k");
  }
  workload.finish();
  return spec;
}

SyntheticSource::SyntheticSource(SyntheticSpec spec)
    : spec_(std::move(spec)), arrivals_(spec_.seed, 1), models_(spec_.seed, 2), lengths_(spec_.seed, 3) {
  if (spec_.models == 0) throw std::logic_error("synthetic workload without models");
  if (!spec_.lengths) spec_.lengths = token_length_preset("gsm8k");
  if (spec_.popularity == Popularity::kZipf) {
    cdf_.resize(spec_.models);
    double sum = 0;
    for (std::uint32_t k = 0; k < spec_.models; ++k) {
      sum += 1.0 / std::pow(static_cast<double>(k) + 1.0, spec_.zipf_s);
      cdf_[k] = sum;
    }
    for (double& c : cdf_) c /= sum;
    cdf_.back() = 1.0;
  }
}

std::uint32_t SyntheticSource::pick_model() {
  if (cdf_.empty()) return static_cast<std::uint32_t>(models_.uniform_int(0, spec_.models - 1));
  const double u = models_.uniform();
  return static_cast<std::uint32_t>(std::upper_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
}

bool SyntheticSource::next(RequestSpec& out) {
  if (spec_.max_requests != 0 && produced_ >= spec_.max_requests) return false;
  // Gamma with mean 1/rps and the given CV: shape k = 1/CV^2, scale = mean * CV^2.
  const double mean = 1.0 / spec_.rps;
  const double shape = 1.0 / (spec_.cv * spec_.cv);
  clock_s_ += arrivals_.gamma(shape, mean / shape);
  const Nanos arrival = from_seconds(clock_s_);
  if (spec_.duration != 0 && arrival >= spec_.duration) return false;
  out.id = produced_++;
  out.arrival = arrival;
  out.model = pick_model();
  const TokenLengths len = spec_.lengths->sample(lengths_);
  out.input_tokens = len.input;
  out.output_tokens = len.output;
  return true;
}

ListSource::ListSource(std::vector<RequestSpec> requests) : requests_(std::move(requests)) {
  std::stable_sort(requests_.begin(), requests_.end(),
                   [](const RequestSpec& a, const RequestSpec& b) { return a.arrival < b.arrival; });
  for (std::size_t i = 0; i < requests_.size(); ++i) requests_[i].id = i;
}

bool ListSource::next(RequestSpec& out) {
  if (pos_ >= requests_.size()) return false;
  out = requests_[pos_++];
  return true;
}

namespace {

class SyntheticKind final : public WorkloadKind {
 public:
  Workload build(const ConfigNode& workload, std::uint32_t model_count, std::uint64_t seed) const override {
    auto spec = std::make_shared<const SyntheticSpec>(parse_synthetic(workload, model_count, seed));
    Workload w;
    w.expected_requests = spec->max_requests;
    w.make_source = [spec]() -> std::unique_ptr<RequestSource> { return std::make_unique<SyntheticSource>(*spec); };
    return w;
  }
};

std::unique_ptr<WorkloadKind> make_synthetic_kind(const ConfigNode&) { return std::make_unique<SyntheticKind>(); }

SLLM_REGISTER(WorkloadKind, "synthetic", "Gamma arrivals over N models with popularity and token-length presets",
              make_synthetic_kind);

}  // namespace
}  // namespace sllm::traces
