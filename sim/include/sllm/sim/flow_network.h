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
#include "sllm/core/units.h"

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
  // Removes a finished flow; `now` must be its completion time from next_completion() (else throws
  // std::logic_error: the caller missed a rate change).
  void complete(FlowId id, Nanos now);

  // Changes link `l`'s bandwidth from `now` (a fault: degraded, or 0 while out); the flows sharing links
  // with it get new rates (a flow over a link of bandwidth 0 stalls: it never completes until raised).
  void set_capacity(LinkId l, double bytes_per_second, Nanos now);
  // Active flows crossing link `l` now, in no particular order (valid until the next change).
  std::span<const FlowId> flows_on(LinkId l) const { return link_flows_[l]; }

  // Earliest (completion time, flow) among active flows, rounded up to whole nanoseconds;
  // ties go to the flow started first.
  std::optional<std::pair<Nanos, FlowId>> next_completion() const;

  // The accessors below require an active flow (std::logic_error otherwise).
  bool active(FlowId id) const;
  double rate(FlowId id) const;                   // current bytes/s
  double remaining(FlowId id, Nanos now) const;   // bytes left at `now` under current rates
  std::uint64_t tag(FlowId id) const;
  std::size_t active_count() const;
  // Active flows crossing link `l` now (what a new flow would share it with).
  std::size_t flows_crossing(LinkId l) const { return l < link_flows_.size() ? link_flows_[l].size() : 0; }
  // Changes whenever a flow starts or leaves: answers derived from flows_crossing() stay valid until then.
  std::uint64_t version() const { return version_; }
  // Sum of the current rates of the flows crossing link `l` (bytes/s): for recorders, never the hot path.
  double link_rate(LinkId l) const;
  std::size_t link_count() const { return link_flows_.size(); }

 private:
  static constexpr Nanos kNever = std::numeric_limits<Nanos>::max();
  struct Flow {
    std::vector<LinkId> path;  // capacity reused when the slot is reused
    double remaining = 0;      // bytes left at `updated_at` (progress is accounted lazily)
    Nanos updated_at = 0;
    double rate = 0;
    double rate_cap = std::numeric_limits<double>::infinity();
    Nanos finish = kNever;     // completion under the current rate, rounded up to whole ns
    std::uint64_t tag = 0;
    std::uint64_t start_seq = 0;  // tie-breaker for equal completion times
    std::uint32_t heap_pos = 0;   // index in completions_
    bool is_active = false;
    bool frozen = false;          // scratch for progressive filling
    double new_rate = 0;          // scratch for progressive filling
    std::uint64_t visit = 0;      // scratch: component search epoch
  };
  const Flow& checked(FlowId id, const char* what) const;
  void check_time(Nanos now, const char* what) const;
  void remove(FlowId id);
  // Recomputes the rates of every flow connected (through shared links) to `seeds` and, if given, to
  // `seed_flow`; flows elsewhere keep their rates. `now` is when the new rates take effect.
  void recompute_rates(std::span<const LinkId> seeds, FlowId seed_flow, Nanos now);
  void progressive_filling();        // scans every link per step: best for few steps
  void progressive_filling_large();  // continues with the same steps, using a heap of link shares
  void freeze(Flow& f, double rate);
  void set_rate(FlowId id, double rate, Nanos now);
  // completions_ is a binary min-heap of the active flows (all of them) by (finish, start_seq):
  // next_completion() is O(1).
  bool completes_before(FlowId x, FlowId y) const;
  void heap_place(std::size_t pos, FlowId id);
  void heap_fix(std::size_t pos);

  std::vector<double> capacity_;  // per LinkId
  std::vector<Flow> flows_;       // slot per FlowId, reused after completion
  std::vector<FlowId> free_ids_;
  std::vector<FlowId> completions_;
  std::vector<std::vector<FlowId>> link_flows_;  // per LinkId: active flows crossing it
  std::uint64_t next_start_seq_ = 0;
  std::uint64_t version_ = 0;
  Nanos last_update_ = 0;
  // Scratch for recompute_rates (kept to avoid allocating per start/end).
  std::uint64_t epoch_ = 0;
  std::vector<std::uint64_t> link_visit_;
  std::vector<double> link_left_;          // capacity not yet handed out
  std::vector<std::uint32_t> link_unfrozen_;
  std::vector<FlowId> comp_flows_;
  std::vector<LinkId> comp_links_;
  std::size_t unfrozen_ = 0;
  std::vector<std::uint32_t> link_order_;  // per LinkId: its index in comp_links_ (tie-breaker)
  struct Share {
    double share;
    std::uint32_t order;  // index in comp_links_
  };
  std::vector<Share> share_heap_;
  std::vector<std::pair<double, std::uint32_t>> caps_;  // (rate cap, index in comp_flows_), sorted
};

}  // namespace sllm
