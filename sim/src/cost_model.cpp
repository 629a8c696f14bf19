#include "sllm/sim/cost_model.h"

#include <algorithm>
#include <cmath>

#include "sllm/sim/profile.h"

namespace sllm {

double StepLaw::at(double context) const {
  double t = 0;
  for (int i = 0; i < lines; ++i) t = std::max(t, base[i] + per_context_token[i] * context);
  return t;
}

double CostModel::recompute_seconds(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus,
                                    std::uint64_t tokens, double sum_squares, double /*cached_pairs*/) const {
  return prefill_seconds(model, gpu, gpus, tokens, sum_squares);
}

double CostModel::migration_handoff_seconds(const ModelArch&, const GpuSpec&, std::uint32_t) const { return 0; }

std::unique_ptr<CostModel> make_cost_model(const CostModelSpec& spec) {
  const PolicyChoice& kind = spec.kind;
  std::unique_ptr<CostModel> model = CostModelRegistry::instance().create(kind.name, kind.params, kind.where);
  if (spec.profile) return std::make_unique<ProfileCostModel>(spec.profile, std::move(model));
  return model;
}

DecodeRun::DecodeRun(const StepLaw& law, double context0, std::uint32_t batch) : lines_(law.lines) {
  for (int i = 0; i < lines_; ++i) {
    alpha_[i] = law.base[i] + law.per_context_token[i] * context0;
    beta_[i] = law.per_context_token[i] * batch;
  }
}

double DecodeRun::cumulative(std::uint64_t steps) const {
  double total = 0;
  std::uint64_t j = 0;
  while (j < steps) {
    // The line that is highest at step j (ties: the steeper one, which stays highest afterwards).
    int top = 0;
    for (int i = 1; i < lines_; ++i) {
      const double vi = alpha_[i] + beta_[i] * static_cast<double>(j);
      const double vt = alpha_[top] + beta_[top] * static_cast<double>(j);
      if (vi > vt || (vi == vt && beta_[i] > beta_[top])) top = i;
    }
    // It stays on top until a steeper line overtakes it (convexity: never to return).
    std::uint64_t end = steps;
    for (int i = 0; i < lines_; ++i) {
      if (beta_[i] <= beta_[top]) continue;
      const double cross = (alpha_[top] - alpha_[i]) / (beta_[i] - beta_[top]);  // equal at step `cross`
      const double first_after = std::floor(cross) + 1.0;  // first step where line i is strictly higher
      if (first_after <= static_cast<double>(j)) continue;  // cannot happen for a true top; be safe
      if (first_after < static_cast<double>(end)) end = static_cast<std::uint64_t>(first_after);
    }
    const double count = static_cast<double>(end - j);
    // sum_{s=j}^{end-1} (alpha + beta s) = count*alpha + beta*(j + end - 1)*count/2
    total += count * alpha_[top] + beta_[top] * (static_cast<double>(j) + static_cast<double>(end) - 1.0) * count * 0.5;
    j = end;
  }
  return total;
}

std::uint64_t DecodeRun::steps_within(Nanos elapsed, std::uint64_t max_steps) const {
  std::uint64_t lo = 0, hi = max_steps;  // invariant: answer in [lo, hi]
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo + 1) / 2;
    if (from_seconds(cumulative(mid)) <= elapsed) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

}  // namespace sllm
