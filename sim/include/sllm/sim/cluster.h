// The cluster's state during a simulation: servers built on a Topology (remote store -> switch -> NIC ->
// DRAM; SSD -> DRAM; DRAM -> host bus -> GPU i over its own PCIe link), GPU ownership, checkpoint
// residency per tier, per-server FIFO loading queues, model instances and in-flight requests.
// The Simulator mutates it; policies read it through ClusterView (policy.h).
#pragma once

#include <cstdint>
#include <array>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "sllm/sim/cost_model.h"
#include "sllm/sim/event_queue.h"
#include "sllm/sim/flow_network.h"
#include "sllm/sim/loading.h"
#include "sllm/sim/residency.h"
#include "sllm/sim/scenario.h"
#include "sllm/sim/topology.h"
#include "sllm/core/request.h"

namespace sllm {

using RequestSlot = std::uint32_t;
using LoadId = std::uint32_t;

enum class InstanceState : std::uint8_t {
  kLoading,  // GPUs reserved, checkpoint on its way (queued or transferring)
  kIdle,     // loaded, no requests (keep-alive timer running)
  kPrefill,  // a prefill pass over newly admitted requests
  kDecode,   // decoding a fixed batch until the next batch change
  kHandoff,  // migration source stopped: waiting for the destination's final recomputation
  kFree,     // slot unused
};

struct Instance {
  InstanceId id = kNone;
  ModelId model = 0;
  ServerId server = 0;
  InstanceState state = InstanceState::kFree;
  std::uint32_t generation = 0;  // bumped when the slot is reused
  std::vector<std::uint32_t> gpus;  // GPU indices on the server, ascending; written only by GpuAccounting
  Tier loaded_from = Tier::kRemote;
  LoadId load = kNone;
  Nanos created = 0;
  Nanos load_started = -1;  // flows began
  Nanos ready = -1;         // loaded
  // Serving.
  std::uint32_t max_batch = 1;
  std::uint64_t kv_token_budget = 0;
  std::uint64_t kv_tokens_reserved = 0;  // input + output of every admitted request
  std::vector<RequestSlot> running;      // have their first token; decoding
  std::vector<RequestSlot> joining;      // in the current prefill pass
  Nanos segment_start = 0;               // decode: start of the current fixed-batch run
  DecodeRun segment;
  std::uint64_t segment_max_steps = 0;   // steps until the first running request finishes
  EventId next_event;                    // batch change (prefill end, completion, admission)
  Nanos next_event_time = -1;
  EventId keep_alive_event;
  bool busy = false;                     // serving (prefill/decode), for GPU utilisation (GpuAccounting)
  // Migration: the migration this instance is the source or destination of (kNone: none).
  std::uint32_t migration = kNone;
  bool migration_destination = false;
  bool discard_when_loaded = false;      // its migration was dropped while it was loading
  // GPUs still to come from migrating instances on the same server; loads once this reaches 0.
  std::uint32_t gpus_owed = 0;
  // The deciding policy's load options, kept for the load that starts when the GPUs are handed over.
  LoadOptions deferred_load;
  std::uint32_t batch() const { return static_cast<std::uint32_t>(running.size() + joining.size()); }
  bool alive() const { return state != InstanceState::kFree; }
  // Decode steps finished by `now` in the current segment (not yet counted in `generated`); 0 unless
  // decoding.
  std::uint64_t decode_steps_at(Nanos now) const {
    return state == InstanceState::kDecode ? segment.steps_within(now - segment_start, segment_max_steps) : 0;
  }
};

// kFailed: lost to a fault while running (faults.running: lose).
enum class Outcome : std::uint8_t { kPending, kCompleted, kTimedOut, kRejected, kFailed };
const char* to_string(Outcome o);

struct RequestState {
  RequestSpec spec;
  InstanceId instance = kNone;
  std::uint32_t generated = 0;  // output tokens produced, as of the instance's segment start
  Nanos service_start = -1;     // admitted into a batch (prefill begins)
  Nanos first_token = -1;
  Nanos completion = -1;
  EventId timeout;
  Outcome outcome = Outcome::kPending;
  bool cold_start = false;      // waited for its instance's load
  Tier tier = Tier::kWarm;
  Nanos load_time = 0;
  ServerId server = kNone;
  bool in_use = false;
  // Preemption (restarted from scratch) and live migration, per request.
  std::uint32_t preemptions = 0;
  std::uint32_t lost_tokens = 0;
  std::uint32_t migrations = 0;         // completed live migrations
  std::uint32_t migration_rounds = 0;   // recomputation rounds over all its migrations
  std::uint64_t migration_tokens = 0;   // tokens sent to destinations
  Nanos migration_pause = 0;            // time stopped at sources waiting for the final round
};

struct Load {
  InstanceId instance = kNone;
  ServerId server = 0;
  ModelId model = 0;
  Tier tier = Tier::kRemote;
  std::uint64_t bytes = 0;
  Nanos started = -1;
  Nanos estimate = 0;          // estimated duration (transfer + fill + init) when enqueued
  Nanos fill_and_init = 0;     // added after the last byte arrives (ClusterState::loader_cost)
  double rate_cap = 0;         // the whole load's rate limit (bytes/s) from its loader mode's law
  std::uint32_t flows_left = 0;
  LoadOptions options;         // copies left behind (DRAM pool; SSD for remote loads), extra start-up
};

struct Server {
  ServerId id = 0;
  const ServerGroupSpec* spec = nullptr;
  VertexId nic = 0, dram = 0, bus = 0, ssd = 0;
  std::vector<VertexId> gpu_vertex;  // GPU ownership: ClusterState::gpus
  ResidencyCache dram_cache;
  ResidencyCache ssd_cache;
  // Written only by the simulator's LoadQueue (sim/src/load_queue.h).
  std::deque<LoadId> load_queue;      // FIFO; the front is transferring
  Nanos queue_estimated_end = 0;      // estimated time the queued loads finish
  std::vector<InstanceId> instances;  // alive instances on this server (unordered)
};

struct QueuedRequest {
  RequestSlot slot = kNone;
  std::uint64_t id = 0;  // the slot's request when queued: a reused slot is recognised as stale
};

// Per deployed checkpoint: its queue of waiting requests and its instances.
struct ModelRuntime {
  const DeployedModel* deployed = nullptr;
  const DeploymentSpec* deployment = nullptr;
  std::uint32_t gpus_per_instance = 1;
  std::uint64_t kv_token_budget = 0;
  std::deque<QueuedRequest> queue;  // may hold stale entries of timed-out requests (skipped)
  std::uint32_t queued_live = 0;
  std::vector<InstanceId> instances;
  std::uint32_t capacity = 0;  // sum of max_batch over alive instances
  std::uint32_t in_service = 0;  // running + joining over its instances
  bool pending = false;        // needs an instance the policy could not place yet
};

// The one owner of GPU accounting: which GPU of which server belongs to which instance (and each
// Instance::gpus list), free counts per server and cluster-wide, GPUs held by idle instances, and the
// GPU-time integrals for utilisation (allocated: held by an instance; busy: serving). Nothing else
// writes these, so the counts cannot drift apart. Every operation takes the current time because the
// integrals advance on every change (also on changes of zero GPUs: the float sums of a run depend on
// where the integral is cut).
class GpuAccounting {
 public:
  void add_server(std::uint32_t gpus);

