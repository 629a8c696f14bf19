// The DRAM tier: a fixed set of equal-size chunks (pinned when the loader feeds GPUs) that is both the
// staging area of the pipeline and a chunk-granular LRU cache of checkpoint bytes, so a model can be
// partially resident and a repeated load skips the disk for every resident chunk.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <vector>

#include "sllm/models/device_backend.h"

namespace sllm::models {

struct ChunkKey {
  std::uint64_t checkpoint = 0;  // Checkpoint::identity
  std::uint32_t partition = 0;
  std::uint64_t index = 0;
  auto operator<=>(const ChunkKey&) const = default;
};

class ChunkPool {
 public:
  // The pool's memory comes from `memory`'s host allocator (pinned for CUDA, aligned memory for cpu).
  ChunkPool(std::uint64_t chunk_bytes, std::uint64_t capacity_bytes, const DeviceBackend& memory);
  ~ChunkPool();
  ChunkPool(const ChunkPool&) = delete;
  ChunkPool& operator=(const ChunkPool&) = delete;

  std::uint64_t chunk_bytes() const { return chunk_; }
  std::uint64_t slots() const { return slots_.size(); }
  std::byte* data(std::int64_t slot) const { return region_ + static_cast<std::uint64_t>(slot) * chunk_; }
  // The whole contiguous region (the pinned mode stages partitions through it).
  std::byte* region() const { return region_; }
  std::uint64_t region_bytes() const { return chunk_ * slots_.size(); }

  // A resident chunk, referenced until release(); -1 when not cached.
  std::int64_t acquire_resident(const ChunkKey& key);
  // A slot to read `key` into (a free one, else the least recently used unreferenced chunk is evicted).
  // Returns -1 if none is available and may_block is false, or if `abort` becomes true while waiting.
  std::int64_t acquire_for_load(const ChunkKey& key, bool may_block, const std::atomic<bool>& abort);
  void publish(std::int64_t slot);  // the slot now holds its key's verified bytes
  void release(std::int64_t slot);
  void wake_all();  // wakes waiters so they can observe an abort flag
  void clear();     // forgets every cached chunk; no slot may be referenced
  // Forgets the cached chunks of one checkpoint (by Checkpoint::identity); none may be referenced.
  void forget(std::uint64_t checkpoint);
  std::uint64_t resident() const;

 private:
  struct Slot {
    ChunkKey key;
    bool valid = false;
    int refs = 0;
    std::list<std::int64_t>::iterator lru_pos;  // in lru_ exactly when valid and refs == 0
  };

  std::uint64_t chunk_;
  const DeviceBackend& memory_;
  std::byte* region_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Slot> slots_;
  std::vector<std::int64_t> free_;
  std::list<std::int64_t> lru_;  // unreferenced valid chunks, least recently used first
  std::map<ChunkKey, std::int64_t> resident_;
};

}  // namespace sllm::models
