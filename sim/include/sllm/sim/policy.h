// Pluggable policies and what they see. A policy gets a read-only ClusterView (free GPUs, residency per
// tier, loading-queue waits, instances and their requests' progress) and returns a Decision; the
// Simulator carries it out. Policies are registered by name (registry.h) from one file each in
// policies/src/ and configured by their YAML section (`policy:` for the scheduler,
// `policy.keep_alive:`, `policy.eviction.{dram,ssd}:`).
//
// Mechanisms a Decision can ask for (the simulator carries them out; policies only decide):
//  - Decision::unload_idle: idle instances to unload first (keep-alive reclaim), carried out now;
//  - Decision::preempt: running instances to stop, their requests put back in their model's queue
//    from scratch (progress lost and counted), carried out now (Shepherd-style preemption);
//  - Decision::migrate: running instances to move live to another server (token-based, multi-round,
//    driven by MigrationProtocol); the new instance takes the chosen server's free GPUs now and the
//    migrating instances' GPUs as each migration hands off, then loads;
//  - Decision::load (LoadOptions: populate_dram / populate_ssd / extra_startup): cache-less systems (Ray Serve), container
//    start-up (KServe);
//  - KeepAlivePolicy::prewarm_delay: reload a model ahead of demand after it was unloaded (hybrid
//    histogram keep-alive);
//  - SchedulingPolicy::on_load_finished sees every load's estimated and actual time, so estimators
//    can be refined from observations.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sllm/sim/cluster.h"
#include "sllm/core/migration_protocol.h"
#include "sllm/core/registry.h"

namespace sllm {

struct RequestProgress {
  std::uint64_t id = 0;
  std::uint32_t input_tokens = 0;
  std::uint32_t output_tokens = 0;  // target
  std::uint32_t generated = 0;      // produced so far (as of the view's `now`)
  std::uint32_t preemptions = 0;    // times this request was restarted from scratch
};

class CostModel;

class ClusterView {
 public:
  ClusterView(const ClusterState& state, Nanos now, const CostModel* cost = nullptr)
      : state_(state), now_(now), cost_(cost) {}

  Nanos now() const { return now_; }
  const ClusterState& state() const { return state_; }
  std::uint32_t server_count() const { return static_cast<std::uint32_t>(state_.servers.size()); }
  std::uint32_t model_count() const { return static_cast<std::uint32_t>(state_.models.size()); }

  const Server& server(ServerId s) const { return state_.servers[s]; }
  std::uint32_t free_gpus(ServerId s) const { return state_.gpu_accounting.free(s); }
  std::uint32_t total_gpus(ServerId s) const { return state_.gpu_accounting.total(s); }
  // GPUs held by idle instances of other models on `s` (reclaimable through Decision::unload_idle).
  std::uint32_t idle_gpus(ServerId s) const;
  std::vector<InstanceId> idle_instances(ServerId s) const;  // oldest-idle-first is not tracked: by id

  bool holds(ServerId s, ModelId m, Tier t) const { return state_.holds(s, m, t); }
  Tier best_tier(ServerId s, ModelId m) const { return state_.best_tier(s, m); }
  std::uint64_t checkpoint_bytes(ModelId m) const { return state_.models[m].deployed->checkpoint_bytes; }
  std::uint32_t gpus_needed(ModelId m) const { return state_.models[m].gpus_per_instance; }
  double tier_bandwidth(ServerId s, Tier t, std::uint32_t gpus) const { return state_.tier_bandwidth(s, t, gpus); }
  Nanos estimate_load(ServerId s, ModelId m, Tier t) const {
    return state_.estimate_load(s, m, t, gpus_needed(m));
  }
  // q: estimated time until the server's queued and running loads finish (0 when its queue is empty).
  Nanos loading_queue_wait(ServerId s) const;
  std::size_t loading_queue_length(ServerId s) const { return state_.servers[s].load_queue.size(); }

