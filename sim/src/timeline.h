// output.timeline: the run as a Chrome/Perfetto trace-event file (DIR/timeline.json, docs/timeline.md).
// One process per server with a thread per GPU (complete slices for loading, prefill, decode, idle,
// migrating, hand-off), a `links` process with a counter per link (bytes/s), sampled requests as async
// slices, and instant events for placement decisions. Bounded: only the time window, only sampled
// requests, at most spec.max_events events. Deterministic: same run => same bytes.
#pragma once

#include <string>
#include <vector>

#include "run_observer.h"
#include "sllm/sim/scenario.h"

namespace sllm {

class TimelineRecorder final : public RunObserver {
 public:
  TimelineRecorder(const ClusterState& state, const TimelineSpec& spec);

  // Is request `id` in the sample (a hash of the id below request_sample: stable across runs)?
  static bool sampled(std::uint64_t id, double share);

  void on_arrival(const RequestState&, Nanos) override {}
  void on_request_finished(const RequestState& r, Nanos now) override;
  void on_instance_phase(const Instance& inst, Nanos now) override;
  void on_instance_ended(const Instance& inst, Nanos now) override;
  void on_load_finished(const Load&, Nanos) override {}
  void on_flows_changed(const FlowNetwork& flows, Nanos now) override;
  void on_decision(const Decision& d, ModelId model, Nanos now) override;
  void advance_to(Nanos) override {}
  void finish(Nanos end, const std::string& dir) override;

 private:
  bool inside(Nanos a, Nanos b) const { return b >= spec_.start && (spec_.end < 0 || a <= spec_.end); }
  Nanos clip(Nanos t) const;
  // Room for one more event (counts the ones dropped once the bound is reached).
  bool room();
  void close_span(const Instance& inst, GpuPhase next, Nanos now);
  void write_link(LinkId l, Nanos ts, double rate);
  void async(char ph, const char* name, std::uint64_t id, Nanos t);

  const ClusterState& st_;
  TimelineSpec spec_;
  PhaseTracker phases_;
  std::vector<double> link_rate_;  // per link: the last rate seen (written once the window is open)
  bool links_open_ = false;        // the window started: counters are written as they change
  std::string events_;             // the traceEvents entries written so far, each ending in ",\n"
  std::uint64_t events_written_ = 0, events_dropped_ = 0;
};

}  // namespace sllm
