#include "real_view.h"

#include <algorithm>

namespace sllm::replay {

Nanos RealClusterView::loading_queue_wait(ServerId s) const {
  Nanos wait = 0;
  for (const RealLoadQueue::Entry& e : loads_[s].entries) {
    wait += e.started >= 0 ? std::max<Nanos>(0, e.estimate - (now_ - e.started)) : e.estimate;
  }
  return wait;
}

InstanceInfo RealClusterView::instance(InstanceId i) const {
  InstanceInfo info = ClusterStateView::instance(i);
  info.movable = false;
  return info;
}

std::vector<RequestProgress> RealClusterView::progress(InstanceId i) const {
  const Instance& inst = state_.instances[i];
  std::vector<RequestProgress> out;
  for (RequestSlot slot : inst.running) {
    const RequestState& r = state_.requests[slot];
    out.push_back({r.spec.id, r.spec.input_tokens, r.spec.output_tokens, r.generated, r.preemptions});
  }
  for (RequestSlot slot : inst.joining) {
    const RequestState& r = state_.requests[slot];
    out.push_back({r.spec.id, r.spec.input_tokens, r.spec.output_tokens, 0, r.preemptions});
  }
  return out;
}

}  // namespace sllm::replay
