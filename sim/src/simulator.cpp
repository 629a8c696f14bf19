#include "sllm/sim/simulator.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <stdexcept>

#include <unistd.h>

#include "batcher.h"
#include "load_queue.h"
#include "migration_driver.h"
#include "sim_events.h"
#include "slot_pool.h"
#include "time_series.h"
#include "timeline.h"
#include "sllm/core/error.h"
#include "sllm/core/random.h"
#include "sllm/core/build_info.h"
#include "sllm/core/files.h"
#include "sllm/sim/cluster.h"
#include "sllm/sim/cost_model.h"
#include "sllm/sim/event_queue.h"
#include "sllm/sim/cluster_view.h"
#include "sllm/sim/policy.h"

namespace sllm {

using namespace sim_events;

// The event loop and placement: arrivals, timeouts, routing requests to instances, asking the policies
// and carrying out their decisions (instances created, unloaded, preempted; migrations started). The
// mechanisms below it (batcher, load queue, migration driver, GPU accounting in ClusterState) report
// back through the listener interfaces it implements; they never call into it otherwise.
class Simulator::Impl final : private BatchListener, private LoadListener, private MigrationListener {
 public:
  explicit Impl(const Scenario& scenario)
      : sc_(scenario),
        st_(scenario),
        cost_(make_cost_model(scenario.simulation.cost_model)),
        batcher_(st_, queue_, *cost_, *this),
        loads_(st_, queue_, *this),
        migration_(st_, queue_, *cost_, batcher_, loads_, *this) {
    ConfigNode sched_params = scenario.scheduler.params;
    scheduler_ = SchedulingRegistry::instance().create(scenario.scheduler.name, sched_params, sched_params);
    ConfigNode keep_params = scenario.keep_alive.params;
    keep_alive_ = KeepAliveRegistry::instance().create(scenario.keep_alive.name, keep_params, keep_params);
  }

  RunSummary run(const RunOptions& options);

 private:
  Nanos now() const { return queue_.now(); }
  std::uint32_t demand(const ModelRuntime& m) const { return m.in_service + m.queued_live; }

  void on_arrival();
  void pull_next_arrival();
  void on_timeout(RequestSlot slot);
  void on_keep_alive(InstanceId id);
  void on_prewarm(ModelId m);

  void dispatch(ModelId m);
  void ensure_capacity(ModelId m);
  bool place_once(ModelId m);  // true when an instance was started
  // Resources changed: models waiting for a placement are asked again; `gpus_freed`: GPUs just became
  // free or idle, which loads in flight are offered first (reconsider_loads).
  void retry_pending(bool gpus_freed = false);
  void reconsider_loads();
  InstanceId execute(const Decision& d, ModelId m);
  InstanceId create_instance(ModelId m, ServerId s, Nanos created, bool partial = false);
  void unload(InstanceId id) override;
  void preempt(InstanceId id);
  void go_idle(Instance& inst);
  void leave_idle(Instance& inst);
  void finish_request(RequestSlot slot, Outcome outcome);
  // Takes every request off `inst`: back to the front of its model's queue, oldest first, or (`lose`)
  // finished as failed. Returns how many were requeued.
  std::uint32_t evict_requests(Instance& inst, bool lose);
  void needs_capacity(ModelId m);
  void snapshot_utilisation();

  // Faults (scenario `faults:`).
  void set_up_faults();
  void on_fault(FaultKind kind, std::uint32_t target, bool onset, double factor);
  void on_fault_process(std::uint32_t index, bool onset);
  void fail_instance(InstanceId id);
  void crash_server(ServerId s);
  void recover_server(ServerId s);
  void apply_link_capacity(LinkId l);
  void attach_recorders();

  // BatchListener
  void on_nothing_to_serve(Instance& inst) override { go_idle(inst); }
  void on_request_done(Instance& inst, RequestSlot slot) override;
  bool on_batch_change(Instance& inst) override { return migration_.on_source_batch_change(inst); }
  // LoadListener
  void on_loaded(const Load& load, Instance& inst) override;
  // MigrationListener
  InstanceId create_destination(ModelId m, ServerId s) override { return create_instance(m, s, now()); }
  void on_source_released() override { retry_pending(); }
  void on_request_migrated(Nanos pause) override { recorder_.record_migration_pause(pause); }

