// Per-server FIFO loading queues: a load waits behind the loads queued before it on its server, then
// transfers as one flow per GPU over the topology (sharing links with other servers' loads), then pays
// pipeline fill + runtime init. Its loader mode (LoadOptions::loader) may cap the flows' rate and replace
// what follows the transfer (ClusterState::loader_cost); a load with LoadOptions::queued false (systems
// whose replicas load independently) starts at once, outside the queue and its wait estimate. The queue pins the checkpoint's source tier while a load is queued or
// read, fills the tiers a load passed through when it finishes, and keeps each server's
// queue_estimated_end (what policies see as the loading-queue wait). It schedules kFlowDone and
// kLoadReady events and tells its listener when an instance's checkpoint is in place.
#pragma once

#include <cstdint>
#include <vector>

#include "sllm/sim/cluster.h"
#include "sllm/sim/event_queue.h"
#include "sllm/sim/flow_network.h"
#include "run_observer.h"
#include "slot_pool.h"

namespace sllm {

class LoadListener {
 public:
  // `load` (a copy: its slot is already free) finished at now(); `inst` is its instance, with ready set.
  virtual void on_loaded(const Load& load, Instance& inst) = 0;

 protected:
  ~LoadListener() = default;
};

class LoadQueue {
 public:
  LoadQueue(ClusterState& state, EventQueue& queue, LoadListener& listener);

  // Queues the load of `inst`'s checkpoint from `tier` onto its GPUs (inst.gpus is final); it starts
  // at once when the server's queue was empty. Sets inst.load and inst.loaded_from.
  LoadId enqueue(Instance& inst, Tier tier, const LoadOptions& options);
  // The kFlowDone event: every flow finishing now completes; loads whose last flow ended get their
  // kLoadReady after fill + init.
  void on_flow_done();
  // The kLoadReady event of `id`.
  void on_load_ready(LoadId id);

  // Time from now until load `id` is ready: for the transferring load, its slowest flow's remaining
  // bytes at the current rate plus fill and init; for a queued one, the time to ready of the load
  // ahead of it plus its own estimate; after the transfer, the scheduled ready time.
  Nanos time_to_ready(LoadId id) const;
  // Whether `id` can still be abandoned: queued or transferring (not in fill and init).
  bool cancellable(LoadId id) const;
  // Abandons a cancellable load (its instance is being unloaded): its flows stop, its source is
  // unpinned, and the server's queue moves on. Nothing is populated.
  void cancel(LoadId id);
  // Abandons load `id` at any stage because its server, a GPU or a link it crosses failed: as cancel(),
  // and during fill and init its kLoadReady is withdrawn. Counted in loads_failed(), not loads_cancelled().
  void fail(LoadId id);
  // A link's bandwidth changed (a fault): the flows over it are re-rated and the next completion moved.
  void set_link_capacity(LinkId l, double bytes_per_second, Nanos now);
  // The loads whose transfer crosses link `l` now (into `out`, cleared first; each once, ascending).
  void loads_over(LinkId l, std::vector<LoadId>& out) const;
  std::uint64_t loads_failed() const { return failed_; }
  // Loads queued or in progress, in the order they were enqueued (valid until the next change).
  const std::vector<LoadId>& active() const { return active_; }
  std::uint64_t loads_cancelled() const { return cancelled_; }

  // The transfers in flight: what a new load's links are shared with (contention-aware estimates).
  const FlowNetwork& flows() const { return flows_; }
  std::uint64_t loads_started() const { return started_; }
  std::uint64_t loads_started(Tier tier) const { return started_by_tier_[static_cast<int>(tier)]; }

  // Recorders (null: none; the hooks then cost one branch).
  void set_observer(RunObserver* observer) { observer_ = observer; }

 private:
  Nanos now() const { return queue_.now(); }
  void start(LoadId id);
  void reschedule_flow_event();
  void finish(LoadId id);  // releases the slot and starts the server's next queued load
  void abandon(LoadId id);  // what cancel() and fail() share

  ClusterState& st_;
  EventQueue& queue_;
  LoadListener& listener_;
  FlowNetwork flows_;
  SlotPool<Load> loads_;
  EventId flow_event_;
  Nanos flow_event_time_ = -1;
  std::uint64_t started_ = 0;
  std::uint64_t started_by_tier_[3] = {};  // remote, ssd, dram
  std::uint64_t cancelled_ = 0;
  std::uint64_t failed_ = 0;
  // Per LoadId: the flows of its transfer (capacity kept across reuse) and, once the last flow ended,
  // when kLoadReady fires (-1 before).
  struct Transfer {
    std::vector<FlowId> flows;
    Nanos ready_at = -1;
    EventId ready_event;
  };
  std::vector<Transfer> transfers_;
  std::vector<LoadId> active_;
  RunObserver* observer_ = nullptr;
};

}  // namespace sllm