  const Instance& instance(InstanceId i) const { return state_.instances[i]; }
  std::span<const InstanceId> instances_on(ServerId s) const { return state_.servers[s].instances; }
  std::span<const InstanceId> instances_of(ModelId m) const { return state_.models[m].instances; }
  std::uint32_t queued_requests(ModelId m) const { return state_.models[m].queued_live; }
  // Progress of each request an instance serves, as of now (decode progress computed in closed form).
  std::vector<RequestProgress> progress(InstanceId i) const;
  // Serving and can be preempted or migrated: decoding or in prefill, not part of a migration, not
  // waiting for GPUs.
  bool movable(InstanceId i) const;
  // Largest preemption count among the model's waiting requests (a policy can refuse to let a
  // restarted request preempt others, so that preemption cannot ping-pong).
  std::uint32_t waiting_preemptions(ModelId m) const;
  // One prefill pass of `tokens` tokens (sum of squared sequence lengths `squares`) of `m` on the GPU
  // type of server `s`, from the run's cost model (what a migration round's recomputation costs).
  double prefill_seconds(ModelId m, ServerId s, std::uint64_t tokens, double squares) const;

 private:
  const ClusterState& state_;
  Nanos now_;
  const CostModel* cost_;
};

// Move running instance `instance` to `destination` (loading from `tier` there, after unloading the
// idle instances `unload_idle` on the destination).
struct MigrationOrder {
  InstanceId instance = kNone;
  ServerId destination = kNone;
  Tier tier = Tier::kRemote;
  std::vector<InstanceId> unload_idle;
  MigrationConfig protocol;  // stop rule
};

// What to do about a model that needs one more instance.
struct Decision {
  enum class Action : std::uint8_t {
    kStart,   // start an instance on `server`, loading from `tier`
    kWait,    // no placement now: retry when resources change
    kReject,  // never placeable: reject the model's waiting requests
  };
  Action action = Action::kWait;
  ServerId server = kNone;
  Tier tier = Tier::kRemote;
  std::vector<InstanceId> unload_idle;  // on `server`, unloaded before placing
  std::vector<InstanceId> preempt;      // on `server`, stopped (requests restart from scratch)
  std::vector<MigrationOrder> migrate;  // on `server`, moved away live; their GPUs go to the new instance
  Nanos estimated_startup = 0;          // the policy's estimate (reported to on_load_finished)
  LoadOptions load;                     // copies left behind, extra start-up (e.g. KServe's container)

  static Decision wait() { return {}; }
  static Decision reject() {
    Decision d;
    d.action = Action::kReject;
    return d;
  }
};

class SchedulingPolicy {
 public:
  static constexpr const char* kKind = "scheduling policy";
  virtual ~SchedulingPolicy() = default;
  // `model` has more demand than its instances can take; place one more instance (or wait).
  virtual Decision place(const ClusterView& view, ModelId model) = 0;
  // Observations for estimators that learn (estimate = what the queue/tier model predicted).
  virtual void on_load_finished(ServerId, ModelId, Tier, Nanos /*estimated*/, Nanos /*actual*/) {}
  // False lets the simulator skip asking while no free or idle GPUs exist anywhere (a policy that can
  // preempt or migrate running instances must return true).
  virtual bool may_preempt() const { return false; }
  // True when the policy uses busy GPUs only by moving their instances onto free or idle GPUs elsewhere
  // (live migration): the simulator then still skips asking while no free or idle GPU exists anywhere.
  virtual bool moves_need_spare_gpus() const { return false; }
};

class KeepAlivePolicy {
 public:
  static constexpr const char* kKind = "keep-alive policy";
  virtual ~KeepAlivePolicy() = default;
  virtual void on_request(ModelId /*model*/, Nanos /*now*/) {}
  // How long an instance of `model` that just became idle stays loaded (kNever: forever).
  virtual Nanos keep_alive(ModelId model, Nanos now) = 0;
  // After an instance of `model` was unloaded at `now`: load one again this much later, ahead of demand
  // (the scheduling policy places it as for a request); nullopt: only on demand. A pre-warmed instance
  // that nobody uses idles under keep_alive() like any other.
  virtual std::optional<Nanos> prewarm_delay(ModelId /*model*/, Nanos /*now*/) { return std::nullopt; }
  static constexpr Nanos kNever = INT64_MAX;
};

using SchedulingRegistry = Registry<SchedulingPolicy>;
using KeepAliveRegistry = Registry<KeepAlivePolicy>;
using EvictionRegistry = Registry<EvictionPolicy>;

// Shared helper for placement policies: the unload list that frees `needed` GPUs on `s` from idle
// instances (fewest needed, lowest ids first), or nullopt when free + idle GPUs are not enough.
std::optional<std::vector<InstanceId>> reclaim_plan(const ClusterView& view, ServerId s, std::uint32_t needed);

}  // namespace sllm
