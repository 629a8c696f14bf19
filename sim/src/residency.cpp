#include "sllm/sim/residency.h"

#include <stdexcept>

namespace sllm {

ResidencyCache::ResidencyCache(std::uint64_t capacity, std::unique_ptr<EvictionPolicy> policy)
    : capacity_(capacity), policy_(std::move(policy)) {}

void ResidencyCache::grow(ModelId m) {
  if (m >= present_.size()) {
    present_.resize(m + 1, 0);
    pins_.resize(m + 1, 0);
    bytes_.resize(m + 1, 0);
  }
}

void ResidencyCache::touch(ModelId m, Nanos now) {
  if (contains(m)) policy_->on_access(m, now);
}

bool ResidencyCache::insert(ModelId m, std::uint64_t bytes, Nanos now, std::vector<ModelId>* evicted) {
  if (contains(m)) {
    policy_->on_access(m, now);
    return true;
  }
  if (bytes > capacity_) return false;
  grow(m);
  // Check that enough unpinned bytes exist before evicting anything, so a failed insert changes nothing.
  if (used_ + bytes > capacity_) {
    std::uint64_t evictable = 0;
    for (std::size_t i = 0; i < present_.size(); ++i) {
      if (present_[i] && pins_[i] == 0) evictable += bytes_[i];
    }
    if (used_ - evictable + bytes > capacity_) return false;
  }
  while (used_ + bytes > capacity_) {
    const auto victim = policy_->victim([this](ModelId v) { return pins_[v] == 0; });
    if (!victim) throw std::logic_error("eviction policy found no victim although unpinned bytes exist");
    if (evicted) evicted->push_back(*victim);
    erase(*victim);
  }
  present_[m] = 1;
  bytes_[m] = bytes;
  used_ += bytes;
  ++count_;
  policy_->on_insert(m, now);
  return true;
}

void ResidencyCache::erase(ModelId m) {
  if (!contains(m)) return;
  if (pins_[m] != 0) throw std::logic_error("erasing a pinned checkpoint");
  present_[m] = 0;
  used_ -= bytes_[m];
  bytes_[m] = 0;
  --count_;
  policy_->on_erase(m);
}

void ResidencyCache::pin(ModelId m) {
  if (!contains(m)) throw std::logic_error("pinning a checkpoint that is not resident");
  ++pins_[m];
}

void ResidencyCache::unpin(ModelId m) {
  if (m >= pins_.size() || pins_[m] == 0) throw std::logic_error("unpinning a checkpoint that is not pinned");
  --pins_[m];
}

}  // namespace sllm
