// Max-min fair sharing by progressive filling, restricted to the flows a change can affect: a flow's
// rate depends only on flows connected to it through shared links, so a start or end recomputes just
// that connected component. A lone flow (the common case) costs one pass over its own path. Progress
// is accounted lazily (a flow's bytes are brought up to date only when its rate changes) and the next
// completion is the root of a heap, so nothing scans all active flows.
#include "sllm/sim/flow_network.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace sllm {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Progressive filling scans all links for this many steps (each step freezes every flow at one level;
// one or two steps are typical), then continues with a heap of link shares.
constexpr int kScanSteps = 4;

// Whole nanoseconds needed to move `bytes` at `rate`, rounded up. The tiny relative slack keeps an
// exact result (2 s computed as 2.0000000000000004e9 ns) from being pushed to the next nanosecond.
Nanos duration_ceil(double bytes, double rate) {
  const double ns = bytes / rate * 1e9;
  return static_cast<Nanos>(std::ceil(ns * (1 - 1e-12)));
}

}  // namespace

FlowNetwork::FlowNetwork(const Topology& topology) {
  capacity_.reserve(topology.link_count());
  for (LinkId l = 0; l < topology.link_count(); ++l) capacity_.push_back(topology.link(l).bandwidth);
  link_flows_.resize(capacity_.size());
  link_visit_.assign(capacity_.size(), 0);
  link_left_.assign(capacity_.size(), 0);
  link_unfrozen_.assign(capacity_.size(), 0);
  link_order_.assign(capacity_.size(), 0);
}

void FlowNetwork::check_time(Nanos now, const char* what) const {
  if (now < last_update_) {
    throw std::logic_error(std::string("FlowNetwork::") + what + " at " + std::to_string(now) +
                           " ns, before the previous change at " + std::to_string(last_update_) + " ns");
  }
}

const FlowNetwork::Flow& FlowNetwork::checked(FlowId id, const char* what) const {
  if (id >= flows_.size() || !flows_[id].is_active) {
    throw std::logic_error(std::string("FlowNetwork::") + what + ": flow " + std::to_string(id) +
                           " is not active");
  }
  return flows_[id];
}

FlowId FlowNetwork::start(std::span<const LinkId> path, double bytes, Nanos now, double rate_cap,
                          std::uint64_t tag) {
  check_time(now, "start");
  ++version_;
  if (!(bytes >= 0) || !std::isfinite(bytes)) throw std::logic_error("FlowNetwork::start: bad byte count");
  if (!(rate_cap > 0)) throw std::logic_error("FlowNetwork::start: rate cap must be positive");
  for (LinkId l : path) {
    if (l >= capacity_.size()) throw std::logic_error("FlowNetwork::start: no link " + std::to_string(l));
  }
  FlowId id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    id = static_cast<FlowId>(flows_.size());
    flows_.emplace_back();
  }
  Flow& f = flows_[id];
  f.path.assign(path.begin(), path.end());
  f.remaining = bytes;
  f.updated_at = now;
  f.rate = 0;
  f.rate_cap = rate_cap;
  f.finish = kNever;
  f.tag = tag;
  f.start_seq = next_start_seq_++;
  f.is_active = true;
  completions_.push_back(id);  // finish = never: it belongs at the end until its rate is set
  f.heap_pos = static_cast<std::uint32_t>(completions_.size() - 1);
  for (LinkId l : path) link_flows_[l].push_back(id);
  last_update_ = now;
  recompute_rates(path, id, now);
  return id;
}

double FlowNetwork::cancel(FlowId id, Nanos now) {
  checked(id, "cancel");
  check_time(now, "cancel");
  const double left = remaining(id, now);
  last_update_ = now;
  remove(id);
  recompute_rates(flows_[id].path, id, now);
  return left;
}

