// Continuous batching on one instance at a time: admission of its model's waiting requests (up to
// max_batch and within the KV-cache token budget), prefill passes, fixed-batch decode segments run in
// closed form to the next batch change, and completions. The batcher schedules kInstanceStep events;
// what happens around serving (idling, finishing a request's record, a migration taking over) is the
// listener's.
#pragma once

#include <cstdint>

#include "sllm/sim/cluster.h"
#include "sllm/sim/cost_model.h"
#include "run_observer.h"
#include "sim_events.h"
#include "sllm/sim/event_queue.h"

namespace sllm {

class BatchListener {
 public:
  // `inst` has nothing to serve (no request running, none admissible).
  virtual void on_nothing_to_serve(Instance& inst) = 0;
  // `slot` produced its last token on `inst` and left its batch (KV and in-service counts released).
  virtual void on_request_done(Instance& inst, RequestSlot slot) = 0;
  // A batch change on `inst` after its completions; true when the listener took the instance over
  // (a migration stops or releases it), false to let the batcher admit and go on.
  virtual bool on_batch_change(Instance& inst) = 0;

 protected:
  ~BatchListener() = default;
};

class Batcher {
 public:
  Batcher(ClusterState& state, EventQueue& queue, const CostModel& cost, BatchListener& listener)
      : st_(state), queue_(queue), cost_(cost), listener_(listener) {}

  // KV-cache tokens a request reserves for its whole life: input + output.
  static std::uint64_t kv_need(const RequestState& r) {
    return static_cast<std::uint64_t>(r.spec.input_tokens) + r.spec.output_tokens;
  }
  // The oldest request still waiting in `m`'s queue (stale entries are dropped); nullptr when none.
  const RequestState* queue_head(ModelRuntime& m);
  // Does `need` more KV tokens and one more request fit `inst` now?
  static bool fits(const Instance& inst, std::uint64_t need) {
    return inst.batch() < inst.max_batch && inst.kv_tokens_reserved + need <= inst.kv_token_budget;
  }

  // Admits the model's waiting requests while they fit (cancelling their timeouts), then starts a
  // prefill pass over them, else a decode segment of the running batch, else reports nothing to serve.
  void try_admit(Instance& inst);
  // A decoding `inst` takes waiting requests at its next step boundary (the step in progress finishes).
  void admit_at_next_step(Instance& inst);
  // The kInstanceStep event of `id`: prefill ends (first tokens) or a decode segment reaches its end.
  void on_step(InstanceId id);
  // Moves `inst`'s next batch change to `t` (cancelling the one scheduled).
  void schedule_step(Instance& inst, Nanos t) {
    queue_.cancel(inst.next_event);
    inst.next_event = queue_.schedule(t, sim_events::kInstanceStep, inst.id);
    inst.next_event_time = t;
  }

  // Recorders (null: none; the hooks then cost one branch).
  void set_observer(RunObserver* observer) { observer_ = observer; }

 private:
  Nanos now() const { return queue_.now(); }
  bool can_admit_head(ModelRuntime& m, const Instance& inst);
  void start_prefill(Instance& inst);
  void start_segment(Instance& inst);

  ClusterState& st_;
  EventQueue& queue_;
  const CostModel& cost_;
  BatchListener& listener_;
  RunObserver* observer_ = nullptr;
};

}  // namespace sllm
