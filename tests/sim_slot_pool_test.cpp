// SlotPool: ids are dense indices, released slots come back last-released-first, the vector grows only
// when no slot is free, every take bumps the slot's generation, and bad releases are refused.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "slot_pool.h"

namespace sllm {
namespace {

TEST(SlotPool, HandsOutDenseIdsWhileNoneIsFree) {
  std::vector<int> items;
  SlotPool<int> pool(items);
  EXPECT_EQ(pool.take(), 0u);
  EXPECT_EQ(pool.take(), 1u);
  EXPECT_EQ(pool.take(), 2u);
  EXPECT_EQ(items.size(), 3u);
  for (std::uint32_t s = 0; s < 3; ++s) EXPECT_EQ(pool.generation(s), 1u);
  EXPECT_EQ(pool.free_count(), 0u);
}

TEST(SlotPool, ReusesReleasedSlotsLastReleasedFirstAndBumpsGenerations) {
  std::vector<int> items;
  SlotPool<int> pool(items);
  for (int i = 0; i < 4; ++i) pool.take();
  pool.release(1);
  pool.release(3);
  pool.release(0);
  EXPECT_EQ(pool.free_count(), 3u);
  EXPECT_EQ(pool.take(), 0u);  // LIFO: 0 was released last
  EXPECT_EQ(pool.take(), 3u);
  EXPECT_EQ(pool.take(), 1u);
  EXPECT_EQ(pool.take(), 4u);  // none free: the vector grows
  EXPECT_EQ(items.size(), 5u);
  EXPECT_EQ(pool.generation(0), 2u);
  EXPECT_EQ(pool.generation(1), 2u);
  EXPECT_EQ(pool.generation(2), 1u);  // never released
  EXPECT_EQ(pool.generation(3), 2u);
  EXPECT_EQ(pool.generation(4), 1u);
  pool.release(3);
  EXPECT_EQ(pool.take(), 3u);
  EXPECT_EQ(pool.generation(3), 3u);
}

TEST(SlotPool, LeavesAReusedSlotsContentsToTheCaller) {
  // Callers reset slots themselves, keeping vectors' capacity, so a reused slot allocates nothing.
  std::vector<std::vector<int>> items;
  SlotPool<std::vector<int>> pool(items);
  const std::uint32_t s = pool.take();
  pool[s].assign(100, 7);
  pool.release(s);
  EXPECT_EQ(pool.take(), s);
  EXPECT_EQ(pool[s].size(), 100u);
  EXPECT_GE(pool[s].capacity(), 100u);
}

TEST(SlotPool, RefusesToReleaseASlotThatIsNotTaken) {
  std::vector<int> items;
  SlotPool<int> pool(items);
  EXPECT_THROW(pool.release(0), std::logic_error);  // never handed out
  const std::uint32_t s = pool.take();
  pool.release(s);
  EXPECT_THROW(pool.release(s), std::logic_error);  // twice: it would be handed out twice
  EXPECT_EQ(pool.free_count(), 1u);
}

}  // namespace
}  // namespace sllm
