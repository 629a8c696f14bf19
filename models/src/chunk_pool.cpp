#include "chunk_pool.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "sllm/core/units.h"

namespace sllm::models {

ChunkPool::ChunkPool(std::uint64_t chunk_bytes, std::uint64_t capacity_bytes, const DeviceBackend& memory)
    : chunk_(chunk_bytes), memory_(memory) {
  if (chunk_ == 0 || chunk_ % 4096 != 0) throw std::invalid_argument("chunk size must be a positive multiple of 4 KiB");
  const std::uint64_t n = std::max<std::uint64_t>(1, capacity_bytes / chunk_);
  const std::uint64_t bytes = n * chunk_;
  region_ = static_cast<std::byte*>(memory_.alloc_host(bytes));
  if (!region_) {
    throw std::runtime_error("cannot allocate " + format_bytes(bytes) + " of " + std::string(memory_.name()) +
                             " host memory for the DRAM chunk pool");
  }
  slots_.resize(n);
  for (std::uint64_t i = n; i-- > 0;) free_.push_back(static_cast<std::int64_t>(i));
}

ChunkPool::~ChunkPool() { memory_.free_host(region_); }

std::int64_t ChunkPool::acquire_resident(const ChunkKey& key) {
  std::lock_guard lock(mu_);
  auto it = resident_.find(key);
  if (it == resident_.end()) return -1;
  Slot& s = slots_[static_cast<std::size_t>(it->second)];
  if (s.refs == 0) lru_.erase(s.lru_pos);  // resident chunks are valid: unreferenced ones wait in lru_
  ++s.refs;
  return it->second;
}

std::int64_t ChunkPool::acquire_for_load(const ChunkKey& key, bool may_block, const std::atomic<bool>& abort) {
  std::unique_lock lock(mu_);
  while (free_.empty() && lru_.empty()) {
    if (!may_block || abort.load()) return -1;
    cv_.wait(lock);
  }
  if (abort.load()) return -1;
  std::int64_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = lru_.front();
    lru_.pop_front();
    resident_.erase(slots_[static_cast<std::size_t>(slot)].key);
  }
  Slot& s = slots_[static_cast<std::size_t>(slot)];
  s.key = key;
  s.valid = false;
  s.refs = 1;
  return slot;
}

void ChunkPool::publish(std::int64_t slot) {
  std::lock_guard lock(mu_);
  Slot& s = slots_[static_cast<std::size_t>(slot)];
  auto [it, inserted] = resident_.emplace(s.key, slot);
  if (!inserted) return;  // already cached elsewhere: this copy is dropped when released
  s.valid = true;
}

void ChunkPool::release(std::int64_t slot) {
  {
    std::lock_guard lock(mu_);
    Slot& s = slots_[static_cast<std::size_t>(slot)];
    if (--s.refs > 0) return;
    if (s.valid) {
      s.lru_pos = lru_.insert(lru_.end(), slot);
    } else {
      free_.push_back(slot);
    }
  }
  cv_.notify_one();
}

void ChunkPool::wake_all() {
  { std::lock_guard lock(mu_); }
  cv_.notify_all();
}

void ChunkPool::clear() {
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].refs != 0) throw std::logic_error("ChunkPool::clear() while a chunk is in use");
  }
  resident_.clear();
  lru_.clear();
  free_.clear();
  for (std::size_t i = slots_.size(); i-- > 0;) {
    slots_[i].valid = false;
    free_.push_back(static_cast<std::int64_t>(i));
  }
}

void ChunkPool::forget(std::uint64_t checkpoint) {
  std::lock_guard lock(mu_);
  for (auto it = resident_.lower_bound(ChunkKey{checkpoint, 0, 0});
       it != resident_.end() && it->first.checkpoint == checkpoint;) {
    Slot& s = slots_[static_cast<std::size_t>(it->second)];
    if (s.refs != 0) throw std::logic_error("ChunkPool::forget() while a chunk of the checkpoint is in use");
    lru_.erase(s.lru_pos);
    s.valid = false;
    free_.push_back(it->second);
    it = resident_.erase(it);
  }
}

std::uint64_t ChunkPool::resident() const {
  std::lock_guard lock(mu_);
  return resident_.size();
}

}  // namespace sllm::models
