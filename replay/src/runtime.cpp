// The real run (docs/replay.md). Threads, all sharing one mutex that guards the cluster record:
//  - the control thread (the caller): arrivals at their trace times, request timeouts, keep-alive
//    expiries and pre-warms, in wall-clock time;
//  - one loader thread per server: its FIFO loading queue, carried out by the real Loader (SSD -> DRAM
//    chunk pool -> GPU) followed by the engine's creation, both outside the lock;
//  - one engine thread per instance: continuous batching (admission under max_batch_size and the KV
//    budget, a prefill pass over the admitted requests, decode steps of the running batch), each forward
//    pass outside the lock.
// The policies are asked exactly where the simulator asks them (sim/src/simulator.cpp: dispatch,
// ensure_capacity, place_once, retry_pending, execute, go_idle, unload, on_loaded), under the lock, so
// each decision sees one consistent instant of the real cluster.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <memory>
#include <mutex>
#include <queue>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "real_view.h"
#include "sllm/core/build_info.h"
#include "sllm/core/error.h"
#include "sllm/core/files.h"
#include "sllm/models/checkpoint.h"
#include "sllm/models/device_backend.h"
#include "sllm/models/engine.h"
#include "sllm/models/loader.h"
#include "sllm/replay/replay.h"
#include "sllm/sim/cluster.h"
#include "sllm/sim/cost_model.h"
#include "sllm/sim/policy.h"
#include "sllm/sim/profile.h"

namespace sllm::replay {
namespace {

using Clock = std::chrono::steady_clock;

// What only the real side of an instance has: its weights, engine, KV-cache slots and thread.
struct RealInstance {
  std::unique_ptr<models::LoadedModel> weights;
  std::unique_ptr<models::Engine> engine;
  std::thread thread;
  std::condition_variable wake;
  bool stop = false;
  std::vector<int> free_kv_slots;
};

// Per request slot: the KV-cache slot it holds and the last token the engine produced for it.
struct RequestTokens {
  int kv_slot = -1;
  models::TokenId last = 0;
};

struct Timeout {
  Nanos at = 0;
  RequestSlot slot = 0;
  std::uint64_t id = 0;
  bool operator>(const Timeout& o) const { return at > o.at || (at == o.at && id > o.id); }
};

std::string seconds_text(Nanos t) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(6) << to_seconds(t);
  return o.str();
}

class Replay {
 public:
  Replay(const Scenario& sc, const ReplayOptions& options);
  ~Replay();
  RunSummary run();

 private:
  Nanos now() const { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0_).count(); }
  Nanos since_start(Clock::time_point t) const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t - t0_).count();
  }
  std::uint32_t demand(const ModelRuntime& m) const { return m.in_service + m.queued_live; }

  // Under mu_ (the simulator's loop, carried out for real).
  void on_arrival(const RequestSpec& spec);
  void dispatch(ModelId m);
  void ensure_capacity(ModelId m);
  bool place_once(ModelId m);
  void retry_pending();
  void execute(const Decision& d, ModelId m);
  InstanceId create_instance(ModelId m, ServerId s);
  void unload(InstanceId id);
  void go_idle(Instance& inst);
  void leave_idle(Instance& inst);
  void finish_request(RequestSlot slot, Outcome outcome);
  RequestSlot take_request_slot();
  void enqueue_load(Instance& inst, Tier tier, const LoadOptions& options);
  void on_timeouts();
  void on_keep_alives();
  void on_prewarms();
  void decision_row(const char* event, ModelId m, ServerId s, const std::string& tier, Nanos estimate,
                    const std::string& detail);

  // Threads.
  void load_loop(ServerId s);
  // Under mu_: a load finished (the simulator's LoadQueue::on_load_ready and Simulator::on_loaded).
  void on_loaded(ServerId s, LoadId lid, const Load& load, Clock::time_point start, double transfer,
                 double init_seconds, const models::LoadStats& stats, std::unique_ptr<models::LoadedModel> weights,
                 std::unique_ptr<models::Engine> engine, const std::shared_ptr<RealInstance>& ri);
  // Under mu_: a thread failed; the control thread rethrows it and the run stops.
  void fail(std::exception_ptr e) {
    if (!failure_) failure_ = e;
    stopping_ = true;
    control_wake_.notify_all();
  }
  void serve(InstanceId id, std::shared_ptr<RealInstance> ri);
  bool admit(Instance& inst, RealInstance& ri);
  void complete_finished(Instance& inst, RealInstance& ri);

  const Scenario& sc_;
  ReplayOptions opt_;
  ClusterState st_;
  std::unique_ptr<CostModel> cost_;
  std::unique_ptr<SchedulingPolicy> scheduler_;
  std::unique_ptr<KeepAlivePolicy> keep_alive_;
  std::vector<models::Checkpoint> checkpoints_;  // by model
  std::string loader_mode_;
  std::vector<std::unique_ptr<models::Loader>> loaders_;  // by server

  Clock::time_point t0_;
  std::mutex mu_;
  std::condition_variable control_wake_;
  std::condition_variable loader_wake_;
  bool stopping_ = false;
  std::vector<std::thread> loader_threads_;

  std::vector<std::shared_ptr<RealInstance>> real_;  // by instance id
  std::vector<std::thread> retired_;                 // engine threads of unloaded instances, joined by loaders
  std::vector<RequestTokens> tokens_;                // by request slot
  std::vector<RequestSlot> free_request_slots_;
  std::vector<Nanos> keep_alive_until_;              // by instance id (-1: no deadline)
  std::priority_queue<Timeout, std::vector<Timeout>, std::greater<>> timeouts_;
  std::vector<std::pair<Nanos, ModelId>> prewarms_;
  std::deque<ModelId> pending_;
  bool retrying_ = false;
  std::vector<RealLoadQueue> load_queues_;  // by server: estimates, for the view
  std::deque<LoadId> free_loads_;
  bool source_done_ = false;
  std::uint64_t in_flight_ = 0;
  std::exception_ptr failure_;

  RequestRecorder recorder_;
  RunSummary summary_;
  Nanos last_request_event_ = 0;
  double allocated_at_makespan_ = 0, busy_at_makespan_ = 0;
  std::uint64_t loads_by_tier_[3] = {};
  std::string decisions_;  // decisions.csv
  std::string loads_log_;  // loads.csv
};

