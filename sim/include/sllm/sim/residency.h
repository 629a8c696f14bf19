// Which checkpoints a server holds in one storage tier (DRAM pool or SSD), with a capacity and a
// pluggable eviction choice (LRU, LFU, ... registered by name as EvictionPolicy, part of the policy API).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "sllm/core/ids.h"
#include "sllm/core/units.h"
#include "sllm/sim/policy.h"

namespace sllm {

class ResidencyCache {
 public:
  ResidencyCache() = default;
  ResidencyCache(std::uint64_t capacity, std::unique_ptr<EvictionPolicy> policy);

  bool contains(ModelId m) const { return m < present_.size() && present_[m]; }
  std::uint64_t capacity() const { return capacity_; }
  std::uint64_t used() const { return used_; }
  std::size_t count() const { return count_; }

  void touch(ModelId m, Nanos now);
  // Inserts, evicting unpinned checkpoints as the policy orders them until it fits. Returns false (and
  // changes nothing) when it cannot fit even after evicting everything evictable. Evicted ids are
  // appended to `evicted` when given.
  bool insert(ModelId m, std::uint64_t bytes, Nanos now, std::vector<ModelId>* evicted = nullptr);
  void erase(ModelId m);
  // A pinned checkpoint is not evicted (e.g. while a load reads from it).
  void pin(ModelId m);
  void unpin(ModelId m);

 private:
  void grow(ModelId m);

  std::uint64_t capacity_ = 0;
  std::uint64_t used_ = 0;
  std::size_t count_ = 0;
  std::unique_ptr<EvictionPolicy> policy_;
  std::vector<std::uint8_t> present_;
  std::vector<std::uint16_t> pins_;
  std::vector<std::uint64_t> bytes_;
};

}  // namespace sllm
