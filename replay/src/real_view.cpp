#include "real_view.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace sllm::replay {

std::uint32_t RealClusterView::server_count() const { return static_cast<std::uint32_t>(st_.servers.size()); }
std::uint32_t RealClusterView::total_gpus(ServerId s) const { return st_.gpu_accounting.total(s); }
std::uint32_t RealClusterView::free_gpus(ServerId s) const { return st_.gpu_accounting.free(s); }
std::uint32_t RealClusterView::idle_gpus(ServerId s) const { return st_.gpu_accounting.idle(s); }

std::vector<InstanceId> RealClusterView::idle_instances(ServerId s) const {
  std::vector<InstanceId> out;
  for (InstanceId i : st_.servers[s].instances) {
    if (st_.instances[i].state == InstanceState::kIdle) out.push_back(i);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::span<const InstanceId> RealClusterView::instances_on(ServerId s) const { return st_.servers[s].instances; }

Nanos RealClusterView::loading_queue_wait(ServerId s) const {
  Nanos wait = 0;
  for (const RealLoadQueue::Entry& e : loads_[s].entries) {
    wait += e.started >= 0 ? std::max<Nanos>(0, e.estimate - (now_ - e.started)) : e.estimate;
  }
  return wait;
}

bool RealClusterView::holds(ServerId s, ModelId m, Tier t) const { return st_.holds(s, m, t); }
Tier RealClusterView::best_tier(ServerId s, ModelId m) const { return st_.best_tier(s, m); }
Nanos RealClusterView::estimate_load(ServerId s, ModelId m, Tier t, const LoadOptions& options) const {
  return st_.estimate_load(s, m, t, gpus_needed(m), options);
}
double RealClusterView::tier_bandwidth(ServerId s, Tier t, std::uint32_t gpus) const {
  return st_.tier_bandwidth(s, t, gpus);
}

std::uint32_t RealClusterView::model_count() const { return static_cast<std::uint32_t>(st_.models.size()); }
std::uint32_t RealClusterView::gpus_needed(ModelId m) const { return st_.models[m].gpus_per_instance; }
std::uint64_t RealClusterView::checkpoint_bytes(ModelId m) const { return st_.models[m].deployed->checkpoint_bytes; }

std::uint32_t RealClusterView::waiting_preemptions(ModelId m) const {
  std::uint32_t most = 0;
  for (const QueuedRequest& e : st_.models[m].queue) {
    if (st_.still_waiting(e)) most = std::max(most, st_.requests[e.slot].preemptions);
  }
  return most;
}

double RealClusterView::prefill_seconds(ModelId m, ServerId s, std::uint64_t tokens, double squares) const {
  return cost_.prefill_seconds(*st_.models[m].deployed->arch, st_.servers[s].spec->gpu, gpus_needed(m), tokens,
                               squares);
}

InstanceInfo RealClusterView::instance(InstanceId i) const {
  const Instance& inst = st_.instances[i];
  InstanceInfo info;
  info.model = inst.model;
  info.server = inst.server;
  switch (inst.state) {
    case InstanceState::kLoading: info.phase = InstancePhase::kLoading; break;
    case InstanceState::kIdle: info.phase = InstancePhase::kIdle; break;
    case InstanceState::kPrefill: info.phase = InstancePhase::kPrefill; break;
    case InstanceState::kDecode: info.phase = InstancePhase::kDecode; break;
    case InstanceState::kHandoff: info.phase = InstancePhase::kHandoff; break;
    case InstanceState::kFree: throw std::logic_error("ClusterView: instance " + std::to_string(i) + " is not alive");
  }
  info.gpus = static_cast<std::uint32_t>(inst.gpus.size());
  // The replay carries out neither preemption nor migration: nothing is offered as movable.
  info.movable = false;
  return info;
}

std::vector<RequestProgress> RealClusterView::progress(InstanceId i) const {
  const Instance& inst = st_.instances[i];
  std::vector<RequestProgress> out;
  for (RequestSlot slot : inst.running) {
    const RequestState& r = st_.requests[slot];
    out.push_back({r.spec.id, r.spec.input_tokens, r.spec.output_tokens, r.generated, r.preemptions});
  }
  for (RequestSlot slot : inst.joining) {
    const RequestState& r = st_.requests[slot];
    out.push_back({r.spec.id, r.spec.input_tokens, r.spec.output_tokens, 0, r.preemptions});
  }
  return out;
}

}  // namespace sllm::replay
