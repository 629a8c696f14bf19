// LRU and LFU checkpoint eviction on a constructed access sequence where they disagree, and the
// pluggable choice through the scenario config.
#include <gtest/gtest.h>

#include "policy_test_util.h"
#include "sllm/sim/policy.h"

namespace sllm::testing {
namespace {

std::vector<ModelId> evictions(const std::string& policy) {
  ConfigNode params = ConfigNode::load_string("{}", "test.yaml");
  ResidencyCache cache(2, EvictionRegistry::instance().create(policy, params, params));
  // A and B fill the cache; A is used three times in all, B twice, B most recently.
  cache.insert(0, 1, 0);
  cache.insert(1, 1, 1);
  cache.touch(0, 2);
  cache.touch(0, 3);
  cache.touch(1, 4);
  std::vector<ModelId> evicted;
  EXPECT_TRUE(cache.insert(2, 1, 5, &evicted));
  EXPECT_EQ(cache.count(), 2u);
  return evicted;
}

TEST(Eviction, LruAndLfuEvictDifferentCheckpoints) {
  EXPECT_EQ(evictions("lru"), std::vector<ModelId>{0});  // A: least recently used
  EXPECT_EQ(evictions("lfu"), std::vector<ModelId>{1});  // B: least frequently used
}

TEST(Eviction, LfuBreaksTiesByRecencyAndSkipsPinned) {
  ConfigNode params = ConfigNode::load_string("{}", "test.yaml");
  ResidencyCache cache(3, EvictionRegistry::instance().create("lfu", params, params));
  cache.insert(0, 1, 0);
  cache.insert(1, 1, 1);
  cache.insert(2, 1, 2);
  cache.pin(0);
  std::vector<ModelId> evicted;
  ASSERT_TRUE(cache.insert(3, 2, 3, &evicted));
  EXPECT_EQ(evicted, (std::vector<ModelId>{1, 2}));  // all used once: oldest first; 0 is pinned
}

TEST(Eviction, ChosenPerTierInTheConfig) {
  EXPECT_NO_THROW(scenario_from_yaml(
      policy_cluster_yaml(1, 1, false, 1, "  name: serverlessllm\n  eviction: {dram: lfu, ssd: lru}")));
  EXPECT_THROW(scenario_from_yaml(policy_cluster_yaml(1, 1, false, 1, "  name: serverlessllm\n  eviction: {dram: mru}")),
               InputError);
}

}  // namespace
}  // namespace sllm::testing
