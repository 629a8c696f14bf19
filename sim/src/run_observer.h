// What the simulator reports to its recorders (timeline.json, timeseries.csv, models.csv, servers.csv):
// an observer interface called from the event loop and the mechanisms (batcher, load queue, migration
// driver) at the moments state changes. Observers only read; they never schedule events, so recording
// cannot change a run. When no output asks for them the mechanisms hold a null observer and pay one
// predictable branch per hook.
#pragma once

#include <cstdint>
#include <vector>

#include "sllm/sim/cluster.h"
#include "sllm/sim/flow_network.h"
#include "sllm/sim/policy.h"

namespace sllm {

// What an instance's GPUs are doing, as drawn on a GPU track.
// kMigrating: a migration's source decoding while its context is copied; kReceiving: the destination,
// loaded, recomputing the rounds sent; kHandoff: the source stopped, waiting for the final round.
enum class GpuPhase : std::uint8_t { kLoading, kIdle, kPrefill, kDecode, kMigrating, kReceiving, kHandoff, kOff };
const char* to_string(GpuPhase p);
GpuPhase phase_of(const Instance& inst);
inline bool is_busy(GpuPhase p) { return p == GpuPhase::kPrefill || p == GpuPhase::kDecode || p == GpuPhase::kMigrating; }

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  // A request arrived (`r` is filled in, not yet queued).
  virtual void on_arrival(const RequestState& r, Nanos now) = 0;
  // A request left the system (r.outcome set; completion set when completed).
  virtual void on_request_finished(const RequestState& r, Nanos now) = 0;
  // `inst`'s phase (phase_of) may have changed: called after each state change (recorders ignore a call
  // that changes nothing). A GPU set that grows is bracketed by on_instance_ended before and
  // on_instance_phase after, so that a span always covers one unchanged GPU set.
  virtual void on_instance_phase(const Instance& inst, Nanos now) = 0;
  // `inst` is about to give its GPUs back (unload), or to take more.
  virtual void on_instance_ended(const Instance& inst, Nanos now) = 0;
  // A load finished (its instance's `ready` is now).
  virtual void on_load_finished(const Load& load, Nanos now) = 0;
  // Flows started or finished: link rates may have changed.
  virtual void on_flows_changed(const FlowNetwork& flows, Nanos now) = 0;
  // The scheduling policy started an instance of `model` (decision d, kStart).
  virtual void on_decision(const Decision& d, ModelId model, Nanos now) = 0;
  // The next event is at `t`: state is constant until then (fixed-interval sampling happens here).
  virtual void advance_to(Nanos t) = 0;
  // The run ended at `end` (the makespan): close what is open and write the files into `dir`.
  virtual void finish(Nanos end, const std::string& dir) = 0;
};

// Per instance slot: the phase it is in and since when; closing a span hands back what it covered.
class PhaseTracker {
 public:
  struct Span {
    GpuPhase phase = GpuPhase::kOff;
    Nanos start = 0, end = 0;
  };
  // Closes the open span of `inst` (if any) at `now` and opens the next one (kOff: none).
  Span change(const Instance& inst, GpuPhase next, Nanos now) {
    if (inst.id >= open_.size()) open_.resize(inst.id + 1);  // grows with the instance table only
    Open& o = open_[inst.id];
    const Span closed{o.phase, o.since, now};
    o.phase = next;
    o.since = now;
    return closed;
  }
  GpuPhase phase(InstanceId id) const { return id < open_.size() ? open_[id].phase : GpuPhase::kOff; }

 private:
  struct Open {
    GpuPhase phase = GpuPhase::kOff;
    Nanos since = 0;
  };
  std::vector<Open> open_;
};

// Forwards to the enabled recorders (at most two: timeline, time series).
class ObserverFanout final : public RunObserver {
 public:
  void add(RunObserver* o) { list_.push_back(o); }
  bool empty() const { return list_.empty(); }
  void on_arrival(const RequestState& r, Nanos now) override { for (auto* o : list_) o->on_arrival(r, now); }
  void on_request_finished(const RequestState& r, Nanos now) override {
    for (auto* o : list_) o->on_request_finished(r, now);
  }
  void on_instance_phase(const Instance& inst, Nanos now) override {
    for (auto* o : list_) o->on_instance_phase(inst, now);
  }
  void on_instance_ended(const Instance& inst, Nanos now) override {
    for (auto* o : list_) o->on_instance_ended(inst, now);
  }
  void on_load_finished(const Load& load, Nanos now) override { for (auto* o : list_) o->on_load_finished(load, now); }
  void on_flows_changed(const FlowNetwork& flows, Nanos now) override {
    for (auto* o : list_) o->on_flows_changed(flows, now);
  }
  void on_decision(const Decision& d, ModelId model, Nanos now) override {
    for (auto* o : list_) o->on_decision(d, model, now);
  }
  void advance_to(Nanos t) override { for (auto* o : list_) o->advance_to(t); }
  void finish(Nanos end, const std::string& dir) override { for (auto* o : list_) o->finish(end, dir); }

 private:
  std::vector<RunObserver*> list_;
};

}  // namespace sllm