Replay::Replay(const Scenario& sc, const ReplayOptions& options)
    : sc_(sc), opt_(options), st_(sc), cost_(make_cost_model(sc.simulation.cost_model)) {
  if (st_.servers.size() != 1) {
    throw InputError(sc.source + ": cluster.servers", "replay runs the host as one server; the scenario has " +
                                                          std::to_string(st_.servers.size()));
  }
  for (const DeploymentSpec& d : sc.deployments) {
    if (d.gpus_per_instance != 1) {
      throw InputError(sc.source + ": models.deployments",
                       d.model + " needs " + std::to_string(d.gpus_per_instance) +
                           " GPUs per instance; replay runs one GPU per instance");
    }
    if (d.warm_instances != 0) {
      throw InputError(sc.source + ": models.deployments", "replay starts cold: warm_instances must be 0");
    }
  }
  for (ModelId m = 0; m < st_.models.size(); ++m) {
    if (!st_.holds(0, m, Tier::kSsd)) {
      throw InputError(sc.source + ": models.placement",
                       "replay keeps every checkpoint on the local disk; the SSD capacity must hold them all");
    }
  }
  ConfigNode sched = sc.scheduler.params;
  scheduler_ = SchedulingRegistry::instance().create(sc.scheduler.name, sched, sched);
  if (scheduler_->may_replace_loads()) {
    throw InputError(sc.source + ": policy",
                     "the replay cannot abandon a real load in flight; turn load replacement off (for serverlessllm: "
                     "replace_loads: false)");
  }
  ConfigNode keep = sc.keep_alive.params;
  keep_alive_ = KeepAliveRegistry::instance().create(sc.keep_alive.name, keep, keep);
  loader_mode_ = opt_.loader_mode.empty() ? sc.cluster.profile_loader : opt_.loader_mode;
  for (const DeployedModel& m : sc.models) {
    checkpoints_.push_back(models::open_checkpoint(checkpoint_path(opt_.checkpoint_dir, m)));
  }
  // The DRAM pool: the scenario's capacity, in which the eviction policy keeps checkpoints by their
  // catalog bytes as in the simulator (scaled up by the files' largest padding overhead, so that what the
  // policy keeps fits the real pool), plus room for the largest checkpoint while a load streams through
  // before the policy evicts, plus one chunk per partition of rounding.
  const ServerGroupSpec& group = *st_.servers[0].spec;
  std::uint64_t largest = 0, partitions = 0;
  double overhead = 1.0;
  for (ModelId m = 0; m < checkpoints_.size(); ++m) {
    const std::uint64_t real_bytes = checkpoints_[m].index.total_bytes();
    largest = std::max(largest, real_bytes);
    partitions += checkpoints_[m].index.partitions.size();
    overhead = std::max(overhead, static_cast<double>(real_bytes) / static_cast<double>(sc.models[m].checkpoint_bytes));
  }
  models::LoaderOptions lo;
  lo.chunk_bytes = group.chunk_size;
  lo.pool_bytes = static_cast<std::uint64_t>(static_cast<double>(group.dram_capacity) * overhead) + largest +
                  (2 * partitions + 1) * group.chunk_size;
  lo.pool_backend = opt_.device;
  lo.threads = opt_.io_threads;
  loaders_.push_back(std::make_unique<models::Loader>(lo));
  load_queues_.resize(st_.servers.size());
  // Checkpoints the placement puts in DRAM at time 0 are read into the pool now.
  for (ModelId m = 0; m < st_.models.size(); ++m) {
    if (!st_.holds(0, m, Tier::kDram)) continue;
    models::LoadOptions o;
    o.mode = loader_mode_;
    o.verify = opt_.verify;
    loaders_[0]->load(checkpoints_[m], o);
  }
  // The device runtime is up before the clock starts, as a serving system's is before requests come: a
  // tiny engine per GPU creates the context, library handles and kernels once.
  if (opt_.device != "cpu") {
    const ModelArch& tiny = ModelCatalog::builtin().get("tiny-opt", "replay warm-up");
    const models::RandomWeights weights(tiny, 1);
    const std::vector<models::TokenId> prompt{1, 2, 3};
    for (std::uint32_t g = 0; g < group.gpus; ++g) {
      auto engine = models::Engine::create(tiny, weights, models::Device{opt_.device, static_cast<int>(g)});
      const models::SequenceChunk chunk{0, prompt};
      engine->forward(std::span(&chunk, 1));
    }
  }
  decisions_ = "time_s,event,model,server,tier,estimate_s,detail\n";
  loads_log_ =
      "model,server,gpu,tier,bytes,queued_s,start_s,ready_s,transfer_s,engine_init_s,estimate_s,chunks,"
      "chunks_from_dram\n";
}

