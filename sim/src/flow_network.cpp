// Max-min fair sharing by progressive filling, restricted to the flows a change can affect: a flow's
// rate depends only on flows connected to it through shared links, so a start or end recomputes just
// that connected component. A lone flow (the common case) costs one pass over its own path.
#include "sllm/sim/flow_network.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace sllm {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

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
  f.bytes = bytes;
  f.remaining = bytes;
  f.updated_at = now;
  f.rate = 0;
  f.rate_cap = rate_cap;
  f.finish = kNever;
  f.tag = tag;
  f.start_seq = next_start_seq_++;
  f.active_pos = static_cast<std::uint32_t>(active_.size());
  f.is_active = true;
  active_.push_back(id);
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

void FlowNetwork::remove(FlowId id) {
  Flow& f = flows_[id];
  for (LinkId l : f.path) {
    auto& on_link = link_flows_[l];
    auto it = std::find(on_link.begin(), on_link.end(), id);
    *it = on_link.back();
    on_link.pop_back();
  }
  const FlowId moved = active_.back();
  active_[f.active_pos] = moved;
  flows_[moved].active_pos = f.active_pos;
  active_.pop_back();
  f.is_active = false;
  free_ids_.push_back(id);
}

void FlowNetwork::set_rate(Flow& f, double rate, Nanos now) {
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
    Flow& f = flows_[comp_flows_[0]];
    double r = f.rate_cap;
    for (LinkId l : f.path) r = std::min(r, capacity_[l]);
    set_rate(f, r, now);
    return;
  }
  progressive_filling();
  for (FlowId id : comp_flows_) set_rate(flows_[id], flows_[id].new_rate, now);
}

// Raises all unfrozen flows together; whichever constraint binds first (a link's remaining capacity
// split among its unfrozen flows, or a flow's own cap) freezes its flows at that level.
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
  std::size_t unfrozen = comp_flows_.size();
  auto freeze = [&](Flow& f, double r) {
    f.frozen = true;
    f.new_rate = r;
    --unfrozen;
    for (LinkId l : f.path) {
      link_left_[l] = std::max(0.0, link_left_[l] - r);
      --link_unfrozen_[l];
    }
  };
  while (unfrozen > 0) {
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

std::optional<std::pair<Nanos, FlowId>> FlowNetwork::next_completion() const {
  std::optional<std::pair<Nanos, FlowId>> best;
  std::uint64_t best_seq = 0;
  for (FlowId id : active_) {
    const Flow& f = flows_[id];
    if (f.finish == kNever) continue;
    if (!best || f.finish < best->first || (f.finish == best->first && f.start_seq < best_seq)) {
      best = std::make_pair(f.finish, id);
      best_seq = f.start_seq;
    }
  }
  return best;
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

std::size_t FlowNetwork::active_count() const { return active_.size(); }

}  // namespace sllm
