// The multi-tier checkpoint loader (docs/loader.md): SSD -> DRAM chunk pool -> host memory or GPUs.
// Fixed-size chunks are read with O_DIRECT (io_uring or a thread pool) into a pool of pinned chunks that
// doubles as an LRU cache, and copied on to one allocation per destination device as they land.
// The other modes (sllm/models/loader_mode.h, one file each under src/loader_modes/) are the steps of the
// paper's ablation and the two loaders users pick today.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/core/loader_modes.h"
#include "sllm/models/checkpoint.h"
#include "sllm/models/tensor.h"

namespace sllm::models {

// kAuto: chosen for each load from the storage (choose_io_backend below).
enum class IoBackend : std::uint8_t { kAuto, kUring, kThreads };
std::string_view to_string(IoBackend b);
IoBackend parse_io_backend(std::string_view text, const std::string& flag);  // "auto", "uring", "threads"

struct LoaderOptions {
  std::uint64_t chunk_bytes = 32ull << 20;  // multiple of the checkpoints' checksum chunk
  std::uint64_t pool_bytes = 1ull << 30;    // DRAM pool (rounded down to whole chunks, at least one)
  // Whose host memory the DRAM pool is (DeviceBackend::alloc_host): the destination's backend, so that
  // "cuda" pins it (cudaHostAlloc) for fast asynchronous copies; "cpu" is plain aligned memory.
  std::string pool_backend = "cpu";
  IoBackend io = IoBackend::kAuto;
  // I/O threads; 0 (the default): chosen for each load from the host and the storage the partitions are
  // on (read_threads_for below).
  int threads = 0;
  int queue_depth = 8;   // io_uring requests in flight per I/O thread
  // Largest single read sent to the disk; a chunk is read as several: the request is the device's unit,
  // the chunk the pool's and the copies'. 1 MiB is the usual choice for NVMe; on the lent H200 host's
  // disk 256 KiB-32 MiB requests read at the same speed within its noise (docs/loader.md).
  std::uint64_t request_bytes = 1ull << 20;
  int copy_streams = 4;  // CUDA streams per GPU, or copy threads for host destinations
};

struct LoadOptions {
  Device device;  // partition p goes to cuda:(index + p), or to host memory
  std::string mode = std::string(kDefaultLoaderMode);  // a registered loader mode (sllm/models/loader_mode.h)
  bool verify = true;  // check chunk checksums (the safetensors and torch modes never do, like the originals)
};

// What the reads of a file are served by, as far as the kernel tells (statfs, /sys/dev/block).
enum class StorageMedium : std::uint8_t { kMemory, kSolidState, kRotational, kUnknown };
std::string_view to_string(StorageMedium m);
struct StorageInfo {
  StorageMedium medium = StorageMedium::kUnknown;
  std::string device;  // block device name ("nvme0n1", "md0"), "tmpfs", or "" when unknown
  int hw_queues = 0;   // blk-mq hardware queues, over the members of a RAID/dm device; 0 when unknown
};
StorageInfo probe_storage(const std::string& path);
// CPUs this process may run on (its affinity mask, which cgroup cpusets restrict), at least 1.
int usable_cpus();
// The I/O threads for reading from `storage` on a host with `cpus` usable CPUs (docs/loader.md):
//   memory (tmpfs): every CPU: a read is a copy made by the reading thread, checksummed by it, so the
//                   load is CPU-bound and scales with threads up to the cores;
//   solid state:    one per hardware queue of the device (its own parallelism; summed over a RAID's
//                   members), at least 4, at most the CPUs;
//   rotational:     1: concurrent streams make the head seek;
//   unknown:        4 (network and FUSE file systems), at most the CPUs.
int choose_read_threads(const StorageInfo& storage, int cpus);
// LoaderOptions::threads where set, else the most that choose_read_threads gives over the checkpoint's
// partition files (they are read by one pool of threads).
int read_threads_for(const Checkpoint& ckpt, const LoaderOptions& options);
// The I/O backend for `storage`: blocking reads (threads) from memory, where a read is a copy that the
// reading thread makes itself and then finds in its cache for the checksum (io_uring hands tmpfs reads to
// kernel workers: 1.5x slower on the H200 host, docs/loader.md); io_uring elsewhere.
IoBackend choose_io_backend(const StorageInfo& storage);
// LoaderOptions::io unless kAuto, else threads when every partition file is in memory, else io_uring.
IoBackend io_backend_for(const Checkpoint& ckpt, const LoaderOptions& options);

struct LoadStats {
  double seconds = 0;
  int threads = 0;                    // I/O threads the load used (LoaderOptions::threads, or chosen)
  IoBackend io = IoBackend::kAuto;    // the I/O backend it used (chosen, or the fallback to threads)
  double alloc_seconds = 0;           // of which: allocating the destination (device) memory
  std::uint64_t bytes = 0;            // partition bytes moved to the destination
  std::uint64_t chunks = 0;           // modes that use the pool (sllm): chunks of the checkpoint
  std::uint64_t chunks_from_dram = 0; // of which served by the pool without disk reads
  bool buffered_fallback = false;     // O_DIRECT was refused and buffered reads were used
};

// Tensors where the loader put them. Owns the destination memory (one allocation per partition).
class LoadedModel : public TensorSource {
 public:
  ~LoadedModel() override;
  LoadedModel(const LoadedModel&) = delete;
  LoadedModel& operator=(const LoadedModel&) = delete;

