#include "sllm/sim/policy.h"

#include <algorithm>

namespace sllm {

std::optional<std::vector<InstanceId>> reclaim_plan(const ClusterView& view, ServerId s, std::uint32_t needed) {
  std::uint32_t have = view.free_gpus(s);
  std::vector<InstanceId> plan;
  if (have >= needed) return plan;
  if (have + view.idle_gpus(s) < needed) return std::nullopt;  // cheap check before building a plan
  // Largest idle instances first, so that as few warm instances as possible are lost.
  std::vector<InstanceId> idle = view.idle_instances(s);
  std::stable_sort(idle.begin(), idle.end(),
                   [&](InstanceId a, InstanceId b) { return view.instance(a).gpus > view.instance(b).gpus; });
  for (InstanceId i : idle) {
    if (have >= needed) break;
    plan.push_back(i);
    have += view.instance(i).gpus;
  }
  if (have < needed) return std::nullopt;
  return plan;
}

}  // namespace sllm
