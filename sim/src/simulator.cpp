#include "sllm/sim/simulator.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <limits>
#include <stdexcept>

#include <unistd.h>

#include "sllm/sim/cluster.h"
#include "sllm/sim/cost_model.h"
#include "sllm/core/error.h"
#include "sllm/core/build_info.h"
#include "sllm/core/files.h"
#include "sllm/sim/event_queue.h"
#include "sllm/sim/flow_network.h"
#include "sllm/core/migration_protocol.h"
#include "sllm/sim/cluster_view.h"
#include "sllm/sim/policy.h"

namespace sllm {
namespace {

enum EventType : std::uint32_t {
  kArrival = 1,
  kTimeout = 2,       // a = request slot
  kInstanceStep = 3,  // a = instance id: a batch change is due (prefill end, completion, admission)
  kFlowDone = 4,      // the flow network's next completion
  kLoadReady = 5,     // a = load id: last byte arrived + pipeline fill + runtime init
  kKeepAlive = 6,     // a = instance id: idle long enough, unload
  kPrewarm = 7,       // a = model: the keep-alive policy asked to load it ahead of demand
  kMigrationRound = 8,  // a = migration id, b = round: the destination finished recomputing a round
};

// One running instance being moved live to another server: one MigrationProtocol per inference of its
// batch. They advance in lockstep (every decoding request gains one token per step, and each round
// recomputes all of them in one batched prefill at the destination).
struct Migration {
  bool in_use = false;
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

template <class T>
std::uint32_t take_slot(std::vector<T>& pool, std::vector<std::uint32_t>& free_list) {
  if (!free_list.empty()) {
    const std::uint32_t s = free_list.back();
    free_list.pop_back();
    return s;
  }
  pool.emplace_back();
  return static_cast<std::uint32_t>(pool.size() - 1);
}

// Integrates a GPU count over time (GPU-nanoseconds), for utilisation.
struct GpuMeter {
  std::int64_t level = 0;
  double area = 0;
  Nanos last = 0;
  void change(Nanos t, std::int64_t delta) {
    area += static_cast<double>(level) * static_cast<double>(t - last);
    last = t;
    level += delta;
  }
  double area_until(Nanos t) const { return area + static_cast<double>(level) * static_cast<double>(t - last); }
};

}  // namespace

class Simulator::Impl {
 public:
  explicit Impl(const Scenario& scenario)
      : sc_(scenario),
        st_(scenario),
        flows_(st_.topology()),
        cost_(make_cost_model(scenario.simulation.cost_model)) {
    ConfigNode sched_params = scenario.scheduler.params;
    scheduler_ = SchedulingRegistry::instance().create(scenario.scheduler.name, sched_params, sched_params);
    ConfigNode keep_params = scenario.keep_alive.params;
    keep_alive_ = KeepAliveRegistry::instance().create(scenario.keep_alive.name, keep_params, keep_params);
  }

  RunSummary run(const RunOptions& options);

 private:
  // --- helpers -------------------------------------------------------------------------------------
  Nanos now() const { return queue_.now(); }
  ModelRuntime& model_of(const Instance& inst) { return st_.models[inst.model]; }
  const GpuSpec& gpu_of(const Instance& inst) const { return st_.servers[inst.server].spec->gpu; }
  std::uint64_t kv_need(const RequestState& r) const {
    return static_cast<std::uint64_t>(r.spec.input_tokens) + r.spec.output_tokens;
  }
  std::uint32_t demand(const ModelRuntime& m) const { return m.in_service + m.queued_live; }

  void on_arrival();
  void pull_next_arrival();
  void on_timeout(RequestSlot slot);
  void on_instance_step(InstanceId id);
  void on_flow_done();
  void on_load_ready(LoadId id);
  void on_keep_alive(InstanceId id);
  void on_prewarm(ModelId m);

  // Live migration.
  std::uint64_t steps_now(const Instance& inst) const;
  void start_migration(const MigrationOrder& order, InstanceId beneficiary);
  void sync_source(Migration& mg);
  void apply(std::uint32_t mid, const std::vector<std::optional<MigrationCommand>>& commands);
  // Brings the protocols up to the source's progress, feeds each the same event (`feed` calls one of
  // MigrationProtocol's event methods) and carries out the batch's command.
  template <class Feed>
  void advance_protocols(std::uint32_t mid, Feed feed);
  void on_destination_loaded(Instance& dest);
  void on_migration_round(std::uint32_t mid, int round);
  void request_source_stop(Migration& mg);
  void freeze_source(Instance& inst);
  void resume_at_destination(std::uint32_t mid);
  void drop_finished(Instance& source, RequestSlot slot);
  void end_migration(std::uint32_t mid);
  void release_source(InstanceId id, InstanceId beneficiary, std::uint32_t generation);
  void give_gpus(InstanceId beneficiary, std::uint32_t generation);

  void dispatch(ModelId m);
  void ensure_capacity(ModelId m);
  bool place_once(ModelId m);  // true when an instance was started
  void retry_pending();
  InstanceId execute(const Decision& d, ModelId m);
  InstanceId create_instance(ModelId m, ServerId s, Nanos created, bool partial = false);
  void enqueue_load(InstanceId id, const Decision& d);
  void start_load(LoadId id);
  void reschedule_flow_event();
  void unload(InstanceId id);
  void preempt(InstanceId id);

  void try_admit(Instance& inst);
  const RequestState* queue_head(ModelRuntime& m);  // drops stale entries; nullptr when empty
  bool can_admit_head(ModelRuntime& m, const Instance& inst);
  void start_prefill(Instance& inst);
  void start_segment(Instance& inst);
  void go_idle(Instance& inst);
  void leave_idle(Instance& inst);
  // GPU-time accounting for utilisation: an instance's GPUs count as busy between these two.
  void start_busy(Instance& inst);
  void stop_busy(Instance& inst);
  void schedule_step(Instance& inst, Nanos t);
  void finish_request(RequestSlot slot, Outcome outcome);
  void release_request(RequestSlot slot);
  void snapshot_utilisation();

  const Scenario& sc_;
  ClusterState st_;
  EventQueue queue_{4096};
  FlowNetwork flows_;
  std::unique_ptr<CostModel> cost_;
  std::unique_ptr<SchedulingPolicy> scheduler_;
  std::unique_ptr<KeepAlivePolicy> keep_alive_;

