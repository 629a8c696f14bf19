// The policy API: everything a policy may see and do, in one header. A policy lives in one file in
// policies/src/, includes only this header, registers itself by name (SLLM_REGISTER, registry.h) and is
// chosen and configured by its YAML section (`policy:` for the scheduler, `policy.keep_alive:`,
// `policy.eviction.{dram,ssd}:`), read through ConfigNode.
//
// Three kinds of policy:
//  - SchedulingPolicy::place(view, model): a model needs one more instance; the policy answers with a
//    Decision after querying the read-only ClusterView (GPUs per server, checkpoint residency per tier,
//    load-time estimates, loading-queue waits, instances as InstanceInfo and their requests' progress).
//    The view answers in plain values as of one instant and is valid only during the call.
//  - KeepAlivePolicy: how long an idle instance stays loaded, and optional pre-warming.
//  - EvictionPolicy: which checkpoint a server's DRAM pool or SSD evicts next.
//
// Mechanisms a Decision can ask for (the simulator carries them out; policies only decide):
//  - Decision::unload_idle: idle instances to unload first (keep-alive reclaim), carried out now;
//  - Decision::preempt: running instances to stop, their requests put back in their model's queue
//    from scratch (progress lost and counted), carried out now (Shepherd-style preemption);
//  - Decision::migrate: running instances to move live to another server (token-based, multi-round,
//    driven by MigrationProtocol); the new instance takes the chosen server's free GPUs now and the
//    migrating instances' GPUs as each migration hands off, then loads;
//  - Decision::load (LoadOptions: populate_dram / populate_ssd / extra_startup / loader / queued):
//    cache-less systems (Ray Serve), container start-up (KServe), the system's loader mode and whether
//    its loads wait in the server's FIFO loading queue;
//  - KeepAlivePolicy::prewarm_delay: reload a model ahead of demand after it was unloaded (hybrid
//    histogram keep-alive);
//  - SchedulingPolicy::on_load_finished sees every load's estimated and actual time, so estimators
//    can be refined from observations.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "sllm/core/ids.h"
#include "sllm/core/migration_protocol.h"
#include "sllm/core/registry.h"
#include "sllm/core/units.h"
#include "sllm/sim/loading.h"

namespace sllm {

// What an instance is doing, as a policy sees it.
enum class InstancePhase : std::uint8_t {
  kLoading,  // GPUs reserved, checkpoint on its way (or waiting for GPUs a migration hands over)
  kIdle,     // loaded, serving nobody (its keep-alive timer runs); Decision::unload_idle may unload it
  kPrefill,  // a prefill pass over newly admitted requests
  kDecode,   // decoding; every request it serves has its first token
  kHandoff,  // a migration's source, stopped until the destination resumes its requests
};

struct InstanceInfo {
  ModelId model = 0;
  ServerId server = 0;
  InstancePhase phase = InstancePhase::kLoading;
  std::uint32_t gpus = 0;  // GPUs it holds on its server (what unloading or stopping it frees)
  // Serving (prefill or decode), not part of a migration and not waiting for GPUs: it may be named in
  // Decision::preempt, and in Decision::migrate when decoding.
  bool movable = false;
};

struct RequestProgress {
  std::uint64_t id = 0;
  std::uint32_t input_tokens = 0;
  std::uint32_t output_tokens = 0;  // target
  std::uint32_t generated = 0;      // produced so far (as of the view's instant)
  std::uint32_t preemptions = 0;    // times this request was restarted from scratch
};

// The cluster as a policy sees it, at one instant. Ids are dense: servers 0..server_count()-1, models
// as deployed; instance ids come from instances_on() and idle_instances().
class ClusterView {
 public:
  virtual ~ClusterView() = default;

  // Servers and their GPUs.
  virtual std::uint32_t server_count() const = 0;
  virtual std::uint32_t total_gpus(ServerId s) const = 0;
  virtual std::uint32_t free_gpus(ServerId s) const = 0;
  // GPUs held by idle instances on `s` (reclaimable through Decision::unload_idle).
  virtual std::uint32_t idle_gpus(ServerId s) const = 0;
  virtual std::vector<InstanceId> idle_instances(ServerId s) const = 0;  // by id
  virtual std::span<const InstanceId> instances_on(ServerId s) const = 0;  // alive, in no particular order
  // q: estimated time until the server's queued and running loads finish (0 when its queue is empty).
  virtual Nanos loading_queue_wait(ServerId s) const = 0;

