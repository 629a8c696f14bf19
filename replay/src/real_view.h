// The policies' ClusterView over the real cluster: the simulator's view of a ClusterState (the replay keeps
// its record of the real servers, instances and requests in one, so that outputs and GPU accounting are the
// simulator's code), except for what only the real cluster knows: its loading queue's remaining wait, the
// tokens the real engines produced, and that nothing can be preempted or migrated. Load-time estimates are
// the scenario's (profile laws), as in the simulator: they are what a policy predicts with; what happens
// is the real load.
#pragma once

#include <vector>

#include "sllm/sim/cluster.h"
#include "sllm/sim/cluster_view.h"
#include "sllm/sim/cost_model.h"

namespace sllm::replay {

// Per server: the real loads queued (front: the one running), with their estimates and real start.
struct RealLoadQueue {
  struct Entry {
    Nanos estimate = 0;
    Nanos started = -1;  // real start of the transfer (-1: waiting)
  };
  std::vector<Entry> entries;
};

class RealClusterView final : public ClusterStateView {
 public:
  RealClusterView(const ClusterState& state, const std::vector<RealLoadQueue>& loads, Nanos now,
                  const CostModel& cost)
      : ClusterStateView(state, now, &cost), state_(state), loads_(loads), now_(now) {}

  // The running load's estimate less its elapsed real time (at least 0), plus the queued loads' estimates.
  Nanos loading_queue_wait(ServerId s) const override;
  // The replay carries out neither preemption nor migration: nothing is offered as movable.
  InstanceInfo instance(InstanceId i) const override;
  // Tokens the real engine has produced for each request (decoding first, then the prefill pass).
  std::vector<RequestProgress> progress(InstanceId i) const override;

 private:
  const ClusterState& state_;
  const std::vector<RealLoadQueue>& loads_;
  Nanos now_;
};

}  // namespace sllm::replay
