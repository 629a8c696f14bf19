// MigrationDriver driven directly, with the real batcher and load queue under it and a cost model of
// round numbers (prefill and recompute: 1 ms per token; decode: 10 ms per step). Two servers of one
// GPU: a request decodes on server 0 and is migrated to server 1 so that a waiting instance on server 0
// gets its GPU. A long request moves and finishes at the destination; a short one finishes at the
// source first, which drops the migration and hands the GPU over at its completion time.
#include <gtest/gtest.h>

#include <vector>

#include "batcher.h"
#include "load_queue.h"
#include "migration_driver.h"
#include "sim_events.h"
#include "sim_mechanism_test_util.h"
#include "sim_test_util.h"

namespace sllm {
namespace {

using namespace sllm::testing;

const char* kYaml = R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  runtime_init: 0.5 s
  servers:
    - count: 2
      gpus: {type: A40, count: 1}
      dram: {capacity: 512 GB, chunk_size: 32 MiB}
      ssd: {capacity: 2 TB, read_bandwidth: 2 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  placement: {ssd_replicas: 2}
  deployments:
    - {model: opt-6.7b, count: 1}
workload: {kind: synthetic, requests: 1, rps: 1}
policy: {name: serverlessllm}
)";

// Plays the simulator's part: creates and unloads instances, routes events, records what happened.
class Harness final : public BatchListener, public LoadListener, public MigrationListener {
 public:
  Harness()
      : scenario(scenario_from_yaml(kYaml)),
        st(scenario),
        batcher(st, queue, cost, *this),
        loads(st, queue, *this),
        migration(st, queue, cost, batcher, loads, *this) {}

  InstanceId new_instance(ServerId server, std::uint32_t gpus) {
    Instance inst;
    inst.id = static_cast<InstanceId>(st.instances.size());
    inst.server = server;
    inst.state = InstanceState::kLoading;
    inst.max_batch = 8;
    inst.kv_token_budget = 1'000'000;
    st.instances.push_back(inst);
    Instance& added = st.instances.back();
    added.gpus_owed = 1 - st.gpu_accounting.take(added, gpus, queue.now());
    return added.id;
  }

  // A request decoding on a warm instance on server 0, and an instance on server 0 waiting for its GPU.
  void start(std::uint32_t output_tokens) {
    source = new_instance(0, 1);
    Instance& s = st.instances[source];
    s.loaded_from = Tier::kWarm;
    s.state = InstanceState::kIdle;
    RequestState r;
    r.spec.input_tokens = 10;
    r.spec.output_tokens = output_tokens;
    r.in_use = true;
    st.requests.push_back(r);
    st.models[0].queue.push_back({0, 0});
    ++st.models[0].queued_live;
    st.gpu_accounting.start_busy(s, 0);
    batcher.try_admit(s);
    queue.schedule(20 * kMs, 99);  // decoding from 10 ms
    run_until(20 * kMs);
    beneficiary = new_instance(0, 0);
    MigrationOrder order;
    order.instance = source;
    order.destination = 1;
    order.tier = Tier::kSsd;
    migration.start(order, beneficiary);
  }

  void run_until(Nanos until) {
    while (!queue.empty() && queue.next_time() <= until) {
      const Event ev = queue.pop();
      switch (ev.type) {
        case sim_events::kInstanceStep: batcher.on_step(static_cast<InstanceId>(ev.a)); break;
        case sim_events::kFlowDone: loads.on_flow_done(); break;
        case sim_events::kLoadReady: loads.on_load_ready(static_cast<LoadId>(ev.a)); break;
        case sim_events::kMigrationRound:
          migration.on_round(static_cast<std::uint32_t>(ev.a), static_cast<int>(ev.b));
          break;
        default: break;
      }
    }
  }

  // BatchListener
  void on_nothing_to_serve(Instance& inst) override {
    st.gpu_accounting.stop_busy(inst, queue.now());
    inst.state = InstanceState::kIdle;
  }
  void on_request_done(Instance& inst, RequestSlot slot) override {
    if (inst.migration != kNone) migration.drop_finished(inst, slot);
    st.requests[slot].completion = queue.now();
    st.requests[slot].instance = inst.id;
    completed_on = inst.id;
  }
  bool on_batch_change(Instance& inst) override { return migration.on_source_batch_change(inst); }
  // LoadListener
  void on_loaded(const Load&, Instance& inst) override {
    if (inst.discard_when_loaded) {
      unload(inst.id);
    } else if (inst.migration_destination) {
      migration.on_destination_loaded(inst);
    } else {
      loaded.push_back(inst.id);
    }
  }
  // MigrationListener
  InstanceId create_destination(ModelId, ServerId s) override { return new_instance(s, 1); }
  void unload(InstanceId id) override {
    st.gpu_accounting.give_back(st.instances[id], queue.now());
    st.instances[id].state = InstanceState::kFree;
    unloaded.push_back(id);
  }
  void on_source_released() override { released_at.push_back(queue.now()); }
  void on_request_migrated(Nanos pause) override { pauses.push_back(pause); }

