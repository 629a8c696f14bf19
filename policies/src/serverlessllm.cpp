// ServerlessLLM's startup-time-optimised placement (OSDI 2024, section 6): for every server that can host
// the model, estimate its startup time as q + n/b (q: the server's loading-queue wait, n: checkpoint
// bytes, b: bandwidth of the fastest tier holding the checkpoint there, i.e. the slowest link on that
// tier's path to the GPUs) plus the pipeline fill and runtime initialisation, and pick the minimum.
// As in the paper, estimates are refined from observed loads: per server and tier, the load part is
// scaled by a smoothed ratio of actual to estimated load time (contention on shared links shows up
// there). Idle (keep-alive) instances on a server may be unloaded to make room. Live migration of
// running inferences comes with the policies issue.
#include <array>
#include <vector>

#include "sllm/sim/policy.h"

namespace sllm {
namespace {

class ServerlessLlmPolicy final : public SchedulingPolicy {
 public:
  explicit ServerlessLlmPolicy(const ConfigNode& params)
      : reclaim_idle_(params.get_bool("reclaim_idle", true)),
        refine_(params.get_bool("refine_estimates", true)),
        smoothing_(params.get_double("estimate_smoothing", 0.5, 0.0, 1.0)) {}

  Decision place(const ClusterView& view, ModelId model) override {
    const std::uint32_t need = view.gpus_needed(model);
    Decision best;
    bool found = false;
    std::size_t best_unloads = 0;
    for (ServerId s = 0; s < view.server_count(); ++s) {
      if (view.total_gpus(s) < need) continue;
      std::optional<std::vector<InstanceId>> plan;
      if (view.free_gpus(s) >= need) {
        plan.emplace();
      } else if (reclaim_idle_) {
        plan = reclaim_plan(view, s, need);
      }
      if (!plan) continue;
      const Tier tier = view.best_tier(s, model);
      const Nanos load = view.estimate_load(s, model, tier);
      const Nanos estimate = view.loading_queue_wait(s) + scaled(s, tier, load);
      // Ties: fewer warm instances lost, then the lower server id (deterministic).
      if (!found || estimate < best.estimated_startup ||
          (estimate == best.estimated_startup && plan->size() < best_unloads)) {
        found = true;
        best.action = Decision::Action::kStart;
        best.server = s;
        best.tier = tier;
        best.unload_idle = std::move(*plan);
        best.estimated_startup = estimate;
        best_unloads = best.unload_idle.size();
      }
    }
    return found ? best : Decision::wait();
  }

  void on_load_finished(ServerId s, ModelId, Tier tier, Nanos estimated, Nanos actual) override {
    if (!refine_ || estimated <= 0 || tier == Tier::kWarm) return;
    if (s >= ratio_.size()) ratio_.resize(s + 1, {1.0, 1.0, 1.0});
    double& r = ratio_[s][static_cast<std::size_t>(tier)];
    r = (1.0 - smoothing_) * r + smoothing_ * static_cast<double>(actual) / static_cast<double>(estimated);
  }

 private:
  Nanos scaled(ServerId s, Tier tier, Nanos load) const {
    if (s >= ratio_.size()) return load;
    return static_cast<Nanos>(static_cast<double>(load) * ratio_[s][static_cast<std::size_t>(tier)] + 0.5);
  }

  bool reclaim_idle_;
  bool refine_;
  double smoothing_;  // weight of the newest observation
  std::vector<std::array<double, 3>> ratio_;  // [server][remote, ssd, dram]: actual / estimated
};

std::unique_ptr<SchedulingPolicy> make(const ConfigNode& params) {
  return std::make_unique<ServerlessLlmPolicy>(params);
}

SLLM_REGISTER(SchedulingPolicy, "serverlessllm",
              "startup-time-optimised: minimise loading-queue wait + checkpoint bytes / best local tier bandwidth",
              make);

}  // namespace
}  // namespace sllm