Replay::~Replay() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& ri : real_) {
      if (ri) ri->stop = true;
      if (ri) ri->wake.notify_all();
    }
  }
  loader_wake_.notify_all();
  for (std::thread& t : loader_threads_) {
    if (t.joinable()) t.join();
  }
  for (auto& ri : real_) {
    if (ri && ri->thread.joinable()) ri->thread.join();
  }
  for (std::thread& t : retired_) {
    if (t.joinable()) t.join();
  }
}

void Replay::decision_row(const char* event, ModelId m, ServerId s, const std::string& tier, Nanos estimate,
                          const std::string& detail) {
  decisions_ += seconds_text(now()) + "," + event + "," + sc_.models[m].name + "," + std::to_string(s) + "," + tier +
                "," + (estimate >= 0 ? seconds_text(estimate) : std::string()) + "," + detail + "\n";
}

// ---------------------------------------------------------------------------------------------------
// Requests.

RequestSlot Replay::take_request_slot() {
  if (!free_request_slots_.empty()) {
    const RequestSlot s = free_request_slots_.back();
    free_request_slots_.pop_back();
    return s;
  }
  st_.requests.emplace_back();
  tokens_.emplace_back();
  return static_cast<RequestSlot>(st_.requests.size() - 1);
}

void Replay::on_arrival(const RequestSpec& spec) {
  const RequestSlot slot = take_request_slot();
  RequestState& r = st_.requests[slot];
  r = RequestState{};
  r.spec = spec;
  r.in_use = true;
  tokens_[slot] = RequestTokens{};
  ++summary_.arrived;
  ++in_flight_;
  const ModelId m = spec.model;
  keep_alive_->on_request(m, now());
  ModelRuntime& mr = st_.models[m];
  const auto max_context = static_cast<std::uint64_t>(mr.deployed->arch->max_positions);
  const std::uint64_t need = std::uint64_t{spec.input_tokens} + spec.output_tokens;
  if (need > mr.kv_token_budget || spec.output_tokens == 0 || need > max_context || spec.input_tokens == 0) {
    finish_request(slot, Outcome::kRejected);  // can never fit an instance (or the engine's context)
    return;
  }
  mr.queue.push_back({slot, spec.id});
  ++mr.queued_live;
  dispatch(m);
  if (st_.requests[slot].instance == kNone) timeouts_.push({now() + sc_.simulation.request_timeout, slot, spec.id});
  ensure_capacity(m);
}

void Replay::finish_request(RequestSlot slot, Outcome outcome) {
  RequestState& r = st_.requests[slot];
  r.outcome = outcome;
  if (outcome == Outcome::kCompleted) r.completion = now();
  last_request_event_ = now();
  allocated_at_makespan_ = st_.gpu_accounting.allocated_area(last_request_event_);
  busy_at_makespan_ = st_.gpu_accounting.busy_area(last_request_event_);
  recorder_.record(r, st_);
  r.in_use = false;
  free_request_slots_.push_back(slot);
  --in_flight_;
  control_wake_.notify_all();
}

void Replay::on_timeouts() {
  while (!timeouts_.empty() && timeouts_.top().at <= now()) {
    const Timeout t = timeouts_.top();
    timeouts_.pop();
    const QueuedRequest e{t.slot, t.id};
    if (!st_.still_waiting(e)) continue;  // admitted or finished meanwhile
    ModelRuntime& mr = st_.models[st_.requests[t.slot].spec.model];
    --mr.queued_live;
    finish_request(t.slot, Outcome::kTimedOut);
    if (mr.queued_live == 0) mr.queue.clear();
  }
}

