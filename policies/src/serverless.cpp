// The paper's "Serverless" baseline: availability-driven placement. Any server with enough free GPUs
// (round-robin from the last choice, so load spreads), falling back to one where idle instances can be
// unloaded; every cold start downloads the checkpoint from the remote store, ignoring local copies.
#include "sllm/sim/policy.h"

namespace sllm {
namespace {

class ServerlessPolicy final : public SchedulingPolicy {
 public:
  explicit ServerlessPolicy(const ConfigNode& params) : reclaim_idle_(params.get_bool("reclaim_idle", true)) {}

  Decision place(const ClusterView& view, ModelId model) override {
    const std::uint32_t need = view.gpus_needed(model);
    const std::uint32_t n = view.server_count();
    for (int pass = 0; pass < (reclaim_idle_ ? 2 : 1); ++pass) {
      for (std::uint32_t k = 0; k < n; ++k) {
        const ServerId s = (next_ + k) % n;
        std::optional<std::vector<InstanceId>> plan;
        if (pass == 0) {
          if (view.free_gpus(s) < need) continue;
          plan.emplace();
        } else {
          plan = reclaim_plan(view, s, need);
          if (!plan) continue;
        }
        Decision d;
        d.action = Decision::Action::kStart;
        d.server = s;
        d.tier = Tier::kRemote;
        d.unload_idle = std::move(*plan);
        d.estimated_startup = view.loading_queue_wait(s) + view.estimate_load(s, model, Tier::kRemote);
        next_ = (s + 1) % n;
        return d;
      }
    }
    return Decision::wait();
  }

 private:
  bool reclaim_idle_;
  std::uint32_t next_ = 0;
};

std::unique_ptr<SchedulingPolicy> make(const ConfigNode& params) { return std::make_unique<ServerlessPolicy>(params); }

SLLM_REGISTER(SchedulingPolicy, "serverless",
              "availability-driven: any server with free GPUs, always loads from the remote store", make);

}  // namespace
}  // namespace sllm
