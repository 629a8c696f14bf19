#include "load_queue.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "sim_events.h"

namespace sllm {

LoadQueue::LoadQueue(ClusterState& state, EventQueue& queue, LoadListener& listener)
    : st_(state), queue_(queue), listener_(listener), flows_(state.topology()), loads_(state.loads) {}

LoadId LoadQueue::enqueue(Instance& inst, Tier tier, const LoadOptions& options) {
  if (tier == Tier::kWarm) throw std::logic_error("a load from the warm tier");
  Server& server = st_.servers[inst.server];
  const LoadId lid = loads_.take();
  Load& load = loads_[lid];
  load = Load{};
  load.instance = inst.id;
  load.server = inst.server;
  load.model = inst.model;
  load.tier = tier;
  load.bytes = st_.models[inst.model].deployed->checkpoint_bytes;
  const auto gpus = static_cast<std::uint32_t>(inst.gpus.size());
  const ClusterState::LoaderCost cost = st_.loader_cost(inst.server, tier, gpus, load.bytes, options);
  load.estimate = st_.estimate_load(inst.server, inst.model, tier, gpus, options);
  load.fill_and_init = cost.after_transfer;
  load.rate_cap = cost.rate_cap;
  load.options = options;
  inst.load = lid;
  inst.loaded_from = tier;
  // Pin the source so that eviction cannot remove it while it is queued or read.
  if (tier == Tier::kSsd) server.ssd_cache.pin(inst.model);
  if (tier == Tier::kDram) server.dram_cache.pin(inst.model);
  ++started_;
  ++started_by_tier_[static_cast<int>(tier)];
  if (transfers_.size() <= lid) transfers_.resize(std::size_t{lid} + 1);
  transfers_[lid].flows.clear();
  transfers_[lid].ready_at = -1;
  transfers_[lid].ready_event = EventId{};
  active_.push_back(lid);
  if (!options.queued) {  // loads independently of the server's queue (its wait is not this load's)
    start(lid);
    return lid;
  }
  server.queue_estimated_end = std::max(server.queue_estimated_end, now()) + load.estimate;
  server.load_queue.push_back(lid);
  if (server.load_queue.size() == 1) start(lid);
  return lid;
}

void LoadQueue::start(LoadId lid) {
  Load& load = loads_[lid];
  Instance& inst = st_.instances[load.instance];
  const Server& server = st_.servers[load.server];
  load.started = now();
  inst.load_started = now();
  const VertexId src = st_.source_vertex(load.server, load.tier);
  const double gpus = static_cast<double>(inst.gpus.size());
  const double per_gpu = static_cast<double>(load.bytes) / gpus;
  for (std::uint32_t g : inst.gpus) {
    transfers_[lid].flows.push_back(
        flows_.start(st_.topology().path(src, server.gpu_vertex[g]), per_gpu, now(), load.rate_cap / gpus, lid));
  }
  load.flows_left = static_cast<std::uint32_t>(inst.gpus.size());
  if (observer_ != nullptr) observer_->on_flows_changed(flows_, now());
  reschedule_flow_event();
}

void LoadQueue::reschedule_flow_event() {
  const auto next = flows_.next_completion();
  if (next && next->first == flow_event_time_) return;
  queue_.cancel(flow_event_);
  flow_event_ = EventId{};
  flow_event_time_ = -1;
  if (next) {
    flow_event_ = queue_.schedule(next->first, sim_events::kFlowDone);
    flow_event_time_ = next->first;
  }
}

void LoadQueue::on_flow_done() {
  flow_event_ = EventId{};
  flow_event_time_ = -1;
  for (auto next = flows_.next_completion(); next && next->first <= now(); next = flows_.next_completion()) {
    const FlowId fid = next->second;
    const auto lid = static_cast<LoadId>(flows_.tag(fid));
    flows_.complete(fid, now());
    std::erase(transfers_[lid].flows, fid);  // the id may be reused by another load's flow
    Load& load = loads_[lid];
    if (--load.flows_left == 0) {
      transfers_[lid].flows.clear();
      transfers_[lid].ready_at = now() + load.fill_and_init;
      transfers_[lid].ready_event = queue_.schedule(transfers_[lid].ready_at, sim_events::kLoadReady, lid);
    }
  }
  if (observer_ != nullptr) observer_->on_flows_changed(flows_, now());
  reschedule_flow_event();
}

void LoadQueue::on_load_ready(LoadId lid) {
  const Load load = loads_[lid];  // the slot is reused by the next enqueue; the listener gets this copy
  Server& server = st_.servers[load.server];
  Instance& inst = st_.instances[load.instance];
  // A load populates the tiers it passed through (pipelined through DRAM; remote loads also land on SSD).
  if (load.tier == Tier::kSsd) server.ssd_cache.unpin(load.model);
  if (load.tier == Tier::kDram) server.dram_cache.unpin(load.model);
  if (load.tier == Tier::kRemote && load.options.populate_ssd) server.ssd_cache.insert(load.model, load.bytes, now());
  if (load.tier == Tier::kSsd) server.ssd_cache.touch(load.model, now());
  if (load.options.populate_dram) server.dram_cache.insert(load.model, load.bytes, now());
  inst.ready = now();
  inst.load = kNone;
  finish(lid);
  listener_.on_loaded(load, inst);
}

void LoadQueue::finish(LoadId lid) {
  Server& server = st_.servers[loads_[lid].server];
  const bool queued = loads_[lid].options.queued;
  const bool was_front = !server.load_queue.empty() && server.load_queue.front() == lid;
  std::erase(server.load_queue, lid);
  std::erase(active_, lid);
  loads_.release(lid);
  if (!queued) return;  // it loaded beside the server's queue, whose loads and estimates it did not change
  if (!server.load_queue.empty()) {
    Nanos end = now();
    for (LoadId q : server.load_queue) end += loads_[q].estimate;
    server.queue_estimated_end = end;
    if (was_front) start(server.load_queue.front());
  } else {
    server.queue_estimated_end = now();
  }
}

Nanos LoadQueue::time_to_ready(LoadId lid) const {
  const Load& load = loads_[lid];
  const Transfer& t = transfers_[lid];
  if (t.ready_at >= 0) return t.ready_at - now();
  if (load.started >= 0) {
    double seconds = 0;
    for (FlowId f : t.flows) {
      const double rate = flows_.rate(f);
      if (!(rate > 0)) return std::numeric_limits<Nanos>::max() / 4;
      seconds = std::max(seconds, flows_.remaining(f, now()) / rate);
    }
    return from_seconds(seconds) + load.fill_and_init;
  }
  // Queued: behind the loads ahead of it on its server.
  const auto& q = st_.servers[load.server].load_queue;
  Nanos ahead = 0;
  for (LoadId other : q) {
    if (other == lid) break;
    ahead = other == q.front() ? time_to_ready(other) : ahead + loads_[other].estimate;
  }
  return ahead + load.estimate;
}

bool LoadQueue::cancellable(LoadId lid) const { return transfers_[lid].ready_at < 0; }

void LoadQueue::cancel(LoadId lid) {
  if (!cancellable(lid)) throw std::logic_error("LoadQueue::cancel: the load's transfer is over");
  ++cancelled_;
  abandon(lid);
}

void LoadQueue::fail(LoadId lid) {
  if (!cancellable(lid)) {
    queue_.cancel(transfers_[lid].ready_event);
    transfers_[lid].ready_event = EventId{};
    transfers_[lid].ready_at = -1;
  }
  ++failed_;
  abandon(lid);
}

void LoadQueue::loads_over(LinkId l, std::vector<LoadId>& out) const {
  out.clear();
  for (FlowId f : flows_.flows_on(l)) out.push_back(static_cast<LoadId>(flows_.tag(f)));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

void LoadQueue::set_link_capacity(LinkId l, double bytes_per_second, Nanos now) {
  flows_.set_capacity(l, bytes_per_second, now);
  if (observer_ != nullptr) observer_->on_flows_changed(flows_, now);
  reschedule_flow_event();
}

void LoadQueue::abandon(LoadId lid) {
  const Load& load = loads_[lid];
  Server& server = st_.servers[load.server];
  if (load.tier == Tier::kSsd) server.ssd_cache.unpin(load.model);
  if (load.tier == Tier::kDram) server.dram_cache.unpin(load.model);
  for (FlowId f : transfers_[lid].flows) flows_.cancel(f, now());
  transfers_[lid].flows.clear();
  if (load.started >= 0) {
    if (observer_ != nullptr) observer_->on_flows_changed(flows_, now());
    reschedule_flow_event();
  }
  st_.instances[load.instance].load = kNone;
  finish(lid);
}

}  // namespace sllm