void FlowNetwork::complete(FlowId id, Nanos now) {
  const Flow& f = checked(id, "complete");
  check_time(now, "complete");
  if (now != f.finish) {
    throw std::logic_error("FlowNetwork::complete: flow " + std::to_string(id) + " completes at " +
                           (f.finish == kNever ? std::string("never") : std::to_string(f.finish) + " ns") +
                           ", not at " + std::to_string(now) + " ns (missed a next_completion() change?)");
  }
  last_update_ = now;
  remove(id);
  recompute_rates(flows_[id].path, id, now);
}

void FlowNetwork::set_capacity(LinkId l, double bytes_per_second, Nanos now) {
  if (l >= capacity_.size()) throw std::logic_error("FlowNetwork::set_capacity: no link " + std::to_string(l));
  if (!(bytes_per_second >= 0) || !std::isfinite(bytes_per_second)) {
    throw std::logic_error("FlowNetwork::set_capacity: bad bandwidth");
  }
  check_time(now, "set_capacity");
  capacity_[l] = bytes_per_second;
  if (link_flows_[l].empty()) return;
  last_update_ = now;
  const LinkId seed[1] = {l};
  recompute_rates(seed, link_flows_[l].front(), now);
}

void FlowNetwork::remove(FlowId id) {
  ++version_;
  Flow& f = flows_[id];
  for (LinkId l : f.path) {
    auto& on_link = link_flows_[l];
    auto it = std::find(on_link.begin(), on_link.end(), id);
    *it = on_link.back();
    on_link.pop_back();
  }
  const std::size_t pos = f.heap_pos;
  const FlowId last = completions_.back();
  completions_.pop_back();
  if (last != id) {
    heap_place(pos, last);
    heap_fix(pos);
  }
  f.is_active = false;
  free_ids_.push_back(id);
}

bool FlowNetwork::completes_before(FlowId x, FlowId y) const {
  const Flow& a = flows_[x];
  const Flow& b = flows_[y];
  return a.finish != b.finish ? a.finish < b.finish : a.start_seq < b.start_seq;
}

void FlowNetwork::heap_place(std::size_t pos, FlowId id) {
  completions_[pos] = id;
  flows_[id].heap_pos = static_cast<std::uint32_t>(pos);
}

// Restores the heap order around `pos` after its flow's finish time changed (either direction).
void FlowNetwork::heap_fix(std::size_t pos) {
  const FlowId id = completions_[pos];
  while (pos > 0 && completes_before(id, completions_[(pos - 1) / 2])) {
    heap_place(pos, completions_[(pos - 1) / 2]);
    pos = (pos - 1) / 2;
  }
  for (;;) {
    std::size_t child = 2 * pos + 1;
    if (child >= completions_.size()) break;
    if (child + 1 < completions_.size() && completes_before(completions_[child + 1], completions_[child])) ++child;
    if (!completes_before(completions_[child], id)) break;
    heap_place(pos, completions_[child]);
    pos = child;
  }
  heap_place(pos, id);
}

void FlowNetwork::set_rate(FlowId id, double rate, Nanos now) {
  Flow& f = flows_[id];
  if (rate == f.rate && f.finish != kNever) return;  // unchanged: the lazy account stays valid
  if (f.finish <= now) {
    f.remaining = 0;  // done by now at its old rate (its completion event is due at `now`)
  } else if (now > f.updated_at && f.rate > 0) {
    f.remaining = std::max(0.0, f.remaining - f.rate * static_cast<double>(now - f.updated_at) / 1e9);
  }
  f.updated_at = now;
  f.rate = rate;
  if (f.remaining <= 0 || rate == kInf) {
    f.finish = now;
  } else if (rate > 0) {
    f.finish = now + duration_ceil(f.remaining, rate);
  } else {
    f.finish = kNever;
  }
  heap_fix(f.heap_pos);
}