  std::uint32_t total(ServerId s) const { return static_cast<std::uint32_t>(owner_[s].size()); }
  std::uint32_t free(ServerId s) const { return free_[s]; }
  InstanceId owner(ServerId s, std::uint32_t gpu) const { return owner_[s][gpu]; }
  std::uint32_t total() const { return total_; }
  std::uint32_t free_total() const { return free_total_; }
  std::uint32_t idle_total() const { return idle_total_; }  // held by idle instances
  std::uint32_t idle(ServerId s) const { return idle_[s]; }  // held by idle instances on `s`

  // Gives `inst` up to `want` free GPUs of its server, lowest index first, appended to inst.gpus (kept
  // ascending); returns how many it got.
  std::uint32_t take(Instance& inst, std::uint32_t want, Nanos now);
  // Frees every GPU `inst` holds (inst.gpus becomes empty). Call stop_busy/leave_idle first.
  void give_back(Instance& inst, Nanos now);
  // `inst`'s GPUs count as busy from start_busy to stop_busy (stop_busy of a non-busy instance: no-op).
  void start_busy(Instance& inst, Nanos now);
  void stop_busy(Instance& inst, Nanos now);
  // `inst`'s GPUs count as idle (reclaimable by placements) between these two.
  void enter_idle(const Instance& inst);
  void leave_idle(const Instance& inst);

  // GPU-nanoseconds allocated / busy from time 0 to `t` (t >= the last change).
  double allocated_area(Nanos t) const { return allocated_.area_until(t); }
  double busy_area(Nanos t) const { return busy_.area_until(t); }

  // Faults: a free GPU taken out of service (owner kDown: no placement gets it) and put back.
  static constexpr InstanceId kDown = kNone - 1;
  void mark_down(ServerId s, std::uint32_t gpu, Nanos now);
  void mark_up(ServerId s, std::uint32_t gpu, Nanos now);
  std::uint32_t down_total() const { return down_total_; }
  double down_area(Nanos t) const { return down_.area_until(t); }

 private:
  // Integrates a GPU count over time (GPU-nanoseconds).
  struct Meter {
    std::int64_t level = 0;
    double area = 0;
    Nanos last = 0;
    void change(Nanos t, std::int64_t delta) {
      area += static_cast<double>(level) * static_cast<double>(t - last);
      last = t;
      level += delta;
    }
    double area_until(Nanos t) const { return area + static_cast<double>(level) * static_cast<double>(t - last); }
  };
  std::vector<std::vector<InstanceId>> owner_;  // [server][gpu], kNone when free
  std::vector<std::uint32_t> free_;             // per server
  std::vector<std::uint32_t> idle_;             // per server: GPUs of idle instances
  std::uint32_t total_ = 0, free_total_ = 0, idle_total_ = 0, down_total_ = 0;
  Meter allocated_, busy_, down_;
};

class ClusterState {
 public:
  explicit ClusterState(const Scenario& scenario);

