// The loader's internals shared by loader.cpp and its own modes (src/loader_modes/, loader_staged.cpp,
// loader_foreign.cpp): the state of one load behind LoadContext, and the helpers the modes share.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "chunk_pool.h"
#include "reads.h"
#include "sllm/models/device_backend.h"
#include "sllm/models/loader_mode.h"

namespace sllm::models {

struct LoadContext::State {
  const Checkpoint& ck;
  const LoaderOptions& lo;
  const LoadOptions& opts;
  ChunkPool& pool;
  IoBackend io;  // the options' backend or the chosen one (io_backend_for), threads where io_uring is missing
  const std::vector<OpenPartition>& files;
  const DeviceBackend& backend;  // the destination's
  std::vector<void*> dest;       // per partition
  std::vector<Device> devices;   // per partition
  Failure failure;
  std::uint64_t chunks = 0;            // modes that use the pool: chunks of the checkpoint
  std::uint64_t chunks_from_dram = 0;  // of which the pool served
};

namespace detail {

struct AlignedFree {
  void operator()(std::byte* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<std::byte, AlignedFree>;
// 4 KiB-aligned host memory (O_DIRECT); std::runtime_error naming `what` when refused.
AlignedBuffer aligned_buffer(std::uint64_t bytes, const std::string& what);

// "PATH (partition P, bytes B..E, TENSORS)" of a byte range of the checkpoint.
std::string chunk_where(const Checkpoint& ck, int partition, std::uint64_t begin, std::uint64_t end);
std::string short_read(const Checkpoint& ck, const ReadJob& job, std::uint64_t got);
// Appends the chunk-sized reads that cover bytes [begin, end) of a partition (`begin` on a chunk boundary).
void add_chunk_jobs(std::vector<ReadJob>& jobs, int partition, std::uint64_t begin, std::uint64_t end, std::uint64_t chunk);

// Steps 2-5 of the paper's ablation (bulk, direct, threads, pinned): loader_staged.cpp.
enum class StagedStep { kBulk, kDirect, kThreads, kPinned };
void load_staged(LoadContext& ctx, StagedStep step);
// The loaders users pick today (safetensors, torch.load): loader_foreign.cpp.
enum class ForeignLoader { kSafetensors, kTorch };
void load_foreign(LoadContext& ctx, ForeignLoader loader);

}  // namespace detail
}  // namespace sllm::models