void FlowNetwork::recompute_rates(std::span<const LinkId> seeds, FlowId seed_flow, Nanos now) {
  // Collect the connected component: links reach flows, flows reach their links.
  ++epoch_;
  comp_flows_.clear();
  comp_links_.clear();
  auto visit_link = [&](LinkId l) {
    if (link_visit_[l] == epoch_) return;
    link_visit_[l] = epoch_;
    comp_links_.push_back(l);
  };
  for (LinkId l : seeds) visit_link(l);
  if (flows_[seed_flow].is_active) {
    flows_[seed_flow].visit = epoch_;
    comp_flows_.push_back(seed_flow);
  }
  for (std::size_t i = 0; i < comp_links_.size(); ++i) {
    for (FlowId id : link_flows_[comp_links_[i]]) {
      Flow& f = flows_[id];
      if (f.visit == epoch_) continue;
      f.visit = epoch_;
      comp_flows_.push_back(id);
      for (LinkId l : f.path) visit_link(l);
    }
  }
  if (comp_flows_.empty()) return;

  if (comp_flows_.size() == 1) {
    // Alone on its links: the slowest link or its own cap.
    const Flow& f = flows_[comp_flows_[0]];
    double r = f.rate_cap;
    for (LinkId l : f.path) r = std::min(r, capacity_[l]);
    set_rate(comp_flows_[0], r, now);
    return;
  }
  progressive_filling();
  for (FlowId id : comp_flows_) set_rate(id, flows_[id].new_rate, now);
}

void FlowNetwork::freeze(Flow& f, double rate) {
  f.frozen = true;
  f.new_rate = rate;
  --unfrozen_;
  for (LinkId l : f.path) {
    link_left_[l] = std::max(0.0, link_left_[l] - rate);
    --link_unfrozen_[l];
  }
}

// Raises all unfrozen flows together; whichever constraint binds first (a link's remaining capacity
// split among its unfrozen flows, or a flow's own cap) freezes its flows at that level. Ties go to
// links over caps, and otherwise to the earliest link in comp_links_ / flow in comp_flows_, so that
// the scanning steps here and the heap-based steps of progressive_filling_large() are the same steps
// with the same arithmetic: where one hands over to the other does not change any rate.
void FlowNetwork::progressive_filling() {
  for (LinkId l : comp_links_) {
    link_left_[l] = capacity_[l];
    link_unfrozen_[l] = 0;
  }
  for (FlowId id : comp_flows_) {
    Flow& f = flows_[id];
    f.frozen = false;
    for (LinkId l : f.path) ++link_unfrozen_[l];
  }
  unfrozen_ = comp_flows_.size();
  for (int step = 0; unfrozen_ > 0; ++step) {
    if (step == kScanSteps) {
      progressive_filling_large();  // many distinct levels: finish with the heap
      return;
    }
    double level = kInf;
    LinkId bottleneck_link = 0;
    bool link_binds = false;
    for (LinkId l : comp_links_) {
      if (link_unfrozen_[l] == 0) continue;
      const double share = link_left_[l] / link_unfrozen_[l];
      if (share < level) {
        level = share;
        bottleneck_link = l;
        link_binds = true;
      }
    }
    FlowId capped = 0;
    bool cap_binds = false;
    for (FlowId id : comp_flows_) {
      const Flow& f = flows_[id];
      if (!f.frozen && f.rate_cap < level) {
        level = f.rate_cap;
        capped = id;
        cap_binds = true;
      }
    }
    if (cap_binds) {
      freeze(flows_[capped], level);
    } else if (link_binds) {
      for (FlowId id : link_flows_[bottleneck_link]) {
        if (!flows_[id].frozen) freeze(flows_[id], level);
      }
    } else {
      // Only flows with no links and no cap are left: they finish instantly.
      for (FlowId id : comp_flows_) {
        if (!flows_[id].frozen) freeze(flows_[id], kInf);
      }
    }
  }
}

