// The policies' ClusterView over the real cluster: answered from the replay's record of the real
// servers, instances and requests (kept in a ClusterState, the type the simulator also keeps its state
// in, so that outputs and GPU accounting are the simulator's code) and from the real loading queue.
// Load-time estimates are the scenario's (profile laws), as in the simulator: they are what a policy
// predicts with; what happens is the real load.
#pragma once

#include <cstdint>
#include <vector>

#include "sllm/sim/cluster.h"
#include "sllm/sim/cost_model.h"
#include "sllm/sim/policy.h"

namespace sllm::replay {

// Per server: the real loads queued (front: the one running), with their estimates and real start.
struct RealLoadQueue {
  struct Entry {
    Nanos estimate = 0;
    Nanos started = -1;  // real start of the transfer (-1: waiting)
  };
  std::vector<Entry> entries;
};

class RealClusterView final : public ClusterView {
 public:
  RealClusterView(const ClusterState& state, const std::vector<RealLoadQueue>& loads, Nanos now,
                  const CostModel& cost)
      : st_(state), loads_(loads), now_(now), cost_(cost) {}

  std::uint32_t server_count() const override;
  std::uint32_t total_gpus(ServerId s) const override;
  std::uint32_t free_gpus(ServerId s) const override;
  std::uint32_t idle_gpus(ServerId s) const override;
  std::vector<InstanceId> idle_instances(ServerId s) const override;
  std::span<const InstanceId> instances_on(ServerId s) const override;
  // The running load's estimate less its elapsed real time (at least 0), plus the queued loads' estimates.
  Nanos loading_queue_wait(ServerId s) const override;

  bool holds(ServerId s, ModelId m, Tier t) const override;
  Tier best_tier(ServerId s, ModelId m) const override;
  Nanos estimate_load(ServerId s, ModelId m, Tier t, const LoadOptions& options) const override;
  double tier_bandwidth(ServerId s, Tier t, std::uint32_t gpus) const override;

  std::uint32_t model_count() const override;
  std::uint32_t gpus_needed(ModelId m) const override;
  std::uint64_t checkpoint_bytes(ModelId m) const override;
  std::uint32_t waiting_preemptions(ModelId m) const override;
  double prefill_seconds(ModelId m, ServerId s, std::uint64_t tokens, double squares) const override;

  InstanceInfo instance(InstanceId i) const override;
  // Tokens the real engine has produced for each request (decoding first, then the prefill pass).
  std::vector<RequestProgress> progress(InstanceId i) const override;

 private:
  const ClusterState& st_;
  const std::vector<RealLoadQueue>& loads_;
  Nanos now_;
  const CostModel& cost_;
};

}  // namespace sllm::replay