// ---------------------------------------------------------------------------------------------------
// Placement: the simulator's calls into the policies.

void Replay::dispatch(ModelId m) {
  // An idle instance takes the request now; a serving one takes it at its next step boundary (its
  // engine thread admits from the queue before every step).
  for (InstanceId id : st_.models[m].instances) {
    Instance& inst = st_.instances[id];
    if (inst.state == InstanceState::kIdle) {
      leave_idle(inst);
      inst.state = InstanceState::kPrefill;  // until its engine thread admits (or finds nothing)
      real_[id]->wake.notify_all();
      return;
    }
  }
}

void Replay::ensure_capacity(ModelId m) {
  ModelRuntime& mr = st_.models[m];
  if (mr.pending) return;
  while (demand(mr) > mr.capacity) {
    if (!place_once(m)) break;
  }
}

bool Replay::place_once(ModelId m) {
  ModelRuntime& mr = st_.models[m];
  const RealClusterView view(st_, load_queues_, now(), *cost_);
  const Decision d = scheduler_->place(view, m);
  switch (d.action) {
    case Decision::Action::kStart:
      execute(d, m);
      return true;
    case Decision::Action::kWait:
      if (!mr.pending) {
        mr.pending = true;
        pending_.push_back(m);
        decision_row("wait", m, 0, "", -1, "");
      }
      return false;
    case Decision::Action::kReject:
      decision_row("reject", m, 0, "", -1, "");
      while (!mr.queue.empty()) {
        const QueuedRequest e = mr.queue.front();
        mr.queue.pop_front();
        if (!st_.still_waiting(e)) continue;
        --mr.queued_live;
        finish_request(e.slot, Outcome::kRejected);
      }
      return false;
  }
  return false;
}

void Replay::retry_pending() {
  if (pending_.empty() || retrying_) return;
  retrying_ = true;
  const std::size_t rounds = pending_.size();
  for (std::size_t i = 0; i < rounds && !pending_.empty(); ++i) {
    const ModelId m = pending_.front();
    pending_.pop_front();
    ModelRuntime& mr = st_.models[m];
    mr.pending = false;
    const std::uint32_t spare = st_.gpu_accounting.free_total() + st_.gpu_accounting.idle_total();
    const bool busy_gpus_usable = scheduler_->may_preempt() && (spare > 0 || !scheduler_->moves_need_spare_gpus());
    if (!busy_gpus_usable && spare < mr.gpus_per_instance && demand(mr) > mr.capacity) {
      mr.pending = true;
      pending_.push_back(m);
      continue;
    }
    ensure_capacity(m);
  }
  retrying_ = false;
}

void Replay::execute(const Decision& d, ModelId m) {
  if (d.server >= st_.servers.size()) throw std::logic_error("policy chose a server that does not exist");
  if (!d.preempt.empty() || !d.migrate.empty()) {
    throw std::logic_error("policy asked for preemption or live migration, which replay does not carry out");
  }
  if (d.tier == Tier::kRemote) {
    throw std::logic_error("policy chose the remote tier, which the replay host does not have");
  }
  if (!st_.holds(d.server, m, d.tier)) {
    throw std::logic_error(std::string("policy chose to load from ") + to_string(d.tier) +
                           " but the server does not hold the checkpoint there");
  }
  decision_row("start", m, d.server, to_string(d.tier), d.estimated_startup,
               d.unload_idle.empty() ? "" : "unloads " + std::to_string(d.unload_idle.size()) + " idle");
  for (InstanceId id : d.unload_idle) {
    const Instance& inst = st_.instances[id];
    if (inst.state != InstanceState::kIdle || inst.server != d.server) {
      throw std::logic_error("policy asked to unload an instance that is not idle on the chosen server");
    }
    decision_row("unload_idle", inst.model, inst.server, "", -1, "instance " + std::to_string(id));
    unload(id);
  }
  const InstanceId id = create_instance(m, d.server);
  enqueue_load(st_.instances[id], d.tier, d.load);
}

InstanceId Replay::create_instance(ModelId m, ServerId s) {
  ModelRuntime& mr = st_.models[m];
  if (st_.gpu_accounting.free(s) < mr.gpus_per_instance) {
    throw std::logic_error("policy placed " + mr.deployed->name + " without enough free GPUs");
  }
  InstanceId id = 0;
  while (id < st_.instances.size() && st_.instances[id].alive()) ++id;
  if (id == st_.instances.size()) {
    st_.instances.emplace_back();
    real_.emplace_back();
    keep_alive_until_.push_back(-1);
  }
  Instance& inst = st_.instances[id];
  inst = Instance{};
  inst.id = id;
  inst.model = m;
  inst.server = s;
  inst.state = InstanceState::kLoading;
  inst.created = now();
  inst.max_batch = mr.deployment->max_batch_size;
  inst.kv_token_budget = mr.kv_token_budget;
  st_.gpu_accounting.take(inst, mr.gpus_per_instance, now());
  real_[id] = std::make_shared<RealInstance>();
  keep_alive_until_[id] = -1;
  st_.servers[s].instances.push_back(id);
  mr.instances.push_back(id);
  mr.capacity += inst.max_batch;
  return id;
}