  // Checkpoints: where they are and what loading one costs.
  // Does `s` hold the checkpoint of `m` in tier `t` (kRemote: always; kWarm: never, not a load source).
  virtual bool holds(ServerId s, ModelId m, Tier t) const = 0;
  virtual Tier best_tier(ServerId s, ModelId m) const = 0;  // the fastest of DRAM, SSD, remote holding it
  // A lone load of `m` from `t` to GPUs of `s`: transfer through the slowest link of the path, pipeline
  // fill and runtime initialisation (no queueing, no contention).
  // With `options`: the load in options.loader's mode, plus options.extra_startup (ClusterState::loader_cost).
  virtual Nanos estimate_load(ServerId s, ModelId m, Tier t, const LoadOptions& options) const = 0;
  Nanos estimate_load(ServerId s, ModelId m, Tier t) const { return estimate_load(s, m, t, LoadOptions{}); }
  // The paper's b: the bandwidth (bytes/s) a lone load from `t` to `gpus` GPUs of `s` gets.
  virtual double tier_bandwidth(ServerId s, Tier t, std::uint32_t gpus) const = 0;

  // Models: 0..model_count()-1, as deployed.
  virtual std::uint32_t model_count() const = 0;
  virtual std::uint32_t gpus_needed(ModelId m) const = 0;  // GPUs per instance
  virtual std::uint64_t checkpoint_bytes(ModelId m) const = 0;
  // Largest preemption count among the model's waiting requests (a policy can refuse to let a
  // restarted request preempt others, so that preemption cannot ping-pong).
  virtual std::uint32_t waiting_preemptions(ModelId m) const = 0;
  // One prefill pass of `tokens` tokens (sum of squared sequence lengths `squares`) of `m` on the GPU
  // type of server `s`, from the run's cost model (what a migration round's recomputation costs).
  virtual double prefill_seconds(ModelId m, ServerId s, std::uint64_t tokens, double squares) const = 0;

  // Instances (alive ones only).
  virtual InstanceInfo instance(InstanceId i) const = 0;
  // Progress of each request the instance serves (decoding first, then those in its prefill pass).
  virtual std::vector<RequestProgress> progress(InstanceId i) const = 0;
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
  // Requests of `loading`'s model wait for it, and its load will take `ready_in` more (the flows'
  // remaining bytes at their current rates, or the queue's estimates ahead of it, plus fill and init).
  // Asked when GPUs free up while loads are in flight; `spare` lists the servers with free or idle GPUs
  // (ascending). A kStart decision on one of them (no migrations or preemptions) starts a replacement:
  // the simulator abandons `loading`'s load, unloads it, then carries the decision out. Anything else
  // keeps the load. The default keeps every load.
  virtual Decision replace_load(const ClusterView& /*view*/, InstanceId /*loading*/, Nanos /*ready_in*/,
                                std::span<const ServerId> /*spare*/) {
    return Decision::wait();
  }
  // Observations for estimators that learn (estimate = what the queue/tier model predicted).
  virtual void on_load_finished(ServerId, ModelId, Tier, Nanos /*estimated*/, Nanos /*actual*/) {}
  // False lets the simulator skip asking while no free or idle GPUs exist anywhere (a policy that can
  // preempt or migrate running instances must return true).
  virtual bool may_preempt() const { return false; }
  // True when the policy uses busy GPUs only by moving their instances onto free or idle GPUs elsewhere
  // (live migration): the simulator then still skips asking while no free or idle GPU exists anywhere.
  virtual bool moves_need_spare_gpus() const { return false; }
  // True when replace_load may answer anything but wait: a backend that cannot abandon a load in flight
  // (the real replay) refuses such a policy instead of silently running a different one.
  virtual bool may_replace_loads() const { return false; }
  // The loader mode the modelled system reads checkpoints with (sllm/core/loader_modes.h; empty: the
  // scenario's, cluster.profile.loader). Its decisions put it in Decision::load.loader; a scenario whose
  // profile has no law for it is rejected when read.
  virtual std::string_view loader_mode() const { return {}; }
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

// Orders the checkpoints of one cache (a server's DRAM pool or SSD) for eviction. One object per cache
// (it keeps per-cache state).
class EvictionPolicy {
 public:
  static constexpr const char* kKind = "eviction policy";
  virtual ~EvictionPolicy() = default;
  virtual void on_insert(ModelId model, Nanos now) = 0;
  virtual void on_access(ModelId model, Nanos now) = 0;
  virtual void on_erase(ModelId model) = 0;
  // The checkpoint to evict next among those for which `evictable` is true; nullopt when none is.
  virtual std::optional<ModelId> victim(const std::function<bool(ModelId)>& evictable) const = 0;
};

using SchedulingRegistry = Registry<SchedulingPolicy>;
using KeepAliveRegistry = Registry<KeepAlivePolicy>;
using EvictionRegistry = Registry<EvictionPolicy>;

// Shared helper for placement policies: the unload list that frees `needed` GPUs on `s` from idle
// instances (fewest needed, lowest ids first), or nullopt when free + idle GPUs are not enough.
std::optional<std::vector<InstanceId>> reclaim_plan(const ClusterView& view, ServerId s, std::uint32_t needed);

}  // namespace sllm
