// The simulator's side of the policy API: the ClusterView a policy queries, answered from the
// ClusterState at one instant. The simulator builds one per policy call (it holds two pointers and
// the time); tests build one over a ClusterState of their own; the real replay derives its view from it,
// answering what differs on a real cluster. Not for policies (layering check).
#pragma once

#include "sllm/sim/cluster.h"
#include "sllm/sim/cost_model.h"
#include "sllm/sim/policy.h"

namespace sllm {

// Serving (prefill or decode), not part of a migration and not waiting for GPUs: what a policy may
// preempt (and, when decoding, migrate). The simulator checks a Decision against the same rule.
bool movable(const Instance& instance);

class ClusterStateView : public ClusterView {
 public:
  // `cost` answers prefill_seconds(); without it that query throws std::logic_error. With `flows` (the
  // transfers in flight), estimate_load() gives each link's fair share instead of its idle bandwidth.
  ClusterStateView(const ClusterState& state, Nanos now, const CostModel* cost = nullptr,
                   const FlowNetwork* flows = nullptr)
      : state_(state), now_(now), cost_(cost), flows_(flows) {}

  std::uint32_t server_count() const override;
  std::uint32_t total_gpus(ServerId s) const override;
  std::uint32_t free_gpus(ServerId s) const override;
  std::uint32_t idle_gpus(ServerId s) const override;
  std::vector<InstanceId> idle_instances(ServerId s) const override;
  std::span<const InstanceId> instances_on(ServerId s) const override;
  Nanos loading_queue_wait(ServerId s) const override;

  bool holds(ServerId s, ModelId m, Tier t) const override;
  Tier best_tier(ServerId s, ModelId m) const override;
  using ClusterView::estimate_load;
  Nanos estimate_load(ServerId s, ModelId m, Tier t, const LoadOptions& options) const override;
  double tier_bandwidth(ServerId s, Tier t, std::uint32_t gpus) const override;

  std::uint32_t model_count() const override;
  std::uint32_t gpus_needed(ModelId m) const override;
  std::uint64_t checkpoint_bytes(ModelId m) const override;
  std::uint32_t waiting_preemptions(ModelId m) const override;
  double prefill_seconds(ModelId m, ServerId s, std::uint64_t tokens, double squares) const override;

  InstanceInfo instance(InstanceId i) const override;
  std::vector<RequestProgress> progress(InstanceId i) const override;

 private:
  // Apart from servers.size(), the view reaches into ClusterState's containers only through these four
  // (the rest goes through ClusterState's own queries), so it follows the state's layout in one spot.
  const Server& server_state(ServerId s) const { return state_.servers[s]; }
  const ModelRuntime& model_state(ModelId m) const { return state_.models[m]; }
  const Instance& instance_state(InstanceId i) const { return state_.instances[i]; }
  const RequestState& request_state(RequestSlot r) const { return state_.requests[r]; }

  const ClusterState& state_;
  Nanos now_;
  const CostModel* cost_;
  const FlowNetwork* flows_;
};

}  // namespace sllm