void Replay::go_idle(Instance& inst) {
  st_.gpu_accounting.stop_busy(inst, now());
  inst.state = InstanceState::kIdle;
  st_.gpu_accounting.enter_idle(inst);
  const Nanos keep = keep_alive_->keep_alive(inst.model, now());
  keep_alive_until_[inst.id] = keep == KeepAlivePolicy::kNever ? -1 : now() + keep;
  control_wake_.notify_all();
  retry_pending();
}

void Replay::leave_idle(Instance& inst) {
  keep_alive_until_[inst.id] = -1;
  st_.gpu_accounting.leave_idle(inst);
  st_.gpu_accounting.start_busy(inst, now());
}

void Replay::unload(InstanceId id) {
  Instance& inst = st_.instances[id];
  if (inst.state != InstanceState::kIdle) throw std::logic_error("replay unloads idle instances only");
  st_.gpu_accounting.leave_idle(inst);
  keep_alive_until_[id] = -1;
  st_.gpu_accounting.give_back(inst, now());
  std::erase(st_.servers[inst.server].instances, id);
  ModelRuntime& mr = st_.models[inst.model];
  std::erase(mr.instances, id);
  mr.capacity -= inst.max_batch;
  inst.state = InstanceState::kFree;
  // Its engine thread frees the weights and KV cache and exits; the next load on the server joins it
  // first, so that the GPU memory is back before new weights arrive.
  RealInstance& ri = *real_[id];
  ri.stop = true;
  ri.wake.notify_all();
  retired_.push_back(std::move(ri.thread));
  loader_wake_.notify_all();
  if (mr.instances.empty() && !source_done_) {
    if (const auto delay = keep_alive_->prewarm_delay(inst.model, now())) {
      prewarms_.emplace_back(now() + std::max<Nanos>(0, *delay), inst.model);
    }
  }
}

void Replay::on_keep_alives() {
  for (InstanceId id = 0; id < st_.instances.size(); ++id) {
    if (keep_alive_until_[id] < 0 || keep_alive_until_[id] > now()) continue;
    if (st_.instances[id].state != InstanceState::kIdle) {
      keep_alive_until_[id] = -1;
      continue;
    }
    ++summary_.keep_alive_unloads;
    decision_row("keep_alive_unload", st_.instances[id].model, st_.instances[id].server, "", -1,
                 "instance " + std::to_string(id));
    unload(id);
    retry_pending();
  }
}

void Replay::on_prewarms() {
  for (std::size_t i = 0; i < prewarms_.size();) {
    if (prewarms_[i].first > now()) {
      ++i;
      continue;
    }
    const ModelId m = prewarms_[i].second;
    prewarms_.erase(prewarms_.begin() + static_cast<std::ptrdiff_t>(i));
    ModelRuntime& mr = st_.models[m];
    if (!mr.instances.empty() || mr.pending || source_done_) continue;
    const RealClusterView view(st_, load_queues_, now(), *cost_);
    const Decision d = scheduler_->place(view, m);
    if (d.action != Decision::Action::kStart || !d.migrate.empty() || !d.preempt.empty()) continue;
    decision_row("prewarm", m, d.server, to_string(d.tier), d.estimated_startup, "");
    execute(d, m);
    ++summary_.prewarms;
  }
}

// ---------------------------------------------------------------------------------------------------
// Loading: the simulator's LoadQueue, carried out by the real loader.

void Replay::enqueue_load(Instance& inst, Tier tier, const LoadOptions& options) {
  Server& server = st_.servers[inst.server];
  LoadId lid;
  if (!free_loads_.empty()) {
    lid = free_loads_.front();
    free_loads_.pop_front();
  } else {
    st_.loads.emplace_back();
    lid = static_cast<LoadId>(st_.loads.size() - 1);
  }
  Load& load = st_.loads[lid];
  load = Load{};
  load.instance = inst.id;
  load.server = inst.server;
  load.model = inst.model;
  load.tier = tier;
  load.bytes = st_.models[inst.model].deployed->checkpoint_bytes;  // the policies' accounting, as simulated
  const auto gpus = static_cast<std::uint32_t>(inst.gpus.size());
  load.estimate = st_.estimate_load(inst.server, inst.model, tier, gpus) + options.extra_startup;
  load.options = options;
  load.started = now();  // queued at; the transfer's real start is logged separately
  inst.load = lid;
  inst.loaded_from = tier;
  if (tier == Tier::kSsd) server.ssd_cache.pin(inst.model);
  if (tier == Tier::kDram) server.dram_cache.pin(inst.model);
  ++summary_.loads;
  ++loads_by_tier_[static_cast<int>(tier)];
  server.load_queue.push_back(lid);
  load_queues_[inst.server].entries.push_back({load.estimate, -1});
  loader_wake_.notify_all();
}

