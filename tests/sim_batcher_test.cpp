// Batcher driven directly with a cost model of round numbers (prefill: 1 ms per prompt token; decode:
// 10 ms per step whatever the batch), so every batch change falls on a hand-computed time: admission
// stops at max_batch and at the KV-cache token budget, prefill gives the first token, a decode segment
// runs to the first completion, a request arriving mid-segment joins at the next step boundary, and an
// instance with nothing to serve says so.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "batcher.h"
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
    - count: 1
      gpus: {type: A40, count: 1}
      dram: {capacity: 512 GB, chunk_size: 32 MiB}
      ssd: {capacity: 2 TB, read_bandwidth: 2 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  deployments:
    - {model: opt-6.7b, count: 1}
workload: {kind: synthetic, requests: 1, rps: 1}
policy: {name: serverlessllm}
)";

class Listener final : public BatchListener {
 public:
  explicit Listener(const EventQueue& q) : queue(q) {}
  void on_nothing_to_serve(Instance& inst) override {
    inst.state = InstanceState::kIdle;
    idle_at.push_back(queue.now());
  }
  void on_request_done(Instance&, RequestSlot slot) override { done.push_back({slot, queue.now()}); }
  bool on_batch_change(Instance&) override { return false; }
  const EventQueue& queue;
  std::vector<Nanos> idle_at;
  std::vector<std::pair<RequestSlot, Nanos>> done;
};

class BatcherTest : public ::testing::Test {
 protected:
  BatcherTest() : scenario(scenario_from_yaml(kYaml)), st(scenario), listener(queue), batcher(st, queue, cost, listener) {
    Instance inst;
    inst.id = 0;
    inst.state = InstanceState::kIdle;
    inst.loaded_from = Tier::kWarm;
    st.instances.push_back(inst);
    st.gpu_accounting.take(st.instances[0], 1, 0);
  }
  Instance& inst() { return st.instances[0]; }

  RequestSlot add_request(std::uint32_t input, std::uint32_t output) {
    RequestState r;
    r.spec.id = st.requests.size();
    r.spec.arrival = queue.now();
    r.spec.input_tokens = input;
    r.spec.output_tokens = output;
    r.in_use = true;
    st.requests.push_back(r);
    const auto slot = static_cast<RequestSlot>(st.requests.size() - 1);
    st.models[0].queue.push_back({slot, r.spec.id});
    ++st.models[0].queued_live;
    return slot;
  }

  // Pops events up to and including time `until`, handing instance steps to the batcher.
  void run_until(Nanos until) {
    while (!queue.empty() && queue.next_time() <= until) {
      const Event ev = queue.pop();
      if (ev.type == sim_events::kInstanceStep) batcher.on_step(static_cast<InstanceId>(ev.a));
    }
  }

  Scenario scenario;
  ClusterState st;
  EventQueue queue{64};
  RoundNumbers cost;
  Listener listener;
  Batcher batcher;
};