  Scenario scenario;
  ClusterState st;
  EventQueue queue{64};
  RoundNumbers cost;
  Batcher batcher;
  LoadQueue loads;
  MigrationDriver migration;
  InstanceId source = kNone, beneficiary = kNone, completed_on = kNone;
  std::vector<InstanceId> unloaded, loaded;
  std::vector<Nanos> released_at, pauses;
};

TEST(MigrationDriver, ALongRequestMovesAndItsGpuGoesToTheWaitingInstance) {
  Harness h;
  h.start(100'000);  // 1000 s of decoding: the ~7 s SSD load at the destination ends long before
  const InstanceId dest = 2;
  EXPECT_EQ(h.st.instances[dest].server, 1u);
  EXPECT_TRUE(h.st.instances[dest].migration_destination);
  EXPECT_EQ(h.migration.counts().started, 1u);
  h.run_until(30'000 * kMs);
  const RequestState& r = h.st.requests[0];
  EXPECT_EQ(r.instance, dest);
  EXPECT_EQ(r.server, 1u);
  EXPECT_EQ(r.migrations, 1u);
  EXPECT_GE(r.migration_rounds, 2u);  // the first round ships everything; at least one catches up
  EXPECT_GT(r.migration_tokens, 10u + 600u);  // > 6 s of decoding happened before the destination loaded
  ASSERT_EQ(h.pauses.size(), 1u);
  EXPECT_GT(h.pauses[0], 0);
  EXPECT_EQ(h.migration.counts().completed, 1u);
  EXPECT_EQ(h.migration.counts().dropped, 0u);
  // The source was unloaded and its GPU went to the waiting instance, which then loaded.
  EXPECT_EQ(h.unloaded, (std::vector<InstanceId>{h.source}));
  EXPECT_EQ(h.released_at.size(), 1u);
  EXPECT_EQ(h.st.gpu_accounting.owner(0, 0), h.beneficiary);
  EXPECT_EQ(h.st.gpu_accounting.owner(1, 0), dest);
  EXPECT_EQ(h.st.instances[h.beneficiary].gpus_owed, 0u);
  EXPECT_EQ(h.loaded, (std::vector<InstanceId>{h.beneficiary}));
  EXPECT_EQ(h.st.instances[h.beneficiary].load_started, h.released_at[0]);
  // Decoding goes on at the destination: the request is not done yet, and no token was lost.
  EXPECT_EQ(h.st.instances[dest].running, (std::vector<RequestSlot>{0}));
  h.run_until(2'000'000 * kMs);
  EXPECT_EQ(h.completed_on, dest);
  EXPECT_EQ(r.generated, 100'000u);
}

TEST(MigrationDriver, ARequestFinishingAtTheSourceDropsTheMigration) {
  Harness h;
  h.start(50);  // prefill to 10 ms, 49 steps to 500 ms: before the destination's load ends
  h.run_until(30'000 * kMs);
  EXPECT_EQ(h.completed_on, h.source);
  EXPECT_EQ(h.st.requests[0].completion, 500 * kMs);
  EXPECT_EQ(h.migration.counts().started, 1u);
  EXPECT_EQ(h.migration.counts().dropped, 1u);
  EXPECT_EQ(h.migration.counts().completed, 0u);
  EXPECT_TRUE(h.pauses.empty());
  // Released at the completion; the GPU went to the waiting instance, whose load started then.
  EXPECT_EQ(h.released_at, (std::vector<Nanos>{500 * kMs}));
  EXPECT_EQ(h.st.gpu_accounting.owner(0, 0), h.beneficiary);
  EXPECT_EQ(h.st.instances[h.beneficiary].load_started, 500 * kMs);
  // The destination's copy was abandoned once its load finished: both it and the source are gone.
  EXPECT_EQ(h.unloaded, (std::vector<InstanceId>{h.source, InstanceId{2}}));
  EXPECT_EQ(h.st.gpu_accounting.free(1), 1u);
  EXPECT_EQ(h.loaded, (std::vector<InstanceId>{h.beneficiary}));
}

}  // namespace
}  // namespace sllm
