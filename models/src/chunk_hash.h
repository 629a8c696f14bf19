// xxHash64 of consecutive fixed-size chunks of a byte stream fed in arbitrary pieces: the writer hashes
// what it writes, the by-tensor loader hashes tensors plus the zero padding between them.
#pragma once

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace sllm::models {

inline std::uint64_t chunk_xxh64(const void* data, std::size_t bytes) { return XXH64(data, bytes, 0); }

class ChunkHasher {
 public:
  explicit ChunkHasher(std::uint64_t chunk_bytes) : chunk_(chunk_bytes) { XXH64_reset(&state_, 0); }

  void feed(const void* data, std::uint64_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    while (bytes > 0) {
      const std::uint64_t take = std::min(bytes, chunk_ - filled_);
      XXH64_update(&state_, p, take);
      p += take;
      bytes -= take;
      filled_ += take;
      if (filled_ == chunk_) close_chunk();
    }
  }
  // Digests of the chunks completed so far (the last partial chunk is closed by finish()).
  const std::vector<std::uint64_t>& digests() const { return digests_; }
  void finish() {
    if (filled_ > 0) close_chunk();
  }

 private:
  void close_chunk() {
    digests_.push_back(XXH64_digest(&state_));
    XXH64_reset(&state_, 0);
    filled_ = 0;
  }

  std::uint64_t chunk_;
  std::uint64_t filled_ = 0;
  XXH64_state_t state_{};
  std::vector<std::uint64_t> digests_;
};

}  // namespace sllm::models