void Replay::load_loop(ServerId s) {
  models::Loader& loader = *loaders_[s];
  std::unique_lock lock(mu_);
  for (;;) {
    Server& server = st_.servers[s];
    loader_wake_.wait(lock, [&] { return stopping_ || !server.load_queue.empty(); });
    if (stopping_) return;
    const LoadId lid = server.load_queue.front();
    const Load load = st_.loads[lid];
    const InstanceId id = load.instance;
    std::shared_ptr<RealInstance> ri = real_[id];
    std::vector<std::thread> retired = std::move(retired_);
    retired_.clear();
    const std::uint32_t gpu = st_.instances[id].gpus.front();
    const std::uint32_t max_batch = st_.instances[id].max_batch;
    const ModelArch& arch = *st_.models[load.model].deployed->arch;
    load_queues_[s].entries.front().started = now();  // what the view subtracts from its estimate
    lock.unlock();

    for (std::thread& t : retired) {
      if (t.joinable()) t.join();
    }
    models::LoadOptions o;
    o.device = opt_.device == "cpu" ? models::Device{} : models::Device{opt_.device, static_cast<int>(gpu)};
    o.mode = loader_mode_;
    o.verify = opt_.verify;
    models::LoadStats stats;
    const Clock::time_point start = Clock::now();
    std::unique_ptr<models::LoadedModel> weights;
    std::unique_ptr<models::Engine> engine;
    double init_seconds = 0;  // the engine's creation (KV cache, handles): the load's runtime init
    try {
      weights = loader.load(checkpoints_[load.model], o, &stats);
      models::EngineConfig ec;
      ec.max_sequences = static_cast<int>(max_batch);
      ec.max_context = arch.max_positions;
      const Clock::time_point loaded = Clock::now();
      engine = models::Engine::create(arch, *weights, o.device, ec);
      init_seconds = std::chrono::duration<double>(Clock::now() - loaded).count();
    } catch (...) {
      lock.lock();
      fail(std::current_exception());
      return;
    }
    const double transfer = std::chrono::duration<double>(Clock::now() - start).count() - init_seconds;

    lock.lock();
    try {
      on_loaded(s, lid, load, start, transfer, init_seconds, stats, std::move(weights), std::move(engine), ri);
    } catch (...) {
      fail(std::current_exception());
      return;
    }
  }
}

void Replay::on_loaded(ServerId s, LoadId lid, const Load& load, Clock::time_point start, double transfer,
                       double init_seconds, const models::LoadStats& stats,
                       std::unique_ptr<models::LoadedModel> weights, std::unique_ptr<models::Engine> engine,
                       const std::shared_ptr<RealInstance>& ri) {
  models::Loader& loader = *loaders_[s];
  Server& server = st_.servers[s];
  const InstanceId id = load.instance;
  const std::uint32_t gpu = st_.instances[id].gpus.front();
  const std::uint32_t max_batch = st_.instances[id].max_batch;
  // The simulator's LoadQueue::on_load_ready: the tiers the load passed through are filled.
  if (load.tier == Tier::kSsd) server.ssd_cache.unpin(load.model);
  if (load.tier == Tier::kDram) server.dram_cache.unpin(load.model);
  if (load.tier == Tier::kSsd) server.ssd_cache.touch(load.model, now());
  std::vector<ModelId> evicted;
  if (load.options.populate_dram) server.dram_cache.insert(load.model, load.bytes, now(), &evicted);
  // The real pool follows the eviction policy: its victims leave, and a checkpoint the policy did not
  // keep does not stay behind.
  for (ModelId v : evicted) {
    loader.evict(checkpoints_[v]);
    decision_row("evict_dram", v, s, "dram", -1, "for " + sc_.models[load.model].name);
  }
  if (!server.dram_cache.contains(load.model)) loader.evict(checkpoints_[load.model]);
  Instance& inst = st_.instances[id];
  inst.load_started = since_start(start);
  inst.ready = now();
  inst.load = kNone;
  loads_log_ += sc_.models[load.model].name + "," + std::to_string(s) + "," + std::to_string(gpu) + "," +
                to_string(load.tier) + "," + std::to_string(stats.bytes) + "," + seconds_text(load.started) + "," +
                seconds_text(inst.load_started) + "," + seconds_text(inst.ready) + "," +
                seconds_text(from_seconds(transfer)) + "," + seconds_text(from_seconds(init_seconds)) + "," +
                seconds_text(load.estimate) + "," + std::to_string(stats.chunks) + "," +
                std::to_string(stats.chunks_from_dram) + "\n";
  scheduler_->on_load_finished(load.server, load.model, load.tier, load.estimate, inst.ready - inst.load_started);
  server.load_queue.pop_front();
  load_queues_[s].entries.erase(load_queues_[s].entries.begin());
  free_loads_.push_back(lid);
  ri->weights = std::move(weights);
  ri->engine = std::move(engine);
  for (int k = static_cast<int>(max_batch); k-- > 0;) ri->free_kv_slots.push_back(k);
  // Loaded: serving starts (the simulator's on_loaded: idle for an instant, then admission).
  inst.state = InstanceState::kIdle;
  st_.gpu_accounting.enter_idle(inst);
  leave_idle(inst);
  inst.state = InstanceState::kPrefill;
  ri->thread = std::thread([this, id, ri] { serve(id, ri); });
}

