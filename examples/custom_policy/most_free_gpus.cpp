// "most-free-gpus": start each instance on the server with the most free GPUs (the lowest id among
// equals), loading from the fastest tier that server holds the checkpoint in; when no server has
// enough free GPUs, unload idle instances on the first server where that frees enough. A policy file
// as in the project's policies/src/: it includes only the policy API and registers itself by name.
#include "most_free_gpus.h"

#include <atomic>
#include <memory>

#include "sllm/sim/policy.h"

namespace {

std::atomic<std::uint64_t> placements{0};

class MostFreeGpus final : public sllm::SchedulingPolicy {
 public:
  explicit MostFreeGpus(const sllm::ConfigNode& params) : reclaim_idle_(params.get_bool("reclaim_idle", true)) {}

  sllm::Decision place(const sllm::ClusterView& view, sllm::ModelId model) override {
    placements.fetch_add(1, std::memory_order_relaxed);
    const std::uint32_t needed = view.gpus_needed(model);
    sllm::ServerId best = sllm::kNone;
    for (sllm::ServerId s = 0; s < view.server_count(); ++s) {
      if (view.free_gpus(s) >= needed && (best == sllm::kNone || view.free_gpus(s) > view.free_gpus(best))) best = s;
    }
    sllm::Decision d;
    if (best != sllm::kNone) {
      d.server = best;
    } else if (reclaim_idle_) {
      for (sllm::ServerId s = 0; s < view.server_count() && best == sllm::kNone; ++s) {
        if (auto plan = sllm::reclaim_plan(view, s, needed)) {
          best = s;
          d.server = s;
          d.unload_idle = std::move(*plan);
        }
      }
    }
    if (best == sllm::kNone) return sllm::Decision::wait();
    d.action = sllm::Decision::Action::kStart;
    d.tier = view.best_tier(best, model);
    d.estimated_startup = view.loading_queue_wait(best) + view.estimate_load(best, model, d.tier);
    return d;
  }

 private:
  bool reclaim_idle_;
};

std::unique_ptr<sllm::SchedulingPolicy> make(const sllm::ConfigNode& params) {
  return std::make_unique<MostFreeGpus>(params);
}

SLLM_REGISTER(sllm::SchedulingPolicy, "most-free-gpus",
              "example: the server with the most free GPUs, fastest tier it holds (examples/custom_policy)", make);

}  // namespace

std::uint64_t most_free_gpus_placements() { return placements.load(); }