TEST_F(BatcherTest, AdmitsUpToMaxBatchInArrivalOrder) {
  inst().max_batch = 2;
  inst().kv_token_budget = 1'000'000;
  for (int i = 0; i < 3; ++i) add_request(10, 3);
  batcher.try_admit(inst());
  EXPECT_EQ(inst().state, InstanceState::kPrefill);
  EXPECT_EQ(inst().joining, (std::vector<RequestSlot>{0, 1}));
  EXPECT_EQ(st.models[0].queued_live, 1u);
  EXPECT_EQ(st.models[0].in_service, 2u);
  EXPECT_EQ(inst().kv_tokens_reserved, 26u);  // (10 + 3) each
  EXPECT_EQ(inst().next_event_time, 20 * kMs);  // one prefill pass over 20 prompt tokens
  run_until(20 * kMs);
  EXPECT_EQ(inst().state, InstanceState::kDecode);
  EXPECT_EQ(st.requests[0].first_token, 20 * kMs);
  EXPECT_EQ(st.requests[0].generated, 1u);
  // Full batch: decode runs the 2 remaining steps to the completions at 40 ms in one segment.
  EXPECT_EQ(inst().next_event_time, 40 * kMs);
  run_until(40 * kMs);
  ASSERT_EQ(listener.done.size(), 2u);
  EXPECT_EQ(listener.done[0], std::make_pair(RequestSlot{0}, 40 * kMs));
  EXPECT_EQ(listener.done[1], std::make_pair(RequestSlot{1}, 40 * kMs));
  // The third joins at once: prefill of 10 tokens to 50 ms, then 2 steps to 70 ms.
  EXPECT_EQ(inst().joining, (std::vector<RequestSlot>{2}));
  run_until(1000 * kMs);
  ASSERT_EQ(listener.done.size(), 3u);
  EXPECT_EQ(listener.done[2], std::make_pair(RequestSlot{2}, 70 * kMs));
  EXPECT_EQ(listener.idle_at, (std::vector<Nanos>{70 * kMs}));
  EXPECT_EQ(inst().kv_tokens_reserved, 0u);
  EXPECT_EQ(st.models[0].in_service, 0u);
}

TEST_F(BatcherTest, AdmissionStopsAtTheKvBudget) {
  inst().max_batch = 8;
  inst().kv_token_budget = 30;  // two requests of 13 tokens fit, a third does not
  for (int i = 0; i < 3; ++i) add_request(10, 3);
  batcher.try_admit(inst());
  EXPECT_EQ(inst().joining.size(), 2u);
  EXPECT_EQ(inst().kv_tokens_reserved, 26u);
  EXPECT_EQ(st.models[0].queued_live, 1u);
  run_until(20 * kMs);
  // Decoding with a request waiting that does not fit: no early stop, the segment runs to 40 ms.
  EXPECT_EQ(inst().next_event_time, 40 * kMs);
  run_until(40 * kMs);
  EXPECT_EQ(inst().joining, (std::vector<RequestSlot>{2}));  // room again once they finished
}

TEST_F(BatcherTest, ARequestArrivingMidSegmentJoinsAtTheNextStepBoundary) {
  inst().max_batch = 2;
  inst().kv_token_budget = 1'000'000;
  add_request(10, 100);
  batcher.try_admit(inst());
  run_until(10 * kMs);  // prefill ends at 10 ms; decode steps end at 20, 30, 40, ... ms
  EXPECT_EQ(inst().next_event_time, 10 * kMs + 99 * 10 * kMs);
  queue.schedule(25 * kMs, 99);  // a stand-in arrival at 25 ms
  run_until(25 * kMs);
  add_request(5, 1);
  batcher.admit_at_next_step(inst());
  EXPECT_EQ(inst().next_event_time, 30 * kMs);
  run_until(30 * kMs);
  EXPECT_EQ(st.requests[0].generated, 3u);  // 1 from prefill + 2 steps
  EXPECT_EQ(inst().joining, (std::vector<RequestSlot>{1}));
  EXPECT_EQ(inst().state, InstanceState::kPrefill);
  EXPECT_EQ(inst().next_event_time, 35 * kMs);  // 5 prompt tokens
}

TEST_F(BatcherTest, AnInstanceWithNothingToServeSaysSo) {
  batcher.try_admit(inst());
  EXPECT_EQ(listener.idle_at, (std::vector<Nanos>{0}));
  EXPECT_TRUE(queue.empty());
}

TEST_F(BatcherTest, DropsStaleQueueEntries) {
  const RequestSlot gone = add_request(10, 3);
  add_request(10, 3);
  st.requests[gone].in_use = false;  // timed out: its queue entry is stale
  --st.models[0].queued_live;
  const RequestState* head = batcher.queue_head(st.models[0]);
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->spec.id, 1u);
  EXPECT_EQ(st.models[0].queue.size(), 1u);
}

}  // namespace
}  // namespace sllm