  const Scenario& sc_;
  ClusterState st_;
  EventQueue queue_{4096};
  std::unique_ptr<CostModel> cost_;
  std::unique_ptr<SchedulingPolicy> scheduler_;
  std::unique_ptr<KeepAlivePolicy> keep_alive_;
  SlotPool<RequestState> requests_{st_.requests};
  SlotPool<Instance> instances_{st_.instances};
  Batcher batcher_;
  LoadQueue loads_;
  MigrationDriver migration_;

  std::unique_ptr<RequestSource> source_;
  RequestSpec next_spec_;
  bool source_done_ = false;  // no more arrivals: pre-warming stops (so that runs end)
  std::deque<ModelId> pending_;  // models waiting for a placement, FIFO
  std::vector<LoadId> reconsidered_;  // scratch of reconsider_loads()
  std::vector<ServerId> spare_;       // scratch of reconsider_loads(): servers with free or idle GPUs

  RequestRecorder recorder_;
  // Optional recorders (output.timeline, output.time_series): observer_ is null unless one is on.
  std::unique_ptr<TimelineRecorder> timeline_;
  std::unique_ptr<TimeSeriesRecorder> time_series_;
  ObserverFanout observers_;
  RunObserver* observer_ = nullptr;
  RunSummary summary_;
  Nanos last_request_event_ = 0;
  bool retrying_ = false;
  // GPU-time held by instances, in service and out of service (faults), up to the last request event.
  double allocated_at_makespan_ = 0, busy_at_makespan_ = 0, down_at_makespan_ = 0;

  // Fault state: resolved targets of the timed events (server, or global GPU index, or link), the
  // stochastic processes' targets each with its own random stream, and what is down now (counts:
  // faults of one target may overlap).
  struct FaultTarget {
    FaultKind kind = FaultKind::kServerCrash;
    std::uint32_t target = 0;
    Nanos mtbf = 0, repair = 0;
    double factor = 1;
    Rng rng{0};
  };
  std::vector<std::uint32_t> fault_event_targets_;  // per faults.events entry
  std::vector<FaultTarget> fault_processes_;
  std::vector<std::uint32_t> gpu_base_;           // per server: global index of its GPU 0
  std::vector<std::uint32_t> server_crashes_;     // per server: crashes in effect
  std::vector<Nanos> server_down_since_;
  std::vector<std::vector<std::uint32_t>> gpu_failures_;  // per server, per GPU: failures in effect
  std::vector<std::uint32_t> link_outages_, link_degradations_;
  std::vector<double> link_factor_;
  std::uint32_t remote_outages_ = 0;
  LinkId remote_link_ = kNone;
  std::vector<LoadId> failed_loads_;  // scratch
  double server_down_ns_ = 0;         // finished down periods
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
  const RequestSlot slot = requests_.take();
  RequestState& r = st_.requests[slot];
  r = RequestState{};
  r.spec = next_spec_;
  r.in_use = true;
  ++summary_.arrived;
  if (observer_ != nullptr) observer_->on_arrival(r, now());
  const ModelId m = r.spec.model;
  keep_alive_->on_request(m, now());
  pull_next_arrival();

