// Transfers as fluid flows over paths of links. Concurrent flows share each link's bandwidth max-min
// fairly (progressive filling); rates are recomputed only when a flow starts, ends or is cancelled, and
// between those moments every flow progresses linearly, so completions are computed in closed form.
//
// Usage by the simulator: after any start/complete/cancel, ask next_completion() and (re)schedule one
// event for it; when that event fires, call complete().
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <vector>

#include "sllm/sim/topology.h"
#include "sllm/sim/units.h"

namespace sllm {

using FlowId = std::uint32_t;

class FlowNetwork {
 public:
  // Link capacities come from the topology (bytes per second per LinkId).
  explicit FlowNetwork(const Topology& topology);

  // Starts moving `bytes` over `path` at time `now` (>= the time of the previous call). `rate_cap` bounds
  // this flow's rate (e.g. a loader's own throughput limit). `tag` is returned by tag() for the owner.
  FlowId start(std::span<const LinkId> path, double bytes, Nanos now,
               double rate_cap = std::numeric_limits<double>::infinity(), std::uint64_t tag = 0);
  // Removes a flow before it finishes (e.g. its request timed out); returns bytes still unsent.
  double cancel(FlowId id, Nanos now);
  // Removes a finished flow; `now` must be its completion time from next_completion().
  void complete(FlowId id, Nanos now);

  // Earliest (completion time, flow) among active flows, rounded up to whole nanoseconds;
  // ties go to the flow started first.
  std::optional<std::pair<Nanos, FlowId>> next_completion() const;

  bool active(FlowId id) const;
  double rate(FlowId id) const;                   // current bytes/s
  double remaining(FlowId id, Nanos now) const;   // bytes left at `now` under current rates
  std::uint64_t tag(FlowId id) const;
  std::size_t active_count() const;

 private:
  struct Flow;
  void advance(Nanos now);
  void recompute_rates();

  std::vector<double> capacity_;  // per LinkId
  std::vector<Flow> flows_;       // slot per FlowId, reused after completion
  std::vector<FlowId> free_ids_;
  std::vector<FlowId> active_;
  Nanos last_update_ = 0;
};

}  // namespace sllm
