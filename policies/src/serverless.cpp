// The paper's "Serverless" baseline: availability-driven placement. Any server with enough free GPUs
// (round-robin from the last choice, so load spreads), falling back to one where idle instances can be
// unloaded; every cold start downloads the checkpoint from the remote store, ignoring local copies. A
// scheduler ablation inside ServerlessLLM (the paper's figure 4 changes only the scheduler): it loads with
// the scenario's loader (ServerlessLLM's, pipelined) through the per-server loading queue.
#include "availability.h"

namespace sllm {
namespace {

class ServerlessPolicy final : public SchedulingPolicy {
 public:
  explicit ServerlessPolicy(const ConfigNode& params) : placement_(params.get_bool("reclaim_idle", true)) {}

  Decision place(const ClusterView& view, ModelId model) override {
    auto d = placement_.next(view, model);
    if (!d) return Decision::wait();
    d->tier = Tier::kRemote;
    d->estimated_startup = view.loading_queue_wait(d->server) + view.estimate_load(d->server, model, d->tier);
    return *d;
  }

 private:
  RoundRobinPlacement placement_;
};

std::unique_ptr<SchedulingPolicy> make(const ConfigNode& params) { return std::make_unique<ServerlessPolicy>(params); }

SLLM_REGISTER(SchedulingPolicy, "serverless",
              "availability-driven: any server with free GPUs, always loads from the remote store", make);

}  // namespace
}  // namespace sllm