  ModelRuntime& mr = st_.models[m];
  if (Batcher::kv_need(r) > mr.kv_token_budget || r.spec.output_tokens == 0) {
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
  if (observer_ != nullptr) observer_->on_request_finished(r, now());
  recorder_.record(r, st_);
  r.in_use = false;
  requests_.release(slot);
}

void Simulator::Impl::snapshot_utilisation() {
  allocated_at_makespan_ = st_.gpu_accounting.allocated_area(now());
  busy_at_makespan_ = st_.gpu_accounting.busy_area(now());
  down_at_makespan_ = st_.gpu_accounting.down_area(now());
}

// ---------------------------------------------------------------------------------------------------
// Routing requests to instances and asking the policy for new ones.

void Simulator::Impl::dispatch(ModelId m) {
  ModelRuntime& mr = st_.models[m];
  InstanceId best = kNone;
  std::uint64_t need = 0;
  bool have_head = false;
  for (InstanceId id : mr.instances) {
    Instance& inst = st_.instances[id];
    if (inst.state == InstanceState::kIdle) {
      leave_idle(inst);
      batcher_.try_admit(inst);
      return;
    }
    if (inst.state != InstanceState::kDecode || inst.migration != kNone || inst.batch() >= inst.max_batch) continue;
    if (!have_head) {  // the queue's head (after dropping stale entries) decides what fits
      const RequestState* head = batcher_.queue_head(mr);
      if (head == nullptr) return;
      need = Batcher::kv_need(*head);
      have_head = true;
    }
    if (inst.kv_tokens_reserved + need <= inst.kv_token_budget &&
        (best == kNone || inst.batch() < st_.instances[best].batch())) {
      best = id;
    }
  }
  if (best == kNone) return;  // loading or in prefill: they take from the queue when they are ready
  batcher_.admit_at_next_step(st_.instances[best]);
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
  const ClusterStateView view(st_, now(), cost_.get(), &loads_.flows());
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

void Simulator::Impl::retry_pending(bool gpus_freed) {
  if (retrying_) return;
  retrying_ = true;  // placements below can free/idle instances and call back here
  // Loads in flight first: a replacement swaps GPUs (a load's requests move to the freed GPUs that
  // serve them sooner; its own GPUs free up for the models waiting below).
  if (gpus_freed) reconsider_loads();
  const std::size_t rounds = pending_.size();
  for (std::size_t i = 0; i < rounds && !pending_.empty(); ++i) {
    const ModelId m = pending_.front();
    pending_.pop_front();
    ModelRuntime& mr = st_.models[m];
    mr.pending = false;
    const std::uint32_t spare = st_.gpu_accounting.free_total() + st_.gpu_accounting.idle_total();
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

// GPUs freed up: a load that waiting requests depend on may now be beaten by a start elsewhere (a GPU
// on a server holding the checkpoint locally, while the load crawls through a shared remote link).
// Only plain loads are offered (not migration destinations) and only while still in transfer.
void Simulator::Impl::reconsider_loads() {
  if (loads_.active().empty()) return;
  const GpuAccounting& gpus = st_.gpu_accounting;
  reconsidered_.assign(loads_.active().begin(), loads_.active().end());
  for (LoadId lid : reconsidered_) {
    if (gpus.free_total() + gpus.idle_total() == 0) break;
    const Load& load = st_.loads[lid];
    const InstanceId id = load.instance;
    const Instance& inst = st_.instances[id];
    if (inst.load != lid || inst.migration_destination || inst.discard_when_loaded || !loads_.cancellable(lid)) continue;
    const ModelId m = inst.model;
    if (st_.models[m].queued_live == 0) continue;
    if (spare_.empty()) {  // built once per change of the GPUs' state (cleared after a replacement)
      for (ServerId s = 0; s < st_.servers.size(); ++s) {
        if (gpus.free(s) + gpus.idle(s) > 0) spare_.push_back(s);
      }
    }
    const ClusterStateView view(st_, now(), cost_.get(), &loads_.flows());
    const Decision d = scheduler_->replace_load(view, id, loads_.time_to_ready(lid), spare_);
    if (d.action != Decision::Action::kStart || !d.migrate.empty() || !d.preempt.empty()) continue;
    loads_.cancel(lid);
    unload(id);
    execute(d, m);
    spare_.clear();
  }
  spare_.clear();
}

InstanceId Simulator::Impl::execute(const Decision& d, ModelId m) {
  if (d.server >= st_.servers.size()) throw std::logic_error("policy chose a server that does not exist");
  if (observer_ != nullptr) observer_->on_decision(d, m, now());
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
    loads_.enqueue(inst, d.tier, d.load);
  } else {  // loads when the migrations hand the GPUs over (MigrationDriver::give_gpus)
    inst.loaded_from = d.tier;
    inst.deferred_load = d.load;
  }
  for (const MigrationOrder& order : d.migrate) {
    for (InstanceId idle : order.unload_idle) {
      const Instance& unloaded = st_.instances[idle];
      if (unloaded.state != InstanceState::kIdle || unloaded.server != order.destination) {
        throw std::logic_error("policy asked to unload an instance that is not idle on the migration destination");
      }
      unload(idle);
    }
    migration_.start(order, id);
  }
  if (!d.preempt.empty()) retry_pending();  // the preempted requests' models look for capacity
  return id;
}

InstanceId Simulator::Impl::create_instance(ModelId m, ServerId s, Nanos created, bool partial) {
  ModelRuntime& mr = st_.models[m];
  if (!partial && st_.gpu_accounting.free(s) < mr.gpus_per_instance) {
    throw std::logic_error("policy placed " + mr.deployed->name + " on server" + std::to_string(s) +
                           " without enough free GPUs");
  }
  const InstanceId id = instances_.take();
  Instance& inst = st_.instances[id];
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
  inst.generation = instances_.generation(id);
  inst.model = m;
  inst.server = s;
  inst.state = InstanceState::kLoading;
  inst.created = created;
  inst.max_batch = mr.deployment->max_batch_size;
  inst.kv_token_budget = mr.kv_token_budget;
  const std::uint32_t taken = st_.gpu_accounting.take(inst, mr.gpus_per_instance, now());
  inst.gpus_owed = mr.gpus_per_instance - taken;  // partial: the rest comes from migrating instances
  if (observer_ != nullptr) observer_->on_instance_phase(inst, now());
  st_.servers[s].instances.push_back(id);
  mr.instances.push_back(id);
  mr.capacity += inst.max_batch;
  return id;
}

void Simulator::Impl::go_idle(Instance& inst) {
  st_.gpu_accounting.stop_busy(inst, now());
  inst.state = InstanceState::kIdle;
  if (observer_ != nullptr) observer_->on_instance_phase(inst, now());
  st_.gpu_accounting.enter_idle(inst);
  const Nanos keep = keep_alive_->keep_alive(inst.model, now());
  if (keep != KeepAlivePolicy::kNever) {
    inst.keep_alive_event = queue_.schedule(now() + keep, kKeepAlive, inst.id);
  }
  retry_pending(true);
}

void Simulator::Impl::leave_idle(Instance& inst) {
  queue_.cancel(inst.keep_alive_event);
  inst.keep_alive_event = EventId{};
  st_.gpu_accounting.leave_idle(inst);
  st_.gpu_accounting.start_busy(inst, now());
}

void Simulator::Impl::on_keep_alive(InstanceId id) {
  Instance& inst = st_.instances[id];
  inst.keep_alive_event = EventId{};
  if (inst.state != InstanceState::kIdle) throw std::logic_error("keep-alive expiry of a busy instance");
  ++summary_.keep_alive_unloads;
  unload(id);
  retry_pending(true);
}

void Simulator::Impl::unload(InstanceId id) {
  Instance& inst = st_.instances[id];
  if (inst.state == InstanceState::kIdle) {
    st_.gpu_accounting.leave_idle(inst);
    queue_.cancel(inst.keep_alive_event);
  }
  if (observer_ != nullptr) observer_->on_instance_ended(inst, now());
  st_.gpu_accounting.give_back(inst, now());
  std::erase(st_.servers[inst.server].instances, id);
  ModelRuntime& mr = st_.models[inst.model];
  std::erase(mr.instances, id);
  mr.capacity -= inst.max_batch;
  inst.state = InstanceState::kFree;
  instances_.release(id);
  if (mr.instances.empty() && !source_done_) {
    if (const auto delay = keep_alive_->prewarm_delay(inst.model, now())) {
      queue_.schedule(now() + std::max<Nanos>(0, *delay), kPrewarm, inst.model);
    }
  }
}

void Simulator::Impl::on_prewarm(ModelId m) {
  ModelRuntime& mr = st_.models[m];
  if (!mr.instances.empty() || mr.pending || source_done_) return;  // demand got there first, or all is over
  const ClusterStateView view(st_, now(), cost_.get(), &loads_.flows());
  const Decision d = scheduler_->place(view, m);
  // Best effort, and only on free or idle GPUs: a pre-warm never disturbs running inferences.
  if (d.action != Decision::Action::kStart || !d.migrate.empty() || !d.preempt.empty()) return;
  execute(d, m);
  ++summary_.prewarms;
}

void Simulator::Impl::preempt(InstanceId id) {
  Instance& inst = st_.instances[id];
  const std::uint32_t restarted = evict_requests(inst, false);
  summary_.preemptions += restarted;
  st_.gpu_accounting.stop_busy(inst, now());
  inst.state = InstanceState::kIdle;
  st_.gpu_accounting.enter_idle(inst);
  const ModelId m = inst.model;
  unload(id);
  // The preempted requests need capacity again (placed after the current decision is carried out).
  needs_capacity(m);
}

std::uint32_t Simulator::Impl::evict_requests(Instance& inst, bool lose) {
  ModelRuntime& mr = st_.models[inst.model];
  const std::uint64_t steps = inst.decode_steps_at(now());
  queue_.cancel(inst.next_event);
  inst.next_event = EventId{};
  // Requests restart from scratch at the front of their model's queue, oldest first.
  std::vector<RequestSlot> victims(inst.running.begin(), inst.running.end());
  victims.insert(victims.end(), inst.joining.begin(), inst.joining.end());
  std::sort(victims.begin(), victims.end(),
            [&](RequestSlot a, RequestSlot b) { return st_.requests[a].spec.id > st_.requests[b].spec.id; });
  inst.running.clear();
  inst.joining.clear();
  inst.kv_tokens_reserved = 0;
  std::uint32_t requeued = 0;
  for (RequestSlot slot : victims) {
    RequestState& r = st_.requests[slot];
    --mr.in_service;
    if (lose) {
      finish_request(slot, Outcome::kFailed);
      continue;
    }
    const bool decoding = r.first_token >= 0;
    const auto lost = static_cast<std::uint32_t>(decoding ? r.generated + steps : 0);
    summary_.lost_tokens += lost;
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
    ++requeued;
  }
  return requeued;
}

void Simulator::Impl::needs_capacity(ModelId m) {
  ModelRuntime& mr = st_.models[m];
  if (!mr.pending) {
    mr.pending = true;
    pending_.push_back(m);
  }
}

// ---------------------------------------------------------------------------------------------------
// Faults.

void Simulator::Impl::set_up_faults() {
  const FaultSpec& spec = sc_.faults;
  const auto servers = static_cast<std::uint32_t>(st_.servers.size());
  const Topology& topo = st_.topology();
  const auto links = static_cast<std::uint32_t>(topo.link_count());
  std::uint32_t gpus = 0;
  for (ServerId s = 0; s < servers; ++s) {
    gpu_base_.push_back(gpus);
    gpus += st_.gpu_accounting.total(s);
    gpu_failures_.emplace_back(st_.gpu_accounting.total(s), 0);
  }
  server_crashes_.assign(servers, 0);
  server_down_since_.assign(servers, 0);
  link_outages_.assign(links, 0);
  link_degradations_.assign(links, 0);
  link_factor_.assign(links, 1.0);
  const auto find_link = [&](const std::string& name, const std::string& where) {
    for (LinkId l = 0; l < links; ++l) {
      if (topo.link(l).name == name) return l;
    }
    throw InputError(where, "no link named '" + name + "' (links: remote_store.uplink, server<i>.network, "
                            "server<i>.nic_to_dram, server<i>.ssd_read, server<i>.dram_read, server<i>.pcie.gpu<g>)");
  };
  remote_link_ = find_link("remote_store.uplink", sc_.source);
  for (std::uint32_t i = 0; i < spec.events.size(); ++i) {
    const FaultEventSpec& e = spec.events[i];
    std::uint32_t target = 0;
    switch (e.kind) {
      case FaultKind::kServerCrash: target = e.server; break;
      case FaultKind::kGpuFailure: target = gpu_base_[e.server] + e.gpu; break;
      case FaultKind::kLinkDegradation:
      case FaultKind::kLinkOutage: target = find_link(e.link, e.where); break;
      case FaultKind::kRemoteStoreOutage: target = remote_link_; break;
    }
    fault_event_targets_.push_back(target);
    queue_.schedule(e.at, kFault, i, 1);
    queue_.schedule(e.at + e.duration, kFault, i, 0);
  }
  // Each target of a process draws from its own stream (seed, process, target): adding a process or a
  // server leaves the other targets' fault times unchanged.
  for (std::uint32_t p = 0; p < spec.processes.size(); ++p) {
    const FaultProcessSpec& proc = spec.processes[p];
    std::uint32_t count = 1;
    if (proc.kind == FaultKind::kServerCrash) count = servers;
    if (proc.kind == FaultKind::kGpuFailure) count = gpus;
    if (proc.kind == FaultKind::kLinkDegradation || proc.kind == FaultKind::kLinkOutage) count = links;
    for (std::uint32_t t = 0; t < count; ++t) {
      FaultTarget ft;
      ft.kind = proc.kind;
      ft.target = proc.kind == FaultKind::kRemoteStoreOutage ? remote_link_ : t;
      ft.mtbf = proc.mtbf;
      ft.repair = proc.repair;
      ft.factor = proc.factor;
      ft.rng = Rng(sc_.simulation.seed, (std::uint64_t{0xfa17} << 48) | (std::uint64_t{p} << 32) | t);
      const auto index = static_cast<std::uint32_t>(fault_processes_.size());
      const Nanos first = from_seconds(ft.rng.exponential(to_seconds(ft.mtbf)));
      fault_processes_.push_back(ft);
      queue_.schedule(first, kFaultProcess, index, 1);
    }
  }
}

void Simulator::Impl::on_fault_process(std::uint32_t index, bool onset) {
  FaultTarget& ft = fault_processes_[index];
  on_fault(ft.kind, ft.target, onset, ft.factor);
  const Nanos mean = onset ? ft.repair : ft.mtbf;
  queue_.schedule(now() + from_seconds(ft.rng.exponential(to_seconds(mean))), kFaultProcess, index, onset ? 0 : 1);
}

void Simulator::Impl::on_fault(FaultKind kind, std::uint32_t target, bool onset, double factor) {
  if (onset) ++summary_.faults;
  switch (kind) {
    case FaultKind::kServerCrash: {
      const ServerId s = target;
      if (onset && server_crashes_[s]++ == 0) crash_server(s);
      if (!onset && --server_crashes_[s] == 0) recover_server(s);
      break;
    }
    case FaultKind::kGpuFailure: {
      const auto s = static_cast<ServerId>(std::upper_bound(gpu_base_.begin(), gpu_base_.end(), target) -
                                           gpu_base_.begin() - 1);
      const std::uint32_t g = target - gpu_base_[s];
      std::uint32_t& failures = gpu_failures_[s][g];
      if (onset && failures++ == 0 && server_crashes_[s] == 0) {
        const InstanceId owner = st_.gpu_accounting.owner(s, g);
        if (owner != kNone) fail_instance(owner);
        st_.gpu_accounting.mark_down(s, g, now());
      }
      if (!onset && --failures == 0 && server_crashes_[s] == 0) st_.gpu_accounting.mark_up(s, g, now());
      break;
    }
    case FaultKind::kLinkDegradation:
      if (onset) {
        ++link_degradations_[target];
        link_factor_[target] *= factor;
      } else if (--link_degradations_[target] == 0) {
        link_factor_[target] = 1.0;  // exactly: no rounding left over from the divisions
      } else {
        link_factor_[target] /= factor;
      }
      apply_link_capacity(target);
      break;
    case FaultKind::kLinkOutage:
      if (onset && link_outages_[target]++ == 0) {
        // The transfers over it fail; their instances go, and their models are placed again.
        loads_.loads_over(target, failed_loads_);
        for (LoadId lid : failed_loads_) {
          const InstanceId id = st_.loads[lid].instance;
          if (st_.instances[id].load == lid) fail_instance(id);
        }
      }
      if (!onset) --link_outages_[target];
      apply_link_capacity(target);
      break;
    case FaultKind::kRemoteStoreOutage:
      // Transfers from the store stall (rate 0) and resume at repair: delayed, not failed.
      if (onset) ++remote_outages_;
      if (!onset) --remote_outages_;
      apply_link_capacity(target);
      break;
  }
  retry_pending(true);
}

void Simulator::Impl::apply_link_capacity(LinkId l) {
  const bool out = link_outages_[l] > 0 || (l == remote_link_ && remote_outages_ > 0);
  loads_.set_link_capacity(l, out ? 0.0 : st_.topology().link(l).bandwidth * link_factor_[l], now());
}

void Simulator::Impl::crash_server(ServerId s) {
  Server& server = st_.servers[s];
  while (!server.instances.empty()) fail_instance(server.instances.front());
  for (std::uint32_t g = 0; g < st_.gpu_accounting.total(s); ++g) {
    if (gpu_failures_[s][g] == 0) st_.gpu_accounting.mark_down(s, g, now());
  }
  // Host memory does not survive a crash; the SSD does unless configured otherwise.
  for (ModelId m = 0; m < st_.models.size(); ++m) {
    if (server.dram_cache.contains(m)) server.dram_cache.erase(m);
    if (!sc_.faults.ssd_survives_crash && server.ssd_cache.contains(m)) server.ssd_cache.erase(m);
  }
  server_down_since_[s] = now();
}

void Simulator::Impl::recover_server(ServerId s) {
  for (std::uint32_t g = 0; g < st_.gpu_accounting.total(s); ++g) {
    if (gpu_failures_[s][g] == 0) st_.gpu_accounting.mark_up(s, g, now());
  }
  server_down_ns_ += static_cast<double>(now() - server_down_since_[s]);
}

// The instance's hardware failed: its load (at any stage) is abandoned, its requests restart elsewhere
// or are lost (faults.running), and it is unloaded; its model is placed again.
void Simulator::Impl::fail_instance(InstanceId id) {
  if (!st_.instances[id].alive()) return;
  if (st_.instances[id].migration != kNone) {
    const bool destination = st_.instances[id].migration_destination;
    const MigrationDriver::Parts parts = migration_.abort(st_.instances[id].migration);
    // The instance waiting for the source's GPUs would wait for ever: it goes too.
    if (parts.beneficiary != kNone) fail_instance(parts.beneficiary);
    if (!destination) {
      fail_instance(parts.destination);  // the copy being built has nothing to continue from
    } else if (st_.instances[parts.source].state == InstanceState::kHandoff) {
      fail_instance(parts.source);  // frozen for the hand-off that cannot happen now: restarted like a crash
    }
  }
  Instance& inst = st_.instances[id];
  if (!inst.alive()) return;
  const ModelId m = inst.model;
  if (inst.load != kNone) loads_.fail(inst.load);
  summary_.fault_restarts += evict_requests(inst, !sc_.faults.restart_running);
  queue_.cancel(inst.next_event);
  inst.next_event = EventId{};
  if (inst.state != InstanceState::kIdle) st_.gpu_accounting.stop_busy(inst, now());
  unload(id);
  needs_capacity(m);
}

// ---------------------------------------------------------------------------------------------------
// What the mechanisms report.

void Simulator::Impl::on_request_done(Instance& inst, RequestSlot slot) {
  if (inst.migration != kNone) migration_.drop_finished(inst, slot);
  finish_request(slot, Outcome::kCompleted);
}

void Simulator::Impl::on_loaded(const Load& load, Instance& inst) {
  scheduler_->on_load_finished(load.server, load.model, load.tier, load.estimate, now() - load.started);
  if (observer_ != nullptr) {
    observer_->on_load_finished(load, now());
    observer_->on_instance_phase(inst, now());  // loading ends (a migration destination starts recomputing)
  }
  if (inst.discard_when_loaded) {  // its migration was dropped meanwhile: nothing to serve here
    unload(inst.id);
    retry_pending(true);
    return;
  }
  if (inst.migration_destination) {
    migration_.on_destination_loaded(inst);
    return;
  }
  inst.state = InstanceState::kIdle;  // briefly: try_admit moves it on when requests wait
  st_.gpu_accounting.enter_idle(inst);
  leave_idle(inst);
  batcher_.try_admit(inst);
}

// ---------------------------------------------------------------------------------------------------

void Simulator::Impl::attach_recorders() {
  if (sc_.output.timeline.enabled) {
    timeline_ = std::make_unique<TimelineRecorder>(st_, sc_.output.timeline);
    observers_.add(timeline_.get());
  }
  if (sc_.output.time_series.enabled) {
    time_series_ = std::make_unique<TimeSeriesRecorder>(st_, sc_.output.time_series);
    observers_.add(time_series_.get());
  }
  if (observers_.empty()) return;
  observer_ = &observers_;
  batcher_.set_observer(observer_);
  loads_.set_observer(observer_);
  migration_.set_observer(observer_);
}

RunSummary Simulator::Impl::run(const RunOptions& options) {
  if (source_) throw std::logic_error("Simulator::run called twice: build a new Simulator per run");
  const auto wall_start = std::chrono::steady_clock::now();
  source_ = options.source ? options.source() : sc_.make_source();
  if (!options.output_dir.empty()) {
    // Outputs of an earlier run in the same folder would look complete beside this run's.
    for (const char* stale : {"requests.csv", "requests.csv.tmp", "requests.csv.zst", "requests.csv.zst.tmp", "summary.json",
                              "summary.json.tmp"}) {
      std::filesystem::remove(std::filesystem::path(options.output_dir) / stale);
    }
  }
  if (!options.output_dir.empty() && sc_.output.requests_csv) recorder_.open_csv(options.output_dir, sc_.output.compress_zstd);
  if (!options.output_dir.empty()) attach_recorders();  // they write at the end of the run

  // Warm instances: loaded before time 0, placed round-robin from the checkpoint's first server.
  const auto n = static_cast<std::uint32_t>(st_.servers.size());
  for (ModelId m = 0; m < st_.models.size(); ++m) {
    for (std::uint32_t k = 0; k < st_.models[m].deployment->warm_instances; ++k) {
      ServerId chosen = kNone;
      for (std::uint32_t j = 0; j < n && chosen == kNone; ++j) {
        const ServerId s = (m + k + j) % n;
        if (st_.gpu_accounting.free(s) >= st_.models[m].gpus_per_instance) chosen = s;
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

  if (sc_.faults.any()) set_up_faults();
  pull_next_arrival();
  const bool progress = options.progress;
  std::uint64_t next_progress = 1 << 16;
  const std::uint64_t expected = sc_.expected_requests;
  while (!queue_.empty()) {
    if (sc_.simulation.horizon > 0 && queue_.next_time() > sc_.simulation.horizon) break;
    if (observer_ != nullptr) observer_->advance_to(queue_.next_time());
    const Event ev = queue_.pop();
    switch (ev.type) {
      case kArrival: on_arrival(); break;
      case kTimeout: on_timeout(static_cast<RequestSlot>(ev.a)); break;
      case kInstanceStep: batcher_.on_step(static_cast<InstanceId>(ev.a)); break;
      case kFlowDone: loads_.on_flow_done(); break;
      case kLoadReady: loads_.on_load_ready(static_cast<LoadId>(ev.a)); break;
      case kKeepAlive: on_keep_alive(static_cast<InstanceId>(ev.a)); break;
      case kPrewarm: on_prewarm(static_cast<ModelId>(ev.a)); break;
      case kMigrationRound: migration_.on_round(static_cast<std::uint32_t>(ev.a), static_cast<int>(ev.b)); break;
      case kFault: {
        const FaultEventSpec& e = sc_.faults.events[ev.a];
        on_fault(e.kind, fault_event_targets_[ev.a], ev.b == 1, e.factor);
        break;
      }
      case kFaultProcess: on_fault_process(static_cast<std::uint32_t>(ev.a), ev.b == 1); break;
      default: throw std::logic_error("unknown event type");
    }
    // The run ends when the last request has left: what would follow (keep-alive expiries, loads that
    // no request waits for any more) changes no output, and recorders must not run past the makespan.
    if (source_done_ && requests_.in_use() == 0) break;
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
  summary_.loads = loads_.loads_started();
  summary_.loads_replaced = loads_.loads_cancelled();
  summary_.loads_failed = loads_.loads_failed();
  summary_.server_down_seconds = server_down_ns_ / 1e9;
  for (ServerId s = 0; s < server_crashes_.size(); ++s) {  // still down at the end: up to the makespan
    if (server_crashes_[s] > 0) {
      summary_.server_down_seconds += to_seconds(std::max<Nanos>(0, summary_.makespan - server_down_since_[s]));
    }
  }
  for (Tier t : {Tier::kRemote, Tier::kSsd, Tier::kDram}) {
    summary_.loads_by_tier[static_cast<int>(t)] = loads_.loads_started(t);
  }
  const MigrationCounts& migrated = migration_.counts();
  summary_.migrations_started = migrated.started;
  summary_.migrations_completed = migrated.completed;
  summary_.migrations_dropped = migrated.dropped;
  summary_.migration_rounds = migrated.rounds;
  summary_.migration_tokens = migrated.tokens;
  recorder_.finish(summary_, sc_);
  summary_.running = running;
  if (summary_.arrived !=
      summary_.completed + summary_.timed_out + summary_.rejected + summary_.failed + summary_.running) {
    throw std::logic_error("request conservation violated: arrived " + std::to_string(summary_.arrived) +
                           " != completed " + std::to_string(summary_.completed) + " + timed out " +
                           std::to_string(summary_.timed_out) + " + rejected " + std::to_string(summary_.rejected) +
                           " + failed " + std::to_string(summary_.failed) +
                           " + running " + std::to_string(summary_.running));
  }
  const std::uint32_t gpus = st_.gpu_accounting.total();
  const double span = static_cast<double>(summary_.makespan) * gpus;
  summary_.gpu_allocated_fraction = span > 0 ? allocated_at_makespan_ / span : 0;
  summary_.gpu_busy_fraction = span > 0 ? busy_at_makespan_ / span : 0;
  summary_.gpu_availability = span > 0 ? 1.0 - down_at_makespan_ / span : 1.0;
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
    if (observer_ != nullptr) observer_->finish(summary_.makespan, options.output_dir);
  }
  return summary_;
}

Simulator::Simulator(const Scenario& scenario) : impl_(std::make_unique<Impl>(scenario)) {}
Simulator::~Simulator() = default;
RunSummary Simulator::run(const RunOptions& options) { return impl_->run(options); }

void check_requests_arrived(const RunSummary& summary, const Scenario& scenario, const std::string& config) {
  if (summary.arrived > 0) return;
  throw InputError(config, scenario.simulation.horizon > 0
                               ? "no request arrived before simulation.horizon"
                               : "the workload produced no requests (check the workload's window, mapping and rates)");
}

}  // namespace sllm
