// GpuAccounting: GPUs are conserved (free + held = total, per server and cluster-wide), ownership is
// exclusive and lowest-index-first, and the allocated / busy GPU-time integrals are exact step
// functions of the take/give/busy calls.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "sllm/sim/cluster.h"

namespace sllm {
namespace {

Instance instance(InstanceId id, ServerId server) {
  Instance inst;
  inst.id = id;
  inst.server = server;
  inst.state = InstanceState::kLoading;
  return inst;
}

// Held GPUs counted from the ownership table, independently of the free counters.
std::uint32_t owned(const GpuAccounting& acc, ServerId s) {
  std::uint32_t n = 0;
  for (std::uint32_t g = 0; g < acc.total(s); ++g) n += acc.owner(s, g) != kNone ? 1 : 0;
  return n;
}

TEST(GpuAccounting, TakesLowestFreeGpusAndConservesThem) {
  GpuAccounting acc;
  acc.add_server(4);
  acc.add_server(2);
  EXPECT_EQ(acc.total(), 6u);
  EXPECT_EQ(acc.free_total(), 6u);
  Instance a = instance(0, 0), b = instance(1, 0), c = instance(2, 1);
  EXPECT_EQ(acc.take(a, 3, 0), 3u);
  EXPECT_EQ(a.gpus, (std::vector<std::uint32_t>{0, 1, 2}));
  EXPECT_EQ(acc.take(b, 3, 0), 1u);  // only one left on server 0: a partial take
  EXPECT_EQ(b.gpus, (std::vector<std::uint32_t>{3}));
  EXPECT_EQ(acc.take(c, 1, 0), 1u);
  EXPECT_EQ(acc.free(0), 0u);
  EXPECT_EQ(acc.free(1), 1u);
  EXPECT_EQ(acc.free_total(), 1u);
  for (ServerId s : {0u, 1u}) EXPECT_EQ(acc.free(s) + owned(acc, s), acc.total(s));
  EXPECT_EQ(acc.owner(0, 2), 0u);
  EXPECT_EQ(acc.owner(0, 3), 1u);
  EXPECT_EQ(acc.owner(1, 0), 2u);
  EXPECT_EQ(acc.owner(1, 1), kNone);

  acc.give_back(a, 5);
  EXPECT_TRUE(a.gpus.empty());
  EXPECT_EQ(acc.free(0), 3u);
  EXPECT_EQ(acc.free_total(), 4u);
  for (std::uint32_t g = 0; g < 3; ++g) EXPECT_EQ(acc.owner(0, g), kNone);
  // b still owes two: they come after its GPU 3, and its list stays ascending.
  EXPECT_EQ(acc.take(b, 2, 5), 2u);
  EXPECT_EQ(b.gpus, (std::vector<std::uint32_t>{0, 1, 3}));
  for (ServerId s : {0u, 1u}) EXPECT_EQ(acc.free(s) + owned(acc, s), acc.total(s));
}

TEST(GpuAccounting, IntegratesAllocatedTimeExactly) {
  GpuAccounting acc;
  acc.add_server(4);
  Instance a = instance(0, 0), b = instance(1, 0);
  acc.take(a, 2, 10);  // 2 GPUs from t=10
  acc.take(b, 1, 30);  // 3 from t=30
  acc.give_back(a, 70);  // 1 from t=70
  // 2 x 20 + 3 x 40 + 1 x (t - 70)
  EXPECT_DOUBLE_EQ(acc.allocated_area(70), 2.0 * 20 + 3.0 * 40);
  EXPECT_DOUBLE_EQ(acc.allocated_area(100), 2.0 * 20 + 3.0 * 40 + 1.0 * 30);
  acc.give_back(b, 100);
  EXPECT_DOUBLE_EQ(acc.allocated_area(1000), 2.0 * 20 + 3.0 * 40 + 1.0 * 30);
  EXPECT_DOUBLE_EQ(acc.busy_area(1000), 0.0);
}

TEST(GpuAccounting, CountsBusyTimeOnlyWhileServing) {
  GpuAccounting acc;
  acc.add_server(4);
  Instance a = instance(0, 0);
  acc.take(a, 3, 0);
  acc.start_busy(a, 10);
  EXPECT_TRUE(a.busy);
  acc.stop_busy(a, 15);
  EXPECT_FALSE(a.busy);
  acc.stop_busy(a, 50);  // not busy: nothing changes
  acc.start_busy(a, 60);
  EXPECT_DOUBLE_EQ(acc.busy_area(80), 3.0 * 5 + 3.0 * 20);
  EXPECT_DOUBLE_EQ(acc.allocated_area(80), 3.0 * 80);
}

TEST(GpuAccounting, CountsIdleGpus) {
  GpuAccounting acc;
  acc.add_server(4);
  acc.add_server(4);
  Instance a = instance(0, 0), b = instance(1, 1);
  acc.take(a, 2, 0);
  acc.take(b, 3, 0);
  acc.enter_idle(a);
  acc.enter_idle(b);
  EXPECT_EQ(acc.idle_total(), 5u);
  EXPECT_EQ(acc.idle(0), 2u);
  EXPECT_EQ(acc.idle(1), 3u);
  acc.leave_idle(a);
  EXPECT_EQ(acc.idle_total(), 3u);
  EXPECT_EQ(acc.idle(0), 0u);
  EXPECT_EQ(acc.idle(1), 3u);
}

TEST(GpuAccounting, RefusesToFreeAGpuAnInstanceDoesNotHold) {
  GpuAccounting acc;
  acc.add_server(2);
  Instance a = instance(0, 0), b = instance(1, 0);
  acc.take(a, 1, 0);
  b.gpus = {0};  // claims a's GPU
  EXPECT_THROW(acc.give_back(b, 1), std::logic_error);
}

}  // namespace
}  // namespace sllm
