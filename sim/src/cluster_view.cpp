#include "sllm/sim/cluster_view.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace sllm {

bool movable(const Instance& inst) {
  return (inst.state == InstanceState::kDecode || inst.state == InstanceState::kPrefill) &&
         inst.migration == kNone && inst.gpus_owed == 0;
}

std::uint32_t ClusterStateView::server_count() const { return static_cast<std::uint32_t>(state_.servers.size()); }

std::uint32_t ClusterStateView::total_gpus(ServerId s) const { return state_.gpu_accounting.total(s); }

std::uint32_t ClusterStateView::free_gpus(ServerId s) const { return state_.gpu_accounting.free(s); }

std::uint32_t ClusterStateView::idle_gpus(ServerId s) const { return state_.gpu_accounting.idle(s); }

std::vector<InstanceId> ClusterStateView::idle_instances(ServerId s) const {
  std::vector<InstanceId> out;
  for (InstanceId i : server_state(s).instances) {
    if (instance_state(i).state == InstanceState::kIdle) out.push_back(i);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::span<const InstanceId> ClusterStateView::instances_on(ServerId s) const { return server_state(s).instances; }

Nanos ClusterStateView::loading_queue_wait(ServerId s) const {
  const Server& server = server_state(s);
  if (server.load_queue.empty()) return 0;
  return std::max<Nanos>(0, server.queue_estimated_end - now_);
}

bool ClusterStateView::holds(ServerId s, ModelId m, Tier t) const { return state_.holds(s, m, t); }

Tier ClusterStateView::best_tier(ServerId s, ModelId m) const { return state_.best_tier(s, m); }

Nanos ClusterStateView::estimate_load(ServerId s, ModelId m, Tier t, const LoadOptions& options) const {
  if (flows_ != nullptr) return state_.estimate_load_shared(s, m, t, gpus_needed(m), *flows_, options);
  return state_.estimate_load(s, m, t, gpus_needed(m), options);
}

double ClusterStateView::tier_bandwidth(ServerId s, Tier t, std::uint32_t gpus) const {
  return state_.tier_bandwidth(s, t, gpus);
}

std::uint32_t ClusterStateView::model_count() const { return static_cast<std::uint32_t>(state_.models.size()); }

std::uint32_t ClusterStateView::gpus_needed(ModelId m) const { return model_state(m).gpus_per_instance; }

std::uint64_t ClusterStateView::checkpoint_bytes(ModelId m) const { return model_state(m).deployed->checkpoint_bytes; }

std::uint32_t ClusterStateView::waiting_preemptions(ModelId m) const {
  std::uint32_t most = 0;
  for (const QueuedRequest& e : model_state(m).queue) {
    if (state_.still_waiting(e)) most = std::max(most, request_state(e.slot).preemptions);
  }
  return most;
}

double ClusterStateView::prefill_seconds(ModelId m, ServerId s, std::uint64_t tokens, double squares) const {
  if (cost_ == nullptr) throw std::logic_error("ClusterView: no cost model attached");
  return cost_->prefill_seconds(*model_state(m).deployed->arch, server_state(s).spec->gpu, gpus_needed(m), tokens,
                                squares);
}

InstanceInfo ClusterStateView::instance(InstanceId i) const {
  const Instance& inst = instance_state(i);
  InstanceInfo info;
  info.model = inst.model;
  info.server = inst.server;
  switch (inst.state) {
    case InstanceState::kLoading: info.phase = InstancePhase::kLoading; break;
    case InstanceState::kIdle: info.phase = InstancePhase::kIdle; break;
    case InstanceState::kPrefill: info.phase = InstancePhase::kPrefill; break;
    case InstanceState::kDecode: info.phase = InstancePhase::kDecode; break;
    case InstanceState::kHandoff: info.phase = InstancePhase::kHandoff; break;
    case InstanceState::kFree:
      throw std::logic_error("ClusterView: instance " + std::to_string(i) + " is not alive");
  }
  info.gpus = static_cast<std::uint32_t>(inst.gpus.size());
  info.movable = movable(inst);
  return info;
}

std::vector<RequestProgress> ClusterStateView::progress(InstanceId i) const {
  const Instance& inst = instance_state(i);
  const std::uint64_t steps = inst.decode_steps_at(now_);
  std::vector<RequestProgress> out;
  for (RequestSlot slot : inst.running) {
    const RequestState& r = request_state(slot);
    out.push_back({r.spec.id, r.spec.input_tokens, r.spec.output_tokens,
                   static_cast<std::uint32_t>(r.generated + steps), r.preemptions});
  }
  for (RequestSlot slot : inst.joining) {
    const RequestState& r = request_state(slot);
    out.push_back({r.spec.id, r.spec.input_tokens, r.spec.output_tokens, 0, r.preemptions});
  }
  return out;
}

}  // namespace sllm