  const TensorView* find(std::string_view name) const override;
  const std::vector<TensorView>& tensors() const { return views_; }  // stored tensors, then aliases
  const Device& device() const { return device_; }

 private:
  friend class Loader;
  LoadedModel() = default;
  struct Region {
    void* base = nullptr;
    std::uint64_t bytes = 0;
    Device device;
  };
  Device device_;
  std::vector<Region> regions_;
  std::vector<TensorView> views_;
  std::map<std::string, std::size_t, std::less<>> by_name_;
};

class Loader {
 public:
  explicit Loader(const LoaderOptions& options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Loads every tensor or throws (InputError for a bad checkpoint: checksum mismatch, truncated or
  // missing partition; std::runtime_error for I/O or memory failures), naming partition and tensor.
  // Never returns a partially loaded model. Not reentrant: one load at a time per Loader.
  std::unique_ptr<LoadedModel> load(const Checkpoint& ckpt, const LoadOptions& options, LoadStats* stats = nullptr);

  // Empties the DRAM cache (a cold start).
  void drop_cache();
  // Drops one checkpoint's chunks from the DRAM cache (a cache owner's eviction, e.g. `sllmsim replay`
  // carrying out its eviction policy's choice). Not during a load.
  void evict(const Checkpoint& ckpt);
  const LoaderOptions& options() const { return options_; }
  std::uint64_t pool_chunks() const;
  std::uint64_t resident_chunks() const;

 private:
  struct Impl;
  LoaderOptions options_;
  std::unique_ptr<Impl> impl_;
};

// Raw O_DIRECT read bandwidth (bytes/s) of the checkpoint's partition files with the loader's threads
// (read_threads_for), chunk and request sizes and no other work: the bar a cold load is measured against.
// Where O_DIRECT is refused the reads are buffered and *buffered_fallback is set.
double measure_direct_read(const Checkpoint& ckpt, const LoaderOptions& options, bool* buffered_fallback = nullptr);


// An order-independent 64-bit fingerprint of a byte string (sum of mixed 8-byte words), computed where
// the bytes live: on the GPU for a CUDA view. Equal bytes give equal fingerprints on host and device.
std::uint64_t fingerprint(const void* host_bytes, std::uint64_t bytes);
std::uint64_t fingerprint(const TensorView& view);

// Writes `3` to /proc/sys/vm/drop_caches after sync(); throws with the reason when not permitted.
void drop_page_cache();

}  // namespace sllm::models
