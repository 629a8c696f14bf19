// LoadQueue driven directly: loads on one server run one after another in enqueue order, loads on
// different servers run side by side, each lone load takes bytes / bottleneck + fill + init (hand
// computed from the link bandwidths), queue_estimated_end is the enqueue time plus the sum of the
// queued loads' estimates, and a finished load fills the tiers it passed through as its options say.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "load_queue.h"
#include "sim_events.h"
#include "sim_test_util.h"
#include "sllm/core/model_arch.h"
#include "sllm/sim/cluster_view.h"

namespace sllm {
namespace {

using namespace sllm::testing;

constexpr double kChunk = 32.0 * 1024 * 1024;

// Two servers of three GPUs, the checkpoint on both SSDs, nothing in DRAM.
const char* kYaml = R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  runtime_init: 0.5 s
  servers:
    - count: 2
      gpus: {type: A40, count: 3}
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

struct Done {
  InstanceId instance;
  Nanos at;
  Nanos started;
};

class Recorder final : public LoadListener {
 public:
  void on_loaded(const Load& load, Instance& inst) override {
    EXPECT_EQ(load.instance, inst.id);
    EXPECT_EQ(inst.load, kNone);
    EXPECT_EQ(inst.ready, now);
    done.push_back({inst.id, inst.ready, load.started});
  }
  Nanos now = 0;
  std::vector<Done> done;
};

class LoadQueueTest : public ::testing::Test {
 protected:
  LoadQueueTest() : scenario(scenario_from_yaml(kYaml)), st(scenario), loads(st, queue, recorder) {}

  Instance& add_instance(ServerId server) {
    Instance inst;
    inst.id = static_cast<InstanceId>(st.instances.size());
    inst.server = server;
    inst.model = 0;
    inst.state = InstanceState::kLoading;
    st.instances.push_back(inst);
    Instance& added = st.instances.back();
    st.gpu_accounting.take(added, 1, queue.now());
    return added;
  }

  void run_events() {
    while (!queue.empty()) {
      const Event ev = queue.pop();
      recorder.now = queue.now();
      if (ev.type == sim_events::kFlowDone) {
        loads.on_flow_done();
      } else if (ev.type == sim_events::kLoadReady) {
        loads.on_load_ready(static_cast<LoadId>(ev.a));
      } else {
        FAIL() << "unexpected event type " << ev.type;
      }
    }
  }

  // A lone SSD load onto one GPU: SSD -> DRAM at 2 GB/s governs; one chunk crosses DRAM -> PCIe root
  // (75 GB/s: 3 GPUs x PCIe by default) and one PCIe link (25 GB/s); then 0.5 s of runtime init.
  double lone_ssd_load_seconds() const {
    const double n = static_cast<double>(ModelCatalog::builtin().get("opt-6.7b", "test").checkpoint_bytes());
    return n / 2e9 + kChunk / 75e9 + kChunk / 25e9 + 0.5;
  }

  Scenario scenario;
  ClusterState st;
  EventQueue queue{64};
  Recorder recorder;
  LoadQueue loads;
};

TEST_F(LoadQueueTest, OneServersLoadsRunInEnqueueOrderOneAtATime) {
  for (int i = 0; i < 3; ++i) loads.enqueue(add_instance(0), Tier::kSsd, LoadOptions{});
  EXPECT_EQ(st.servers[0].load_queue.size(), 3u);
  run_events();
  const double e = lone_ssd_load_seconds();
  ASSERT_EQ(recorder.done.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(recorder.done[k].instance, k);  // FIFO
    EXPECT_NEAR(to_seconds(recorder.done[k].at), static_cast<double>(k + 1) * e, 1e-8);
    // Each starts when the one before it is ready, not before.
    EXPECT_EQ(recorder.done[k].started, k == 0 ? 0 : recorder.done[k - 1].at);
  }
  EXPECT_TRUE(st.servers[0].load_queue.empty());
  EXPECT_EQ(loads.loads_started(), 3u);
  EXPECT_EQ(loads.loads_started(Tier::kSsd), 3u);
  EXPECT_EQ(loads.loads_started(Tier::kRemote), 0u);
}

TEST_F(LoadQueueTest, ServersLoadSideBySide) {
  loads.enqueue(add_instance(0), Tier::kSsd, LoadOptions{});
  loads.enqueue(add_instance(1), Tier::kSsd, LoadOptions{});
  run_events();
  ASSERT_EQ(recorder.done.size(), 2u);
  const double e = lone_ssd_load_seconds();
  EXPECT_NEAR(to_seconds(recorder.done[0].at), e, 1e-8);
  EXPECT_NEAR(to_seconds(recorder.done[1].at), e, 1e-8);
}

TEST_F(LoadQueueTest, EstimatedEndIsEnqueueTimePlusTheQueuedEstimates) {
  const Nanos est = st.estimate_load(0, 0, Tier::kSsd, 1);
  const Nanos extra = from_seconds(2.0);
  LoadOptions slow;
  slow.extra_startup = extra;  // e.g. a container start, counted in the estimate
  loads.enqueue(add_instance(0), Tier::kSsd, LoadOptions{});
  loads.enqueue(add_instance(0), Tier::kSsd, slow);
  loads.enqueue(add_instance(0), Tier::kSsd, LoadOptions{});
  EXPECT_EQ(st.servers[0].queue_estimated_end, 3 * est + extra);
  EXPECT_EQ(ClusterStateView(st, 0).loading_queue_wait(0), 3 * est + extra);
  EXPECT_EQ(ClusterStateView(st, 0).loading_queue_wait(1), 0);
  // Step to the first load's completion: the rest are re-estimated from then on.
  while (recorder.done.empty()) {
    const Event ev = queue.pop();
    recorder.now = queue.now();
    if (ev.type == sim_events::kFlowDone) loads.on_flow_done();
    if (ev.type == sim_events::kLoadReady) loads.on_load_ready(static_cast<LoadId>(ev.a));
  }
  const Nanos t1 = recorder.done[0].at;
  EXPECT_EQ(st.servers[0].queue_estimated_end, t1 + 2 * est + extra);
  run_events();
  ASSERT_EQ(recorder.done.size(), 3u);
  EXPECT_NEAR(to_seconds(recorder.done[1].at - t1), lone_ssd_load_seconds() + 2.0, 1e-8);
  EXPECT_EQ(st.servers[0].queue_estimated_end, recorder.done[2].at);  // empty queue: ends now
}

TEST_F(LoadQueueTest, AFinishedLoadFillsTheTiersItsOptionsAskFor) {
  ASSERT_FALSE(st.holds(0, 0, Tier::kDram));
  ASSERT_FALSE(st.holds(1, 0, Tier::kDram));
  LoadOptions no_copies;
  no_copies.populate_dram = false;
  loads.enqueue(add_instance(0), Tier::kSsd, LoadOptions{});
  loads.enqueue(add_instance(1), Tier::kSsd, no_copies);
  run_events();
  EXPECT_TRUE(st.holds(0, 0, Tier::kDram));   // pipelined through DRAM: a copy stays
  EXPECT_FALSE(st.holds(1, 0, Tier::kDram));  // a cache-less system leaves none
  EXPECT_EQ(st.instances[0].loaded_from, Tier::kSsd);
}

TEST_F(LoadQueueTest, RefusesALoadFromTheWarmTier) {
  EXPECT_THROW(loads.enqueue(add_instance(0), Tier::kWarm, LoadOptions{}), std::logic_error);
}

}  // namespace
}  // namespace sllm