// Continues progressive_filling() from its current state when a component has many distinct levels
// (e.g. hundreds of loads with different bottlenecks behind the remote store's link): link shares sit
// in a lazy min-heap (an entry is current while it equals the link's share) and caps in a sorted
// list, so a step costs O(log) instead of a scan of every link and flow.
void FlowNetwork::progressive_filling_large() {
  caps_.clear();
  for (std::uint32_t i = 0; i < comp_links_.size(); ++i) link_order_[comp_links_[i]] = i;
  for (std::uint32_t i = 0; i < comp_flows_.size(); ++i) {
    const Flow& f = flows_[comp_flows_[i]];
    if (!f.frozen && f.rate_cap < kInf) caps_.emplace_back(f.rate_cap, i);
  }
  std::sort(caps_.begin(), caps_.end());

  // Min-heap on (share, order): std heap functions with a "greater" comparison.
  auto later = [](const Share& x, const Share& y) {
    return x.share != y.share ? x.share > y.share : x.order > y.order;
  };
  share_heap_.clear();
  for (std::uint32_t i = 0; i < comp_links_.size(); ++i) {
    const LinkId l = comp_links_[i];
    if (link_unfrozen_[l] > 0) share_heap_.push_back(Share{link_left_[l] / link_unfrozen_[l], i});
  }
  std::make_heap(share_heap_.begin(), share_heap_.end(), later);
  auto freeze_and_requeue = [&](Flow& f, double rate) {
    freeze(f, rate);
    for (LinkId l : f.path) {
      if (link_unfrozen_[l] == 0) continue;
      share_heap_.push_back(Share{link_left_[l] / link_unfrozen_[l], link_order_[l]});
      std::push_heap(share_heap_.begin(), share_heap_.end(), later);
    }
  };

  std::size_t next_cap = 0;
  while (unfrozen_ > 0) {
    // Drop stale entries: links that lost all unfrozen flows or whose share has changed since.
    while (!share_heap_.empty()) {
      const Share& top = share_heap_.front();
      const LinkId l = comp_links_[top.order];
      if (link_unfrozen_[l] > 0 && top.share == link_left_[l] / link_unfrozen_[l]) break;
      std::pop_heap(share_heap_.begin(), share_heap_.end(), later);
      share_heap_.pop_back();
    }
    while (next_cap < caps_.size() && flows_[comp_flows_[caps_[next_cap].second]].frozen) ++next_cap;
    const double link_level = share_heap_.empty() ? kInf : share_heap_.front().share;
    if (next_cap < caps_.size() && caps_[next_cap].first < link_level) {
      freeze_and_requeue(flows_[comp_flows_[caps_[next_cap].second]], caps_[next_cap].first);
    } else if (!share_heap_.empty()) {
      const LinkId l = comp_links_[share_heap_.front().order];
      for (FlowId id : link_flows_[l]) {
        if (!flows_[id].frozen) freeze_and_requeue(flows_[id], link_level);
      }
    } else {
      for (FlowId id : comp_flows_) {
        if (!flows_[id].frozen) freeze(flows_[id], kInf);
      }
    }
  }
}

std::optional<std::pair<Nanos, FlowId>> FlowNetwork::next_completion() const {
  if (completions_.empty()) return std::nullopt;
  const Flow& f = flows_[completions_.front()];
  if (f.finish == kNever) return std::nullopt;
  return std::make_pair(f.finish, completions_.front());
}

bool FlowNetwork::active(FlowId id) const { return id < flows_.size() && flows_[id].is_active; }

double FlowNetwork::rate(FlowId id) const { return checked(id, "rate").rate; }

double FlowNetwork::remaining(FlowId id, Nanos now) const {
  const Flow& f = checked(id, "remaining");
  if (now < f.updated_at) throw std::logic_error("FlowNetwork::remaining: time before the last rate change");
  if (now >= f.finish) return 0;
  return std::max(0.0, f.remaining - f.rate * static_cast<double>(now - f.updated_at) / 1e9);
}

std::uint64_t FlowNetwork::tag(FlowId id) const { return checked(id, "tag").tag; }

std::size_t FlowNetwork::active_count() const { return completions_.size(); }

double FlowNetwork::link_rate(LinkId l) const {
  double sum = 0;
  for (FlowId id : link_flows_[l]) sum += flows_[id].rate;
  return sum;
}

}  // namespace sllm