// ---------------------------------------------------------------------------------------------------
// Serving: the simulator's Batcher, carried out by the real engine.

bool Replay::admit(Instance& inst, RealInstance& ri) {
  ModelRuntime& mr = st_.models[inst.model];
  bool any = false;
  while (!mr.queue.empty()) {
    const QueuedRequest e = mr.queue.front();
    if (!st_.still_waiting(e)) {
      mr.queue.pop_front();
      continue;
    }
    RequestState& r = st_.requests[e.slot];
    const std::uint64_t need = std::uint64_t{r.spec.input_tokens} + r.spec.output_tokens;
    if (inst.batch() >= inst.max_batch || inst.kv_tokens_reserved + need > inst.kv_token_budget) break;
    mr.queue.pop_front();
    --mr.queued_live;
    ++mr.in_service;
    r.instance = inst.id;
    r.server = inst.server;
    r.service_start = now();
    r.generated = 0;
    if (r.spec.arrival < inst.ready) {
      r.cold_start = true;
      r.tier = inst.loaded_from;
      r.load_time = inst.ready - inst.load_started;
    }
    inst.kv_tokens_reserved += need;
    tokens_[e.slot].kv_slot = ri.free_kv_slots.back();
    ri.free_kv_slots.pop_back();
    inst.joining.push_back(e.slot);
    any = true;
  }
  return any;
}

void Replay::complete_finished(Instance& inst, RealInstance& ri) {
  ModelRuntime& mr = st_.models[inst.model];
  std::size_t keep = 0;
  for (std::size_t i = 0; i < inst.running.size(); ++i) {
    const RequestSlot slot = inst.running[i];
    RequestState& r = st_.requests[slot];
    if (r.generated >= r.spec.output_tokens) {
      inst.kv_tokens_reserved -= std::uint64_t{r.spec.input_tokens} + r.spec.output_tokens;
      --mr.in_service;
      ri.engine->reset(tokens_[slot].kv_slot);
      ri.free_kv_slots.push_back(tokens_[slot].kv_slot);
      finish_request(slot, Outcome::kCompleted);
    } else {
      inst.running[keep++] = slot;
    }
  }
  inst.running.resize(keep);
}

void Replay::serve(InstanceId id, std::shared_ptr<RealInstance> ri) {
  std::unique_lock lock(mu_);
  std::vector<std::vector<models::TokenId>> prompts;
  std::vector<models::SequenceChunk> chunks;
  std::vector<RequestSlot> batch;
  try {
    while (!ri->stop && !stopping_) {
      Instance& inst = st_.instances[id];
      admit(inst, *ri);
      chunks.clear();
      batch.clear();
      prompts.clear();
      const bool prefill = !inst.joining.empty();
      if (prefill) {
        inst.state = InstanceState::kPrefill;
        for (RequestSlot slot : inst.joining) {
          const RequestState& r = st_.requests[slot];
          prompts.push_back(models::random_tokens(r.spec.id, static_cast<int>(r.spec.input_tokens),
                                                  st_.models[inst.model].deployed->arch->vocab));
          batch.push_back(slot);
        }
        for (std::size_t i = 0; i < batch.size(); ++i) chunks.push_back({tokens_[batch[i]].kv_slot, prompts[i]});
      } else if (!inst.running.empty()) {
        inst.state = InstanceState::kDecode;
        for (RequestSlot slot : inst.running) {
          batch.push_back(slot);
          prompts.push_back({tokens_[slot].last});
        }
        for (std::size_t i = 0; i < batch.size(); ++i) chunks.push_back({tokens_[batch[i]].kv_slot, prompts[i]});
      } else {
        go_idle(inst);
        ri->wake.wait(lock, [&] { return ri->stop || stopping_ || st_.instances[id].state != InstanceState::kIdle; });
        continue;
      }
      lock.unlock();
      const std::vector<models::TokenId> next = ri->engine->forward(chunks);
      lock.lock();
      Instance& after = st_.instances[id];
      const Nanos t = now();
      for (std::size_t i = 0; i < batch.size(); ++i) {
        RequestState& r = st_.requests[batch[i]];
        tokens_[batch[i]].last = next[i];
        if (prefill) {
          r.first_token = t;
          r.generated = 1;  // prefill produces the first output token
        } else {
          ++r.generated;
        }
      }
      if (prefill) {
        after.running.insert(after.running.end(), after.joining.begin(), after.joining.end());
        after.joining.clear();
      }
      complete_finished(after, *ri);
    }
  } catch (...) {  // thrown with or without the lock (a forward pass runs without it)
    if (!lock.owns_lock()) lock.lock();
    fail(std::current_exception());
  }
  lock.unlock();
  ri->engine.reset();
  ri->weights.reset();
}