  const Scenario& scenario() const { return *scenario_; }
  const Topology& topology() const { return topology_; }

  std::vector<Server> servers;
  std::vector<ModelRuntime> models;
  std::vector<Instance> instances;  // slots; see alive()
  std::vector<RequestState> requests;  // slots of requests in flight
  std::vector<Load> loads;          // slots (the simulator's LoadQueue allocates them)
  GpuAccounting gpu_accounting;

  // A model-queue entry is stale once its request timed out, was admitted, or its slot was reused.
  bool still_waiting(const QueuedRequest& e) const {
    const RequestState& r = requests[e.slot];
    return r.in_use && r.spec.id == e.id && r.instance == kNone;
  }

  // The vertex a load from `tier` starts at on `server`.
  VertexId source_vertex(ServerId server, Tier tier) const;
  // Does `server` hold the checkpoint in `tier` (kRemote: always).
  bool holds(ServerId server, ModelId model, Tier tier) const;
  Tier best_tier(ServerId server, ModelId model) const;
  // Estimated time of a lone load of `model` from `tier` to `gpus` GPUs of `server`: bytes through each
  // link / its bandwidth (the slowest link governs), plus pipeline fill (one chunk through every other
  // link of the path) plus runtime init. Exact for a load that shares no link with another.
  Nanos estimate_load(ServerId server, ModelId model, Tier tier, std::uint32_t gpus) const;
  // The same with a load's options: its loader mode's law (loader_cost) and extra start-up included.
  Nanos estimate_load(ServerId server, ModelId model, Tier tier, std::uint32_t gpus, const LoadOptions& options) const;
  // The same load started now, with each link of its path shared max-min fairly with the flows crossing
  // it in `flows` (the paper's b taken as the fair share the load would get, not the idle link): a link
  // carrying k other flows gives this load's f flows on it f/(k+f) of its bandwidth. Loads queued behind
  // others are not counted here (a server's own queue is the loading-queue wait).
  Nanos estimate_load_shared(ServerId server, ModelId model, Tier tier, std::uint32_t gpus,
                             const FlowNetwork& flows, const LoadOptions& options = {}) const;
  // What a load's loader mode (LoadOptions::loader) adds to the transfer over the topology: a cap on the
  // whole load's rate (bytes/s; infinity: none) and the time after its last byte arrives. The scenario's
  // own mode: no cap, the modelled fill + runtime init. Another mode with law L (its SSD law; its DRAM
  // law for DRAM loads when the profile has one, else the SSD law): from SSD or DRAM, cap L.bandwidth,
  // then L.overhead + runtime init; from the remote store, no cap (the download), then
  // bytes / L.bandwidth + L.overhead + runtime init (the downloaded file read by the loader). Plus
  // options.extra_startup. Throws std::logic_error for a mode the profile has no law for (scenarios
  // reject such a policy when read).
  struct LoaderCost {
    double rate_cap = 0;
    Nanos after_transfer = 0;
  };
  LoaderCost loader_cost(ServerId server, Tier tier, std::uint32_t gpus, std::uint64_t bytes,
                         const LoadOptions& options) const;
  Nanos fill_and_init(ServerId server, Tier tier, std::uint32_t gpus) const;
  // The rate a lone load gets: the bandwidth of the slowest link on its path (the paper's b).
  double tier_bandwidth(ServerId server, Tier tier, std::uint32_t gpus) const;

 private:
  // Per server, tier (remote, ssd, dram) and GPU count: seconds per byte of a lone load and its fill +
  // init. The topology is fixed after construction, and policies ask for these for every server.
  struct LoadGeometry {
    double seconds_per_byte = 0;
    Nanos fill_and_init = 0;
  };
  const LoadGeometry& geometry(ServerId server, Tier tier, std::uint32_t gpus) const;
  void compute_geometry();
  std::vector<std::vector<LoadGeometry>> geometry_;  // [server][tier * (gpus + 1) + g]
  // The links of a load's path to GPU 0 per server and tier (remote, ssd, dram), with what the
  // contention-aware estimate needs of each, so that it walks no topology.
  struct PathLink {
    LinkId id = 0;
    double bandwidth = 0;
    bool per_gpu = false;  // into one GPU (carries bytes / gpus), else shared by the load's GPUs
  };
  std::vector<std::array<std::vector<PathLink>, 3>> load_paths_;  // [server][tier]
  // Seconds per byte under contention, per geometry entry, valid while the flows' version is unchanged:
  // policies ask for every server many times between two flow changes.
  struct SharedRate {
    std::uint64_t version = UINT64_MAX;
    double seconds_per_byte = 0;
  };
  mutable std::vector<std::vector<SharedRate>> shared_rate_;  // like geometry_

  const Scenario* scenario_;
  Topology topology_;
  VertexId remote_store_ = 0;
  VertexId switch_ = 0;
};

}  // namespace sllm