  std::unique_ptr<RequestSource> source_;
  RequestSpec next_spec_;
  bool source_done_ = false;  // no more arrivals: pre-warming stops (so that runs end)
  std::vector<std::uint32_t> free_requests_, free_instances_, free_loads_, free_migrations_;
  std::vector<Migration> migrations_;
  std::deque<ModelId> pending_;  // models waiting for a placement, FIFO
  EventId flow_event_;
  Nanos flow_event_time_ = -1;
  std::uint32_t idle_gpus_ = 0;  // cluster-wide, in idle instances
  std::uint32_t free_gpus_ = 0;  // cluster-wide

  RequestRecorder recorder_;
  RunSummary summary_;
  Nanos last_request_event_ = 0;
  bool retrying_ = false;
  // GPU-time held by instances and in service, integrated up to the last request event (the makespan).
  GpuMeter allocated_, busy_;
  double allocated_at_makespan_ = 0, busy_at_makespan_ = 0;
};

// ---------------------------------------------------------------------------------------------------
// Arrivals, timeouts, completion.

void Simulator::Impl::pull_next_arrival() {
  if (source_->next(next_spec_)) {
    if (next_spec_.model >= st_.models.size()) {
      throw InputError("workload", "request " + std::to_string(next_spec_.id) + " names model index " +
                                       std::to_string(next_spec_.model) + " but only " +
                                       std::to_string(st_.models.size()) + " models are deployed");
    }
    if (next_spec_.arrival < now()) {
      throw InputError("workload", "request " + std::to_string(next_spec_.id) + " arrives before the previous one");
    }
    if (sc_.simulation.horizon > 0 && next_spec_.arrival > sc_.simulation.horizon) {
      source_done_ = true;
      return;
    }
    queue_.schedule(next_spec_.arrival, kArrival);
    return;
  }
  source_done_ = true;
}

void Simulator::Impl::on_arrival() {
  const std::uint32_t slot = take_slot(st_.requests, free_requests_);
  RequestState& r = st_.requests[slot];
  r = RequestState{};
  r.spec = next_spec_;
  r.in_use = true;
  ++summary_.arrived;
  const ModelId m = r.spec.model;
  keep_alive_->on_request(m, now());
  pull_next_arrival();

  ModelRuntime& mr = st_.models[m];
  if (kv_need(r) > mr.kv_token_budget || r.spec.output_tokens == 0) {
    finish_request(slot, Outcome::kRejected);  // can never fit an instance's KV cache
    return;
  }
  mr.queue.push_back({slot, r.spec.id});
  ++mr.queued_live;
  dispatch(m);
  // Armed only when not admitted at once (an idle warm instance took it): saves an event per request.
  RequestState& waiting = st_.requests[slot];
  if (waiting.instance == kNone) {
    waiting.timeout = queue_.schedule(now() + sc_.simulation.request_timeout, kTimeout, slot);
  }
  ensure_capacity(m);
}

void Simulator::Impl::on_timeout(RequestSlot slot) {
  RequestState& r = st_.requests[slot];
  ModelRuntime& mr = st_.models[r.spec.model];
  --mr.queued_live;  // still queued: admission cancels the timeout
  finish_request(slot, Outcome::kTimedOut);
  if (mr.queued_live == 0) mr.queue.clear();  // only stale entries remain
}

void Simulator::Impl::finish_request(RequestSlot slot, Outcome outcome) {
  RequestState& r = st_.requests[slot];
  r.outcome = outcome;
  if (outcome == Outcome::kCompleted) r.completion = now();
  last_request_event_ = now();
  snapshot_utilisation();
  recorder_.record(r, st_);
  release_request(slot);
}

void Simulator::Impl::snapshot_utilisation() {
  allocated_at_makespan_ = allocated_.area_until(now());
  busy_at_makespan_ = busy_.area_until(now());
}

void Simulator::Impl::release_request(RequestSlot slot) {
  st_.requests[slot].in_use = false;
  free_requests_.push_back(slot);
}

// ---------------------------------------------------------------------------------------------------
// Routing requests to instances and asking the policy for new ones.

const RequestState* Simulator::Impl::queue_head(ModelRuntime& m) {
  while (!m.queue.empty()) {
    const QueuedRequest& e = m.queue.front();
    if (st_.still_waiting(e)) return &st_.requests[e.slot];
    m.queue.pop_front();
  }
  return nullptr;
}

bool Simulator::Impl::can_admit_head(ModelRuntime& m, const Instance& inst) {
  const RequestState* r = queue_head(m);
  // A migration source takes no new requests (they would have to be migrated too).
  return r != nullptr && inst.migration == kNone && inst.batch() < inst.max_batch &&
         inst.kv_tokens_reserved + kv_need(*r) <= inst.kv_token_budget;
}

void Simulator::Impl::dispatch(ModelId m) {
  ModelRuntime& mr = st_.models[m];
  InstanceId best = kNone;
  std::uint64_t need = 0;
  bool have_head = false;
  for (InstanceId id : mr.instances) {
    Instance& inst = st_.instances[id];
    if (inst.state == InstanceState::kIdle) {
      leave_idle(inst);
      try_admit(inst);
      return;
    }
    if (inst.state != InstanceState::kDecode || inst.migration != kNone || inst.batch() >= inst.max_batch) continue;
    if (!have_head) {  // the queue's head (after dropping stale entries) decides what fits
      const RequestState* head = queue_head(mr);
      if (head == nullptr) return;
      need = kv_need(*head);
      have_head = true;
    }
    if (inst.kv_tokens_reserved + need <= inst.kv_token_budget &&
        (best == kNone || inst.batch() < st_.instances[best].batch())) {
      best = id;
    }
  }
  if (best == kNone) return;  // loading or in prefill: they take from the queue when they are ready
  // Admit at the next step boundary: the step in progress finishes first.
  Instance& inst = st_.instances[best];
  const Nanos elapsed = now() - inst.segment_start;
  const std::uint64_t k = inst.segment.steps_within(elapsed, inst.segment_max_steps);
  Nanos boundary = inst.segment_start + from_seconds(inst.segment.cumulative(k));
  if (boundary < now()) {
    boundary = inst.segment_start + from_seconds(inst.segment.cumulative(k + 1));
  }
  if (boundary < inst.next_event_time) schedule_step(inst, boundary);
}

void Simulator::Impl::ensure_capacity(ModelId m) {
  ModelRuntime& mr = st_.models[m];
  if (mr.pending) return;  // retried when resources change
  while (demand(mr) > mr.capacity) {
    if (!place_once(m)) break;
  }
}

bool Simulator::Impl::place_once(ModelId m) {
  ModelRuntime& mr = st_.models[m];
  const ClusterStateView view(st_, now(), cost_.get());
  const Decision d = scheduler_->place(view, m);
  switch (d.action) {
    case Decision::Action::kStart:
      execute(d, m);
      return true;
    case Decision::Action::kWait:
      if (!mr.pending) {
        mr.pending = true;
        pending_.push_back(m);
      }
      return false;
    case Decision::Action::kReject:
      while (!mr.queue.empty()) {
        const QueuedRequest e = mr.queue.front();
        mr.queue.pop_front();
        if (!st_.still_waiting(e)) continue;
        const RequestSlot slot = e.slot;
        queue_.cancel(st_.requests[slot].timeout);
        --mr.queued_live;
        finish_request(slot, Outcome::kRejected);
      }
      return false;
  }
  return false;
}

void Simulator::Impl::retry_pending() {
  if (pending_.empty() || retrying_) return;
  retrying_ = true;  // placements below can free/idle instances and call back here
  const std::size_t rounds = pending_.size();
  for (std::size_t i = 0; i < rounds && !pending_.empty(); ++i) {
    const ModelId m = pending_.front();
    pending_.pop_front();
    ModelRuntime& mr = st_.models[m];
    mr.pending = false;
    const std::uint32_t spare = free_gpus_ + idle_gpus_;
    const bool busy_gpus_usable = scheduler_->may_preempt() && (spare > 0 || !scheduler_->moves_need_spare_gpus());
    if (!busy_gpus_usable && spare < mr.gpus_per_instance && demand(mr) > mr.capacity) {
      mr.pending = true;  // nothing the policy could use: skip the call
      pending_.push_back(m);
      continue;
    }
    ensure_capacity(m);  // re-queues m at the back when it must still wait
  }
  retrying_ = false;
}

InstanceId Simulator::Impl::execute(const Decision& d, ModelId m) {
  if (d.server >= st_.servers.size()) throw std::logic_error("policy chose a server that does not exist");
  if (!st_.holds(d.server, m, d.tier)) {
    throw std::logic_error(std::string("policy chose to load from ") + to_string(d.tier) +
                           " but the server does not hold the checkpoint there");
  }
  for (InstanceId id : d.unload_idle) {
    const Instance& inst = st_.instances[id];
    if (inst.state != InstanceState::kIdle || inst.server != d.server) {
      throw std::logic_error("policy asked to unload an instance that is not idle on the chosen server");
    }
    unload(id);
  }
  for (InstanceId id : d.preempt) {
    if (!movable(st_.instances[id]) || st_.instances[id].server != d.server) {
      throw std::logic_error("policy asked to preempt an instance that is not serving on the chosen server");
    }
    preempt(id);
  }
  for (const MigrationOrder& order : d.migrate) {
    const Instance& inst = st_.instances[order.instance];
    if (!movable(inst) || inst.state != InstanceState::kDecode || inst.server != d.server ||
        order.destination >= st_.servers.size() || order.destination == d.server ||
        !st_.holds(order.destination, inst.model, order.tier)) {
      throw std::logic_error("policy asked to migrate an instance that is not decoding on the chosen server, "
                             "or to an invalid destination");
    }
  }
  const InstanceId id = create_instance(m, d.server, now(), !d.migrate.empty());
  Instance& inst = st_.instances[id];
  std::uint32_t migrated_gpus = 0;
  for (const MigrationOrder& order : d.migrate) {
    migrated_gpus += static_cast<std::uint32_t>(st_.instances[order.instance].gpus.size());
  }
  if (migrated_gpus < inst.gpus_owed) {
    throw std::logic_error("policy's migrations do not free enough GPUs for the new instance");
  }
  if (inst.gpus_owed == 0) {
    enqueue_load(id, d);
  } else {  // loads when the migrations hand the GPUs over (see give_gpus)
    inst.loaded_from = d.tier;
    inst.deferred_load = d.load;
  }
  for (const MigrationOrder& order : d.migrate) start_migration(order, id);
  if (!d.preempt.empty()) retry_pending();  // the preempted requests' models look for capacity
  return id;
}

InstanceId Simulator::Impl::create_instance(ModelId m, ServerId s, Nanos created, bool partial) {
  ModelRuntime& mr = st_.models[m];
  Server& server = st_.servers[s];
  if (!partial && server.free_gpus < mr.gpus_per_instance) {
    throw std::logic_error("policy placed " + mr.deployed->name + " on server" + std::to_string(s) +
                           " without enough free GPUs");
  }
  const InstanceId id = take_slot(st_.instances, free_instances_);
  Instance& inst = st_.instances[id];
  const std::uint32_t generation = inst.generation + 1;
  // Reset, keeping the vectors' capacity: a reused slot allocates nothing.
  std::vector<std::uint32_t> gpus = std::move(inst.gpus);
  std::vector<RequestSlot> running = std::move(inst.running);
  std::vector<RequestSlot> joining = std::move(inst.joining);
  gpus.clear();
  running.clear();
  joining.clear();
  inst = Instance{};
  inst.gpus = std::move(gpus);
  inst.running = std::move(running);
  inst.joining = std::move(joining);
  inst.id = id;
  inst.generation = generation;
  inst.model = m;
  inst.server = s;
  inst.state = InstanceState::kLoading;
  inst.created = created;
  inst.max_batch = mr.deployment->max_batch_size;
  inst.kv_token_budget = mr.kv_token_budget;
  for (std::uint32_t g = 0; g < server.gpu_owner.size() && inst.gpus.size() < mr.gpus_per_instance; ++g) {
    if (server.gpu_owner[g] == kNone) {
      server.gpu_owner[g] = id;
      inst.gpus.push_back(g);
    }
  }
  const auto taken = static_cast<std::uint32_t>(inst.gpus.size());
  inst.gpus_owed = mr.gpus_per_instance - taken;  // partial: the rest comes from migrating instances
  server.free_gpus -= taken;
  free_gpus_ -= taken;
  server.instances.push_back(id);
  mr.instances.push_back(id);
  mr.capacity += inst.max_batch;
  allocated_.change(now(), taken);
  return id;
}

void Simulator::Impl::enqueue_load(InstanceId id, const Decision& d) {
  const Tier tier = d.tier;
  Instance& inst = st_.instances[id];
  Server& server = st_.servers[inst.server];
  const LoadId lid = take_slot(st_.loads, free_loads_);
  Load& load = st_.loads[lid];
  load = Load{};
  load.in_use = true;
  load.instance = id;
  load.server = inst.server;
  load.model = inst.model;
  load.tier = tier;
  load.bytes = st_.models[inst.model].deployed->checkpoint_bytes;
  const auto gpus = static_cast<std::uint32_t>(inst.gpus.size());
  load.estimate = st_.estimate_load(inst.server, inst.model, tier, gpus) + d.load.extra_startup;
  load.fill_and_init = st_.fill_and_init(inst.server, tier, gpus) + d.load.extra_startup;
  load.options = d.load;
  inst.load = lid;
  inst.loaded_from = tier;
  // Pin the source so that eviction cannot remove it while it is queued or read.
  if (tier == Tier::kSsd) server.ssd_cache.pin(inst.model);
  if (tier == Tier::kDram) server.dram_cache.pin(inst.model);
  ++summary_.loads;
  ++summary_.loads_by_tier[static_cast<int>(tier)];
  server.queue_estimated_end = std::max(server.queue_estimated_end, now()) + load.estimate;
  server.load_queue.push_back(lid);
  if (server.load_queue.size() == 1) start_load(lid);
}

void Simulator::Impl::start_load(LoadId lid) {
  Load& load = st_.loads[lid];
  Instance& inst = st_.instances[load.instance];
  const Server& server = st_.servers[load.server];
  load.started = now();
  inst.load_started = now();
  const VertexId src = st_.source_vertex(load.server, load.tier);
  const double per_gpu = static_cast<double>(load.bytes) / static_cast<double>(inst.gpus.size());
  for (std::uint32_t g : inst.gpus) {
    flows_.start(st_.topology().path(src, server.gpu_vertex[g]), per_gpu, now(),
                 std::numeric_limits<double>::infinity(), lid);
  }
  load.flows_left = static_cast<std::uint32_t>(inst.gpus.size());
  reschedule_flow_event();
}

void Simulator::Impl::reschedule_flow_event() {
  const auto next = flows_.next_completion();
  if (next && next->first == flow_event_time_) return;
  queue_.cancel(flow_event_);
  flow_event_ = EventId{};
  flow_event_time_ = -1;
  if (next) {
    flow_event_ = queue_.schedule(next->first, kFlowDone);
    flow_event_time_ = next->first;
  }
}

void Simulator::Impl::on_flow_done() {
  flow_event_ = EventId{};
  flow_event_time_ = -1;
  for (auto next = flows_.next_completion(); next && next->first <= now(); next = flows_.next_completion()) {
    const FlowId fid = next->second;
    const auto lid = static_cast<LoadId>(flows_.tag(fid));
    flows_.complete(fid, now());
    Load& load = st_.loads[lid];
    if (--load.flows_left == 0) queue_.schedule(now() + load.fill_and_init, kLoadReady, lid);
  }
  reschedule_flow_event();
}

void Simulator::Impl::on_load_ready(LoadId lid) {
  Load& load = st_.loads[lid];
  Server& server = st_.servers[load.server];
  Instance& inst = st_.instances[load.instance];
  const std::uint64_t bytes = load.bytes;
  // A load populates the tiers it passed through (pipelined through DRAM; remote loads also land on SSD).
  if (load.tier == Tier::kSsd) server.ssd_cache.unpin(load.model);
  if (load.tier == Tier::kDram) server.dram_cache.unpin(load.model);
  if (load.tier == Tier::kRemote && load.options.populate_ssd) server.ssd_cache.insert(load.model, bytes, now());
  if (load.tier == Tier::kSsd) server.ssd_cache.touch(load.model, now());
  if (load.options.populate_dram) server.dram_cache.insert(load.model, bytes, now());
  scheduler_->on_load_finished(load.server, load.model, load.tier, load.estimate, now() - load.started);
  inst.ready = now();
  inst.load = kNone;
  load.in_use = false;
  free_loads_.push_back(lid);
  server.load_queue.pop_front();
  if (!server.load_queue.empty()) {
    Nanos end = now();
    for (LoadId q : server.load_queue) end += st_.loads[q].estimate;
    server.queue_estimated_end = end;
    start_load(server.load_queue.front());
  } else {
    server.queue_estimated_end = now();
  }
  if (inst.discard_when_loaded) {  // its migration was dropped meanwhile: nothing to serve here
    unload(inst.id);
    retry_pending();
    return;
  }
  if (inst.migration_destination) {
    on_destination_loaded(inst);
    return;
  }
  inst.state = InstanceState::kIdle;  // briefly: try_admit moves it on when requests wait
  idle_gpus_ += static_cast<std::uint32_t>(inst.gpus.size());
  leave_idle(inst);
  try_admit(inst);
}

// ---------------------------------------------------------------------------------------------------
// Batching.

void Simulator::Impl::schedule_step(Instance& inst, Nanos t) {
  queue_.cancel(inst.next_event);
  inst.next_event = queue_.schedule(t, kInstanceStep, inst.id);
  inst.next_event_time = t;
}

void Simulator::Impl::try_admit(Instance& inst) {
  ModelRuntime& mr = model_of(inst);
  while (can_admit_head(mr, inst)) {
    const RequestSlot slot = mr.queue.front().slot;
    mr.queue.pop_front();
    --mr.queued_live;
    ++mr.in_service;
    RequestState& r = st_.requests[slot];
    queue_.cancel(r.timeout);
    r.instance = inst.id;
    r.server = inst.server;
    r.service_start = now();
    r.generated = 0;
    if (inst.loaded_from != Tier::kWarm && r.spec.arrival < inst.ready) {
      r.cold_start = true;
      r.tier = inst.loaded_from;
      r.load_time = inst.ready - inst.load_started;
    }
    inst.kv_tokens_reserved += kv_need(r);
    inst.joining.push_back(slot);
  }
  if (!inst.joining.empty()) {
    start_prefill(inst);
  } else if (!inst.running.empty()) {
    start_segment(inst);
  } else {
    go_idle(inst);
  }
}

void Simulator::Impl::start_prefill(Instance& inst) {
  inst.state = InstanceState::kPrefill;
  std::uint64_t tokens = 0;
  double squares = 0;
  for (RequestSlot slot : inst.joining) {
    const double len = st_.requests[slot].spec.input_tokens;
    tokens += st_.requests[slot].spec.input_tokens;
    squares += len * len;
  }
  const ModelRuntime& mr = model_of(inst);
  const double seconds = cost_->prefill_seconds(*mr.deployed->arch, gpu_of(inst),
                                                static_cast<std::uint32_t>(inst.gpus.size()), tokens, squares);
  schedule_step(inst, now() + from_seconds(seconds));
}

void Simulator::Impl::start_segment(Instance& inst) {
  inst.state = InstanceState::kDecode;
  double context = 0;
  std::uint64_t max_steps = std::numeric_limits<std::uint64_t>::max();
  for (RequestSlot slot : inst.running) {
    const RequestState& r = st_.requests[slot];
    context += static_cast<double>(r.spec.input_tokens) + r.generated;
    max_steps = std::min<std::uint64_t>(max_steps, r.spec.output_tokens - r.generated);
  }
  const auto batch = static_cast<std::uint32_t>(inst.running.size());
  const ModelRuntime& mr = model_of(inst);
  inst.segment = DecodeRun(
      cost_->decode_law(*mr.deployed->arch, gpu_of(inst), static_cast<std::uint32_t>(inst.gpus.size()), batch),
      context, batch);
  inst.segment_start = now();
  inst.segment_max_steps = max_steps;
  // Run to the first completion, or stop after one step to admit a waiting request.
  const std::uint64_t steps = can_admit_head(model_of(inst), inst) ? 1 : max_steps;
  schedule_step(inst, now() + from_seconds(inst.segment.cumulative(steps)));
}

void Simulator::Impl::on_instance_step(InstanceId id) {
  Instance& inst = st_.instances[id];
  inst.next_event = EventId{};
  inst.next_event_time = -1;
  ModelRuntime& mr = model_of(inst);
  if (inst.state == InstanceState::kPrefill) {
    for (RequestSlot slot : inst.joining) {
      RequestState& r = st_.requests[slot];
      r.first_token = now();
      r.generated = 1;  // prefill produces the first output token
      inst.running.push_back(slot);
    }
    inst.joining.clear();
  } else if (inst.state == InstanceState::kDecode) {
    const std::uint64_t k = inst.segment.steps_within(now() - inst.segment_start, inst.segment_max_steps);
    for (RequestSlot slot : inst.running) st_.requests[slot].generated += static_cast<std::uint32_t>(k);
  } else {
    throw std::logic_error("instance step event in an unexpected state");
  }
  // Completions (order kept deterministic: the running list's order).
  std::size_t keep = 0;
  for (std::size_t i = 0; i < inst.running.size(); ++i) {
    const RequestSlot slot = inst.running[i];
    RequestState& r = st_.requests[slot];
    if (r.generated >= r.spec.output_tokens) {
      if (r.generated != r.spec.output_tokens) throw std::logic_error("a request produced more tokens than asked");
      inst.kv_tokens_reserved -= kv_need(r);
      --mr.in_service;
      if (inst.migration != kNone) drop_finished(inst, slot);
      finish_request(slot, Outcome::kCompleted);
    } else {
      inst.running[keep++] = slot;
    }
  }
  inst.running.resize(keep);
  if (inst.migration != kNone) {
    const std::uint32_t mid = inst.migration;
    Migration& mg = migrations_[mid];
    if (mg.slots.empty()) {
      // Every inference finished at the source first: the migration is dropped and the source's GPUs
      // go to the instance that waits for them.
      const InstanceId beneficiary = mg.beneficiary;
      const std::uint32_t generation = mg.beneficiary_generation;
      end_migration(mid);
      release_source(inst.id, beneficiary, generation);
      return;
    }
    if (mg.stopping) {
      freeze_source(inst);
      return;
    }
  }
  try_admit(inst);
}

void Simulator::Impl::start_busy(Instance& inst) {
  busy_.change(now(), static_cast<std::int64_t>(inst.gpus.size()));
  inst.busy = true;
}

void Simulator::Impl::stop_busy(Instance& inst) {
  if (inst.busy) busy_.change(now(), -static_cast<std::int64_t>(inst.gpus.size()));
  inst.busy = false;
}

void Simulator::Impl::go_idle(Instance& inst) {
  stop_busy(inst);
  inst.state = InstanceState::kIdle;
  idle_gpus_ += static_cast<std::uint32_t>(inst.gpus.size());
  const Nanos keep = keep_alive_->keep_alive(inst.model, now());
  if (keep != KeepAlivePolicy::kNever) {
    inst.keep_alive_event = queue_.schedule(now() + keep, kKeepAlive, inst.id);
  }
  retry_pending();
}

void Simulator::Impl::leave_idle(Instance& inst) {
  queue_.cancel(inst.keep_alive_event);
  inst.keep_alive_event = EventId{};
  idle_gpus_ -= static_cast<std::uint32_t>(inst.gpus.size());
  start_busy(inst);
}

void Simulator::Impl::on_keep_alive(InstanceId id) {
  Instance& inst = st_.instances[id];
  inst.keep_alive_event = EventId{};
  if (inst.state != InstanceState::kIdle) throw std::logic_error("keep-alive expiry of a busy instance");
  unload(id);
  retry_pending();
}

void Simulator::Impl::unload(InstanceId id) {
  Instance& inst = st_.instances[id];
  if (inst.state == InstanceState::kIdle) {
    idle_gpus_ -= static_cast<std::uint32_t>(inst.gpus.size());
    queue_.cancel(inst.keep_alive_event);
  }
  allocated_.change(now(), -static_cast<std::int64_t>(inst.gpus.size()));
  Server& server = st_.servers[inst.server];
  for (std::uint32_t g : inst.gpus) server.gpu_owner[g] = kNone;
  server.free_gpus += static_cast<std::uint32_t>(inst.gpus.size());
  free_gpus_ += static_cast<std::uint32_t>(inst.gpus.size());
  std::erase(server.instances, id);
  ModelRuntime& mr = model_of(inst);
  std::erase(mr.instances, id);
  mr.capacity -= inst.max_batch;
  inst.state = InstanceState::kFree;
  free_instances_.push_back(id);
  if (mr.instances.empty() && !source_done_) {
    if (const auto delay = keep_alive_->prewarm_delay(inst.model, now())) {
      queue_.schedule(now() + std::max<Nanos>(0, *delay), kPrewarm, inst.model);
    }
  }
}

void Simulator::Impl::on_prewarm(ModelId m) {
  ModelRuntime& mr = st_.models[m];
  if (!mr.instances.empty() || mr.pending || source_done_) return;  // demand got there first, or all is over
  const ClusterStateView view(st_, now(), cost_.get());
  const Decision d = scheduler_->place(view, m);
  // Best effort, and only on free or idle GPUs: a pre-warm never disturbs running inferences.
  if (d.action != Decision::Action::kStart || !d.migrate.empty() || !d.preempt.empty()) return;
  execute(d, m);
  ++summary_.prewarms;
}

void Simulator::Impl::preempt(InstanceId id) {
  Instance& inst = st_.instances[id];
  ModelRuntime& mr = model_of(inst);
  const std::uint64_t steps = steps_now(inst);
  queue_.cancel(inst.next_event);
  // Requests restart from scratch at the front of their model's queue, oldest first.
  std::vector<RequestSlot> victims(inst.running.begin(), inst.running.end());
  victims.insert(victims.end(), inst.joining.begin(), inst.joining.end());
  std::sort(victims.begin(), victims.end(),
            [&](RequestSlot a, RequestSlot b) { return st_.requests[a].spec.id > st_.requests[b].spec.id; });
  for (RequestSlot slot : victims) {
    RequestState& r = st_.requests[slot];
    const bool decoding = r.first_token >= 0;
    const auto lost = static_cast<std::uint32_t>(decoding ? r.generated + steps : 0);
    summary_.lost_tokens += lost;
    ++summary_.preemptions;
    r.lost_tokens += lost;
    ++r.preemptions;
    r.instance = kNone;
    r.server = kNone;
    r.generated = 0;
    r.service_start = -1;
    r.first_token = -1;
    r.timeout = queue_.schedule(now() + sc_.simulation.request_timeout, kTimeout, slot);
    mr.queue.push_front({slot, r.spec.id});
    ++mr.queued_live;
    --mr.in_service;
  }
  inst.running.clear();
  inst.joining.clear();
  inst.kv_tokens_reserved = 0;
  stop_busy(inst);
  inst.state = InstanceState::kIdle;
  idle_gpus_ += static_cast<std::uint32_t>(inst.gpus.size());
  unload(id);
  // The preempted requests need capacity again (placed after the current decision is carried out).
  if (!mr.pending) {
    mr.pending = true;
    pending_.push_back(inst.model);
  }
}

// ---------------------------------------------------------------------------------------------------
// Live migration (token-based, multi-round), driven by MigrationProtocol with simulated time: the
// destination loads the model through its loading queue; each round the destination recomputes the KV
// cache of the tokens sent (one batched prefill, attention over the context already there) while the
// source keeps decoding; on the stop rule the source finishes its current step and freezes; after the
// final round the requests continue at the destination and the source's GPUs go to the waiting
// instance. Protocol events are fed at the moments they matter (the source's progress is read from
// its decode segment in closed form, so no per-token events are needed).

std::uint64_t Simulator::Impl::steps_now(const Instance& inst) const { return inst.decode_steps_at(now()); }

void Simulator::Impl::start_migration(const MigrationOrder& order, InstanceId beneficiary) {
  for (InstanceId idle : order.unload_idle) {
    const Instance& inst = st_.instances[idle];
    if (inst.state != InstanceState::kIdle || inst.server != order.destination) {
      throw std::logic_error("policy asked to unload an instance that is not idle on the migration destination");
    }
    unload(idle);
  }
  const std::uint32_t mid = take_slot(migrations_, free_migrations_);
  Migration& mg = migrations_[mid];
  mg = Migration{};
  mg.in_use = true;
  mg.source = order.instance;
  mg.beneficiary = beneficiary;
  mg.beneficiary_generation = st_.instances[beneficiary].generation;
  Instance& source = st_.instances[order.instance];
  const std::uint64_t steps = steps_now(source);
  for (RequestSlot slot : source.running) {
    const RequestState& r = st_.requests[slot];
    mg.slots.push_back(slot);
    mg.protocols.emplace_back(order.protocol,
                              static_cast<std::int64_t>(r.spec.input_tokens + r.generated + steps));
    ++summary_.migrations_started;
  }
  source.migration = mid;
  const InstanceId dest = create_instance(source.model, order.destination, now());
  Instance& d = st_.instances[dest];
  d.migration = mid;
  d.migration_destination = true;
  mg.destination = dest;
  Decision load;
  load.tier = order.tier;
  enqueue_load(dest, load);
}

void Simulator::Impl::sync_source(Migration& mg) {
  const Instance& source = st_.instances[mg.source];
  const std::uint64_t steps = steps_now(source);
  for (std::size_t i = 0; i < mg.slots.size(); ++i) {
    const RequestState& r = st_.requests[mg.slots[i]];
    const auto tokens = static_cast<std::int64_t>(r.spec.input_tokens + r.generated + steps);
    const std::int64_t delta = tokens - mg.protocols[i].source_tokens();
    if (delta > 0) mg.protocols[i].source_produced(delta);
  }
}

void Simulator::Impl::apply(std::uint32_t mid, const std::vector<std::optional<MigrationCommand>>& commands) {
  Migration& mg = migrations_[mid];
  if (commands.empty() || !commands.front()) throw std::logic_error("migration protocol gave no command");
  const MigrationCommand::Kind kind = commands.front()->kind;
  for (const auto& c : commands) {
    if (!c || c->kind != kind || c->round != commands.front()->round) {
      throw std::logic_error("migration protocols of one batch out of step");
    }
  }
  switch (kind) {
    case MigrationCommand::Kind::kSend: {
      std::uint64_t tokens = 0;
      double squares = 0;       // causal attention of tokens [begin, end) over the context before them
      double cached_pairs = 0;  // each of those tokens against the context already at the destination
      for (const auto& c : commands) {
        const auto n = static_cast<double>(c->end - c->begin), cached = static_cast<double>(c->begin);
        tokens += static_cast<std::uint64_t>(c->end - c->begin);
        squares += recompute_squares(n, cached);
        cached_pairs += n * cached;
      }
      const Instance& dest = st_.instances[mg.destination];
      const ModelArch& arch = *model_of(dest).deployed->arch;
      const auto gpus = static_cast<std::uint32_t>(dest.gpus.size());
      double seconds = cost_->recompute_seconds(arch, gpu_of(dest), gpus, tokens, squares, cached_pairs);
      // The source is stopped during the final round: the pause also holds the hand-off around it.
      if (commands.front()->final) seconds += cost_->migration_handoff_seconds(arch, gpu_of(dest), gpus);
      mg.round = commands.front()->round;
      mg.round_event = queue_.schedule(now() + from_seconds(seconds), kMigrationRound, mid,
                                       static_cast<std::uint64_t>(mg.round));
      break;
    }
    case MigrationCommand::Kind::kStopSource: request_source_stop(mg); break;
    case MigrationCommand::Kind::kResume: resume_at_destination(mid); break;
    case MigrationCommand::Kind::kDrop: throw std::logic_error("unexpected migration drop");
  }
}

template <class Feed>
void Simulator::Impl::advance_protocols(std::uint32_t mid, Feed feed) {
  Migration& mg = migrations_[mid];
  sync_source(mg);
  std::vector<std::optional<MigrationCommand>> commands;
  for (MigrationProtocol& p : mg.protocols) commands.push_back(feed(p));
  apply(mid, commands);
}

void Simulator::Impl::on_destination_loaded(Instance& dest) {
  advance_protocols(dest.migration, [](MigrationProtocol& p) { return p.destination_loaded(); });
}

void Simulator::Impl::on_migration_round(std::uint32_t mid, int round) {
  migrations_[mid].round_event = EventId{};
  advance_protocols(mid, [round](MigrationProtocol& p) { return p.recompute_finished(round); });
}

void Simulator::Impl::request_source_stop(Migration& mg) {
  mg.stopping = true;
  Instance& source = st_.instances[mg.source];
  // The step in progress completes; the source stops at that step boundary.
  Nanos boundary = now();
  if (source.state == InstanceState::kDecode) {
    const std::uint64_t k = steps_now(source);
    if (source.segment_start + from_seconds(source.segment.cumulative(k)) < now()) {
      boundary = source.segment_start +
                 from_seconds(source.segment.cumulative(std::min(k + 1, source.segment_max_steps)));
    }
  }
  boundary = std::max(boundary, now());
  if (source.next_event_time < 0 || boundary < source.next_event_time) schedule_step(source, boundary);
}

void Simulator::Impl::freeze_source(Instance& inst) {
  // on_instance_step already counted the steps up to now into `generated`.
  queue_.cancel(inst.next_event);
  inst.next_event = EventId{};
  inst.next_event_time = -1;
  stop_busy(inst);
  inst.state = InstanceState::kHandoff;
  migrations_[inst.migration].stop_time = now();
  advance_protocols(inst.migration, [](MigrationProtocol& p) { return p.source_stopped(); });
}

void Simulator::Impl::resume_at_destination(std::uint32_t mid) {
  Migration& mg = migrations_[mid];
  Instance& source = st_.instances[mg.source];
  Instance& dest = st_.instances[mg.destination];
  const Nanos pause = now() - mg.stop_time;
  for (std::size_t i = 0; i < mg.slots.size(); ++i) {
    RequestState& r = st_.requests[mg.slots[i]];
    const MigrationProtocol& p = mg.protocols[i];
    if (p.sent_tokens() != static_cast<std::int64_t>(r.spec.input_tokens + r.generated)) {
      throw std::logic_error("migration resumed without every token at the destination (sent " +
                             std::to_string(p.sent_tokens()) + ", sequence " +
                             std::to_string(r.spec.input_tokens + r.generated) + ", round " +
                             std::to_string(p.round()) + ", source " + std::to_string(p.source_tokens()) + ")");
    }
    r.instance = dest.id;
    r.server = dest.server;
    ++r.migrations;
    r.migration_rounds += static_cast<std::uint32_t>(p.round());
    r.migration_tokens += static_cast<std::uint64_t>(p.sent_tokens());
    r.migration_pause += pause;
    dest.running.push_back(mg.slots[i]);
    dest.kv_tokens_reserved += kv_need(r);
    source.kv_tokens_reserved -= kv_need(r);
    ++summary_.migrations_completed;
    summary_.migration_rounds += static_cast<std::uint64_t>(p.round());
    summary_.migration_tokens += static_cast<std::uint64_t>(p.sent_tokens());
    recorder_.record_migration_pause(pause);
  }
  source.running.clear();
  const InstanceId source_id = source.id, beneficiary = mg.beneficiary;
  const std::uint32_t generation = mg.beneficiary_generation;
  dest.migration = kNone;
  dest.migration_destination = false;
  start_busy(dest);
  end_migration(mid);
  try_admit(dest);  // decodes the migrated batch (and admits waiting requests of its model)
  release_source(source_id, beneficiary, generation);
}

void Simulator::Impl::drop_finished(Instance& source, RequestSlot slot) {
  Migration& mg = migrations_[source.migration];
  for (std::size_t i = 0; i < mg.slots.size(); ++i) {
    if (mg.slots[i] != slot) continue;
    // No sync here: on_instance_step has already added this segment's steps to `generated` while the
    // segment still reads as running, so the token count would be off until the next segment starts.
    if (mg.protocols[i].source_finished()) ++summary_.migrations_dropped;
    mg.slots.erase(mg.slots.begin() + static_cast<std::ptrdiff_t>(i));
    mg.protocols.erase(mg.protocols.begin() + static_cast<std::ptrdiff_t>(i));
    return;
  }
}

void Simulator::Impl::end_migration(std::uint32_t mid) {
  Migration& mg = migrations_[mid];
  queue_.cancel(mg.round_event);
  Instance& source = st_.instances[mg.source];
  source.migration = kNone;
  Instance& dest = st_.instances[mg.destination];
  if (dest.migration == mid) {  // dropped: abandon the destination's copy
    dest.migration = kNone;
    dest.migration_destination = false;
    if (dest.load != kNone) {
      dest.discard_when_loaded = true;
    } else {
      unload(dest.id);
    }
  }
  mg = Migration{};
  free_migrations_.push_back(mid);
}

void Simulator::Impl::release_source(InstanceId id, InstanceId beneficiary, std::uint32_t generation) {
  Instance& inst = st_.instances[id];
  queue_.cancel(inst.next_event);
  inst.next_event = EventId{};
  stop_busy(inst);
  unload(id);
  give_gpus(beneficiary, generation);
  retry_pending();
}

void Simulator::Impl::give_gpus(InstanceId beneficiary, std::uint32_t generation) {
  Instance& inst = st_.instances[beneficiary];
  // Nothing owed (earlier migrations freed enough, or the slot now holds another instance).
  if (inst.generation != generation || !inst.alive() || inst.gpus_owed == 0) return;
  Server& server = st_.servers[inst.server];
  std::uint32_t taken = 0;
  for (std::uint32_t g = 0; g < server.gpu_owner.size() && inst.gpus_owed > 0; ++g) {
    if (server.gpu_owner[g] == kNone) {
      server.gpu_owner[g] = beneficiary;
      inst.gpus.push_back(g);
      --inst.gpus_owed;
      ++taken;
    }
  }
  server.free_gpus -= taken;
  free_gpus_ -= taken;
  allocated_.change(now(), taken);
  if (inst.gpus_owed == 0) {
    std::sort(inst.gpus.begin(), inst.gpus.end());
    // The fastest tier holding the checkpoint now (the one chosen may have been evicted meanwhile).
    Decision deferred;
    deferred.tier = st_.best_tier(inst.server, inst.model);
    deferred.load = inst.deferred_load;
    enqueue_load(beneficiary, deferred);
  }
}

// ---------------------------------------------------------------------------------------------------

RunSummary Simulator::Impl::run(const RunOptions& options) {
  if (source_) throw std::logic_error("Simulator::run called twice: build a new Simulator per run");
  const auto wall_start = std::chrono::steady_clock::now();
  source_ = options.source ? options.source() : sc_.make_source();
  if (!options.output_dir.empty() && sc_.output.requests_csv) recorder_.open_csv(options.output_dir);
  for (const Server& s : st_.servers) free_gpus_ += s.free_gpus;

  // Warm instances: loaded before time 0, placed round-robin from the checkpoint's first server.
  const auto n = static_cast<std::uint32_t>(st_.servers.size());
  for (ModelId m = 0; m < st_.models.size(); ++m) {
    for (std::uint32_t k = 0; k < st_.models[m].deployment->warm_instances; ++k) {
      ServerId chosen = kNone;
      for (std::uint32_t j = 0; j < n && chosen == kNone; ++j) {
        const ServerId s = (m + k + j) % n;
        if (st_.servers[s].free_gpus >= st_.models[m].gpus_per_instance) chosen = s;
      }
      if (chosen == kNone) {
        throw InputError(sc_.source + ": models.deployments", "warm_instances do not fit on the cluster's GPUs");
      }
      const InstanceId id = create_instance(m, chosen, 0);
      Instance& inst = st_.instances[id];
      inst.loaded_from = Tier::kWarm;
      inst.ready = 0;
      inst.load_started = 0;
      go_idle(inst);
    }
  }

  pull_next_arrival();
  const bool progress = options.progress;
  std::uint64_t next_progress = 1 << 16;
  const std::uint64_t expected = sc_.expected_requests;
  while (!queue_.empty()) {
    if (sc_.simulation.horizon > 0 && queue_.next_time() > sc_.simulation.horizon) break;
    const Event ev = queue_.pop();
    switch (ev.type) {
      case kArrival: on_arrival(); break;
      case kTimeout: on_timeout(static_cast<RequestSlot>(ev.a)); break;
      case kInstanceStep: on_instance_step(static_cast<InstanceId>(ev.a)); break;
      case kFlowDone: on_flow_done(); break;
      case kLoadReady: on_load_ready(static_cast<LoadId>(ev.a)); break;
      case kKeepAlive: on_keep_alive(static_cast<InstanceId>(ev.a)); break;
      case kPrewarm: on_prewarm(static_cast<ModelId>(ev.a)); break;
      case kMigrationRound: on_migration_round(static_cast<std::uint32_t>(ev.a), static_cast<int>(ev.b)); break;
      default: throw std::logic_error("unknown event type");
    }
    if (progress && queue_.processed() >= next_progress) {
      next_progress += 1 << 16;
      if (expected > 0) {
        const double frac = std::min(1.0, static_cast<double>(summary_.arrived) / static_cast<double>(expected));
        const int filled = static_cast<int>(frac * 40);
        std::fprintf(stderr, "\r[%.*s%*s] %5.1f%%  t=%.1f s", filled, "########################################",
                     40 - filled, "", 100.0 * frac, to_seconds(now()));
      } else {
        std::fprintf(stderr, "\r%llu requests  t=%.1f s", static_cast<unsigned long long>(summary_.arrived),
                     to_seconds(now()));
      }
    }
  }
  if (progress) std::fprintf(stderr, "\r%*s\r", 70, "");

  // Requests still in flight (horizon reached) are reported as running.
  std::uint64_t running = 0;
  for (const RequestState& r : st_.requests) running += r.in_use ? 1 : 0;
  summary_.makespan = sc_.simulation.horizon > 0 ? std::max(last_request_event_, std::min(now(), sc_.simulation.horizon))
                                                 : last_request_event_;
  if (sc_.simulation.horizon > 0 && summary_.makespan > last_request_event_) snapshot_utilisation();
  recorder_.finish(summary_, sc_);
  summary_.running = running;
  if (summary_.arrived != summary_.completed + summary_.timed_out + summary_.rejected + summary_.running) {
    throw std::logic_error("request conservation violated: arrived " + std::to_string(summary_.arrived) +
                           " != completed " + std::to_string(summary_.completed) + " + timed out " +
                           std::to_string(summary_.timed_out) + " + rejected " + std::to_string(summary_.rejected) +
                           " + running " + std::to_string(summary_.running));
  }
  std::uint32_t gpus = 0;
  for (const Server& s : st_.servers) gpus += static_cast<std::uint32_t>(s.gpu_owner.size());
  const double span = static_cast<double>(summary_.makespan) * gpus;
  summary_.gpu_allocated_fraction = span > 0 ? allocated_at_makespan_ / span : 0;
  summary_.gpu_busy_fraction = span > 0 ? busy_at_makespan_ / span : 0;
  summary_.events = queue_.processed();
  summary_.fingerprint = queue_.fingerprint();
  summary_.seed = sc_.simulation.seed;
  summary_.policy = sc_.scheduler.name;
  summary_.version = version();
  summary_.build_id = build_id();
  summary_.config_hash = sc_.config_hash;
  summary_.overrides = sc_.overrides;
  summary_.servers = static_cast<std::uint32_t>(st_.servers.size());
  summary_.gpus = gpus;
  summary_.models = static_cast<std::uint32_t>(st_.models.size());
  summary_.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  if (!options.output_dir.empty()) {
    write_file_atomically(options.output_dir, "summary.json", summary_.to_json(sc_.output.timing));
    if (sc_.output.requests_csv) recorder_.commit();
  }
  return summary_;
}

Simulator::Simulator(const Scenario& scenario) : impl_(std::make_unique<Impl>(scenario)) {}
Simulator::~Simulator() = default;
RunSummary Simulator::run(const RunOptions& options) { return impl_->run(options); }

}  // namespace sllm