// ---------------------------------------------------------------------------------------------------

RunSummary Replay::run() {
  const auto wall_start = Clock::now();
  if (!opt_.output_dir.empty() && sc_.output.requests_csv) recorder_.open_csv(opt_.output_dir, sc_.output.compress_zstd);
  std::unique_ptr<RequestSource> source = sc_.make_source();
  RequestSpec next;
  bool have_next = source->next(next);
  t0_ = Clock::now();
  for (ServerId s = 0; s < st_.servers.size(); ++s) loader_threads_.emplace_back([this, s] { load_loop(s); });
  std::unique_lock lock(mu_);
  std::uint64_t last_report = 0;
  for (;;) {
    if (failure_) break;
    while (have_next && next.arrival <= now()) {
      if (next.model >= st_.models.size()) {
        throw InputError("workload", "request " + std::to_string(next.id) + " names model index " +
                                         std::to_string(next.model) + " but only " +
                                         std::to_string(st_.models.size()) + " models are deployed");
      }
      on_arrival(next);
      have_next = source->next(next);
      if (have_next && sc_.simulation.horizon > 0 && next.arrival > sc_.simulation.horizon) have_next = false;
    }
    if (!have_next) source_done_ = true;
    on_timeouts();
    on_keep_alives();
    on_prewarms();
    if (opt_.log != nullptr && summary_.arrived >= last_report + 50) {
      last_report = summary_.arrived;
      *opt_.log << "replay: t=" << std::fixed << std::setprecision(1) << to_seconds(now()) << " s, "
                << summary_.arrived << " arrived, " << in_flight_ << " in flight, " << summary_.loads << " loads\n";
    }
    if (source_done_ && in_flight_ == 0) break;
    Nanos wake = have_next ? next.arrival : now() + kNanosPerSecond;
    if (!timeouts_.empty()) wake = std::min(wake, timeouts_.top().at);
    for (Nanos k : keep_alive_until_) {
      if (k >= 0) wake = std::min(wake, k);
    }
    for (const auto& [at, m] : prewarms_) wake = std::min(wake, at);
    control_wake_.wait_until(lock, t0_ + std::chrono::nanoseconds(std::max(wake, now())));
  }
  if (failure_) std::rethrow_exception(failure_);

  summary_.makespan = last_request_event_;
  for (Tier t : {Tier::kRemote, Tier::kSsd, Tier::kDram}) {
    summary_.loads_by_tier[static_cast<int>(t)] = loads_by_tier_[static_cast<int>(t)];
  }
  recorder_.finish(summary_, sc_);
  summary_.running = 0;
  if (summary_.arrived != summary_.completed + summary_.timed_out + summary_.rejected) {
    throw std::logic_error("request conservation violated: arrived " + std::to_string(summary_.arrived) +
                           " != completed " + std::to_string(summary_.completed) + " + timed out " +
                           std::to_string(summary_.timed_out) + " + rejected " + std::to_string(summary_.rejected));
  }
  const std::uint32_t gpus = st_.gpu_accounting.total();
  const double span = static_cast<double>(summary_.makespan) * gpus;
  summary_.gpu_allocated_fraction = span > 0 ? allocated_at_makespan_ / span : 0;
  summary_.gpu_busy_fraction = span > 0 ? busy_at_makespan_ / span : 0;
  summary_.seed = sc_.simulation.seed;
  summary_.policy = sc_.scheduler.name;
  summary_.version = version();
  summary_.build_id = build_id();
  summary_.config_hash = sc_.config_hash;
  summary_.overrides = sc_.overrides;
  summary_.servers = static_cast<std::uint32_t>(st_.servers.size());
  summary_.gpus = gpus;
  summary_.models = static_cast<std::uint32_t>(st_.models.size());
  summary_.wall_seconds = std::chrono::duration<double>(Clock::now() - wall_start).count();
  if (!opt_.output_dir.empty()) {
    write_file_atomically(opt_.output_dir, "summary.json", summary_.to_json(sc_.output.timing));
    write_file_atomically(opt_.output_dir, "decisions.csv", decisions_);
    write_file_atomically(opt_.output_dir, "loads.csv", loads_log_);
    if (sc_.output.requests_csv) recorder_.commit();
  }
  return summary_;
}

}  // namespace

RunSummary run_replay(const Scenario& scenario, const ReplayOptions& options) {
  Replay replay(scenario, options);
  return replay.run();
}

}  // namespace sllm::replay
