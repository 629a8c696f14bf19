// The simulator side of live migration (token-based, multi-round, driven by MigrationProtocol with
// simulated time): the destination loads the model through the load queue; each round it recomputes
// the KV cache of the tokens sent (one batched prefill, attention over the context already there)
// while the source keeps decoding; on the stop rule the source finishes its current step and freezes;
// after the final round the requests continue at the destination and the source's GPUs go to the
// instance waiting for them on the source's server. Protocol events are fed at the moments they matter
// (the source's progress is read from its decode segment in closed form, so no per-token events).
// Schedules kMigrationRound events.
#pragma once

#include <cstdint>
#include <vector>

#include "batcher.h"
#include "load_queue.h"
#include "run_observer.h"
#include "slot_pool.h"
#include "sllm/core/migration_protocol.h"
#include "sllm/sim/cluster.h"
#include "sllm/sim/cost_model.h"
#include "sllm/sim/event_queue.h"
#include "sllm/sim/policy.h"

namespace sllm {

class MigrationListener {
 public:
  // A new instance of `model` on `server` taking its GPUs now (the destination of a migration).
  virtual InstanceId create_destination(ModelId model, ServerId server) = 0;
  // Unload `id` (a released source, or a destination whose migration was dropped).
  virtual void unload(InstanceId id) = 0;
  // A source's GPUs went back to the cluster: waiting placements may now fit.
  virtual void on_source_released() = 0;
  // One request resumed at its destination after a hand-off pause of `pause`.
  virtual void on_request_migrated(Nanos pause) = 0;

 protected:
  ~MigrationListener() = default;
};

// Counted per inference (request), for the run summary.
struct MigrationCounts {
  std::uint64_t started = 0, completed = 0, dropped = 0, rounds = 0, tokens = 0;
};

class MigrationDriver {
 public:
  MigrationDriver(ClusterState& state, EventQueue& queue, const CostModel& cost, Batcher& batcher,
                  LoadQueue& loads, MigrationListener& listener)
      : st_(state), queue_(queue), cost_(cost), batcher_(batcher), loads_(loads), listener_(listener) {}

  // Starts moving the decoding instance order.instance to order.destination (its idle instances there
  // already unloaded); its GPUs go to `beneficiary` (on the source's server) at the hand-off.
  void start(const MigrationOrder& order, InstanceId beneficiary);
  // The destination `dest` finished loading.
  void on_destination_loaded(Instance& dest);
  // The kMigrationRound event.
  void on_round(std::uint32_t mid, int round);
  // `slot` finished at the migrating `source` before the hand-off: its inference leaves the migration.
  void drop_finished(Instance& source, RequestSlot slot);
  // A batch change of the migrating `source`: true when the migration took it over (every inference
  // finished there first, so the migration is dropped and the source released; or the stop rule fired
  // and the source freezes).
  bool on_source_batch_change(Instance& source) { return source.migration != kNone && take_over_source(source); }

  // A fault hit the source or destination of migration `mid`: the migration ends where it is (no
  // hand-off), its instances are left to the caller, and `parts` gets the source, the destination and
  // the beneficiary when it still waits for GPUs from it (else kNone).
  struct Parts {
    InstanceId source = kNone, destination = kNone, beneficiary = kNone;
  };
  Parts abort(std::uint32_t mid);

  const MigrationCounts& counts() const { return counts_; }

  // Recorders (null: none; the hooks then cost one branch).
  void set_observer(RunObserver* observer) { observer_ = observer; }

 private:
  // One running instance being moved live: one MigrationProtocol per inference of its batch. They
  // advance in lockstep (every decoding request gains one token per step, and each round recomputes
  // all of them in one batched prefill at the destination).
  struct Migration {
    InstanceId source = kNone, destination = kNone;
    InstanceId beneficiary = kNone;  // the instance waiting on the source's server for its GPUs
    std::uint32_t beneficiary_generation = 0;
    std::vector<RequestSlot> slots;
    std::vector<MigrationProtocol> protocols;
    int round = 0;
    bool stopping = false;
    Nanos stop_time = -1;
    EventId round_event;
  };

  Nanos now() const { return queue_.now(); }
  bool take_over_source(Instance& source);
  std::uint64_t steps_now(const Instance& inst) const { return inst.decode_steps_at(now()); }
  void sync_source(Migration& mg);
  void apply(std::uint32_t mid, const std::vector<std::optional<MigrationCommand>>& commands);
  // Brings the protocols up to the source's progress, feeds each the same event (`feed` calls one of
  // MigrationProtocol's event methods) and carries out the batch's command.
  template <class Feed>
  void advance_protocols(std::uint32_t mid, Feed feed);
  void request_source_stop(Migration& mg);
  void freeze_source(Instance& inst);
  void resume_at_destination(std::uint32_t mid);
  void end_migration(std::uint32_t mid);
  void release_source(InstanceId id, InstanceId beneficiary, std::uint32_t generation);
  void give_gpus(InstanceId beneficiary, std::uint32_t generation);

  ClusterState& st_;
  EventQueue& queue_;
  const CostModel& cost_;
  Batcher& batcher_;
  LoadQueue& loads_;
  MigrationListener& listener_;
  std::vector<Migration> migrations_;
  SlotPool<Migration> pool_{migrations_};
  MigrationCounts counts_;
  RunObserver* observer_ = nullptr;
};

}  // namespace sllm
