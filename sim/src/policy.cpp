#include "sllm/sim/policy.h"

#include <algorithm>
#include <stdexcept>

#include "sllm/sim/cost_model.h"

namespace sllm {

std::uint32_t ClusterView::idle_gpus(ServerId s) const {
  std::uint32_t n = 0;
  for (InstanceId i : state_.servers[s].instances) {
    const Instance& inst = state_.instances[i];
    if (inst.state == InstanceState::kIdle) n += static_cast<std::uint32_t>(inst.gpus.size());
  }
  return n;
}

std::vector<InstanceId> ClusterView::idle_instances(ServerId s) const {
  std::vector<InstanceId> out;
  for (InstanceId i : state_.servers[s].instances) {
    if (state_.instances[i].state == InstanceState::kIdle) out.push_back(i);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Nanos ClusterView::loading_queue_wait(ServerId s) const {
  const Server& server = state_.servers[s];
  if (server.load_queue.empty()) return 0;
  return std::max<Nanos>(0, server.queue_estimated_end - now_);
}

std::vector<RequestProgress> ClusterView::progress(InstanceId i) const {
  const Instance& inst = state_.instances[i];
  const std::uint64_t steps = inst.decode_steps_at(now_);
  std::vector<RequestProgress> out;
  for (RequestSlot slot : inst.running) {
    const RequestState& r = state_.requests[slot];
    out.push_back({r.spec.id, r.spec.input_tokens, r.spec.output_tokens,
                   static_cast<std::uint32_t>(r.generated + steps), r.preemptions});
  }
  for (RequestSlot slot : inst.joining) {
    const RequestState& r = state_.requests[slot];
    out.push_back({r.spec.id, r.spec.input_tokens, r.spec.output_tokens, 0, r.preemptions});
  }
  return out;
}

bool ClusterView::movable(InstanceId i) const {
  const Instance& inst = state_.instances[i];
  return (inst.state == InstanceState::kDecode || inst.state == InstanceState::kPrefill) &&
         inst.migration == kNone && inst.gpus_owed == 0;
}

std::uint32_t ClusterView::waiting_preemptions(ModelId m) const {
  std::uint32_t most = 0;
  for (const QueuedRequest& e : state_.models[m].queue) {
    if (state_.still_waiting(e)) most = std::max(most, state_.requests[e.slot].preemptions);
  }
  return most;
}

double ClusterView::prefill_seconds(ModelId m, ServerId s, std::uint64_t tokens, double squares) const {
  if (cost_ == nullptr) throw std::logic_error("ClusterView: no cost model attached");
  return cost_->prefill_seconds(*state_.models[m].deployed->arch, state_.servers[s].spec->gpu, gpus_needed(m),
                                tokens, squares);
}

std::optional<std::vector<InstanceId>> reclaim_plan(const ClusterView& view, ServerId s, std::uint32_t needed) {
  std::uint32_t have = view.free_gpus(s);
  std::vector<InstanceId> plan;
  if (have >= needed) return plan;
  if (have + view.idle_gpus(s) < needed) return std::nullopt;  // cheap check before building a plan
  // Largest idle instances first, so that as few warm instances as possible are lost.
  std::vector<InstanceId> idle = view.idle_instances(s);
  std::stable_sort(idle.begin(), idle.end(), [&](InstanceId a, InstanceId b) {
    return view.instance(a).gpus.size() > view.instance(b).gpus.size();
  });
  for (InstanceId i : idle) {
    if (have >= needed) break;
    plan.push_back(i);
    have += static_cast<std::uint32_t>(view.instance(i).gpus.size());
  }
  if (have < needed) return std::nullopt;
  return plan;
}

}  // namespace sllm
