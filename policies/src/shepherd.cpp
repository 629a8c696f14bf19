// The paper's Shepherd* baseline: locality-driven placement with preemption. The model goes to the
// server where it starts fastest (loading-queue wait + load from the best local tier), using free or
// idle GPUs, or else preempting running instances there: a preempted inference is killed and restarted
// later from scratch (its progress lost, counted in the outputs). Instances losing the least progress
// go first. To avoid preemption ping-pong, a request that was itself preempted never preempts, and an
// instance serving a request that was already preempted is not preempted again.
// Ties: no preemption first, then fewer instances stopped, then the lower server id.
#include <algorithm>

#include "sllm/sim/policy.h"

namespace sllm {
namespace {

class ShepherdPolicy final : public SchedulingPolicy {
 public:
  explicit ShepherdPolicy(const ConfigNode& params)
      : reclaim_idle_(params.get_bool("reclaim_idle", true)), preempt_(params.get_bool("preempt", true)) {}

  bool may_preempt() const override { return preempt_; }

  Decision place(const ClusterView& view, ModelId model) override {
    const std::uint32_t need = view.gpus_needed(model);
    const bool may_preempt_now = preempt_ && view.waiting_preemptions(model) == 0;
    Decision best;
    bool found = false;
    for (ServerId s = 0; s < view.server_count(); ++s) {
      if (view.total_gpus(s) < need) continue;
      Decision d;
      d.action = Decision::Action::kStart;
      d.server = s;
      d.tier = view.best_tier(s, model);
      d.estimated_startup = view.loading_queue_wait(s) + view.estimate_load(s, model, d.tier);
      if (auto plan = view.free_gpus(s) >= need ? std::optional<std::vector<InstanceId>>(std::vector<InstanceId>{})
                                                : (reclaim_idle_ ? reclaim_plan(view, s, need) : std::nullopt)) {
        d.unload_idle = std::move(*plan);
      } else if (may_preempt_now) {
        if (!preemption_plan(view, s, need, d)) continue;
      } else {
        continue;
      }
      if (!found || better(d, best)) {
        best = std::move(d);
        found = true;
      }
    }
    return found ? best : Decision::wait();
  }

 private:
  static bool better(const Decision& x, const Decision& y) {
    if (x.estimated_startup != y.estimated_startup) return x.estimated_startup < y.estimated_startup;
    if (x.preempt.size() != y.preempt.size()) return x.preempt.size() < y.preempt.size();
    return x.unload_idle.size() < y.unload_idle.size();
  }

  // Idle instances first, then running ones losing the fewest generated tokens.
  bool preemption_plan(const ClusterView& view, ServerId s, std::uint32_t need, Decision& d) const {
    std::uint32_t have = view.free_gpus(s);
    if (reclaim_idle_) {
      d.unload_idle = view.idle_instances(s);
      for (InstanceId i : d.unload_idle) have += view.instance(i).gpus;
    }
    struct Victim {
      InstanceId id;
      std::uint64_t lost;
    };
    std::vector<Victim> victims;
    for (InstanceId i : view.instances_on(s)) {
      if (!view.instance(i).movable) continue;
      std::uint64_t lost = 0;
      bool restarted_before = false;
      for (const RequestProgress& p : view.progress(i)) {
        lost += p.generated;
        restarted_before = restarted_before || p.preemptions > 0;
      }
      if (!restarted_before) victims.push_back({i, lost});
    }
    std::sort(victims.begin(), victims.end(), [](const Victim& a, const Victim& b) {
      return a.lost != b.lost ? a.lost < b.lost : a.id < b.id;
    });
    for (const Victim& v : victims) {
      if (have >= need) break;
      d.preempt.push_back(v.id);
      have += view.instance(v.id).gpus;
    }
    return have >= need;
  }

  bool reclaim_idle_;
  bool preempt_;
};

std::unique_ptr<SchedulingPolicy> make(const ConfigNode& params) { return std::make_unique<ShepherdPolicy>(params); }

SLLM_REGISTER(SchedulingPolicy, "shepherd",
              "Shepherd*: locality-driven, preempting running inferences (restarted from scratch) on the fastest server",
              make);

}  // namespace
}  // namespace sllm
