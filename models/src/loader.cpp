#include "sllm/models/loader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "blocking_queue.h"
#include "chunk_hash.h"
#include "chunk_pool.h"
#include "file_io.h"
#include "gpu.h"
#include "reads.h"
#include "sllm/core/error.h"
#include "sllm/core/random.h"
#include "sllm/core/units.h"

namespace sllm::models {

namespace {

constexpr std::pair<std::string_view, LoadMode> kModes[] = {
    {"by-tensor", LoadMode::kByTensor}, {"bulk", LoadMode::kBulk},           {"direct", LoadMode::kDirect},
    {"threads", LoadMode::kThreads},    {"pinned", LoadMode::kPinned},       {"pipelined", LoadMode::kPipelined},
    {"safetensors", LoadMode::kSafetensors}, {"torch", LoadMode::kTorch}};

using Clock = std::chrono::steady_clock;

struct AlignedFree {
  void operator()(std::byte* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<std::byte, AlignedFree>;

AlignedBuffer aligned_buffer(std::uint64_t bytes, const std::string& what) {
  auto* p = static_cast<std::byte*>(std::aligned_alloc(4096, std::max<std::uint64_t>(4096, (bytes + 4095) / 4096 * 4096)));
  if (!p) throw std::runtime_error("cannot allocate " + format_bytes(bytes) + " of host memory for " + what);
  return AlignedBuffer(p);
}

Device partition_device(const Device& base, int partition) {
  if (!base.is_cuda()) return base;
  return Device{Device::Kind::kCuda, base.index + partition};
}

// Opens every partition, checking presence and size against the index. O_DIRECT is refused by some
// file systems (tmpfs): then buffered reads are used and `fell_back` is set.
std::vector<OpenPartition> open_partitions(const Checkpoint& ck, bool direct, bool* fell_back) {
  std::vector<OpenPartition> out;
  for (std::size_t p = 0; p < ck.index.partitions.size(); ++p) {
    const CheckpointPartition& part = ck.index.partitions[p];
    const std::string path = ck.partition_path(static_cast<int>(p));
    const int flags = O_RDONLY | O_CLOEXEC;
    FileHandle fd(::open(path.c_str(), direct ? flags | O_DIRECT : flags));
    if (direct && !fd && errno == EINVAL) {
      *fell_back = true;
      fd = FileHandle(::open(path.c_str(), flags));
    }
    if (!fd) {
      const int err = errno;
      const std::string holds = ck.index.tensors_in(static_cast<int>(p), 0, part.bytes);
      if (err == ENOENT) throw InputError(path, "missing partition " + std::to_string(p) + " (holds " + holds + ")");
      throw std::runtime_error(errno_message(path, "cannot open partition " + std::to_string(p) + " (holds " + holds + ")", err));
    }
    const std::uint64_t size = file_size(fd.get(), path);
    if (size < part.bytes) {
      throw InputError(path, "truncated partition " + std::to_string(p) + ": " + std::to_string(size) + " bytes, the index says " +
                                 std::to_string(part.bytes) + " (" + ck.index.tensors_in(static_cast<int>(p), size, part.bytes) + " cut)");
    }
    if (size > part.bytes) {
      throw InputError(path, "partition " + std::to_string(p) + " has " + std::to_string(size) + " bytes, the index says " +
                                 std::to_string(part.bytes));
    }
    out.push_back({std::move(fd), path});
  }
  return out;
}

std::string chunk_where(const Checkpoint& ck, int partition, std::uint64_t begin, std::uint64_t end) {
  return range_where(ck.partition_path(partition), ck.index, partition, begin, end);
}

// Checks the checksum chunks inside [offset, offset + bytes) of a partition; returns an error or "".
std::string verify_range(const Checkpoint& ck, int partition, std::uint64_t offset, const std::byte* data, std::uint64_t bytes) {
  const std::uint64_t c = ck.index.checksum_chunk;
  const auto& sums = ck.index.partitions[static_cast<std::size_t>(partition)].chunk_xxh64;
  for (std::uint64_t at = 0; at < bytes; at += c) {
    const std::uint64_t len = std::min(c, bytes - at);
    const std::uint64_t k = (offset + at) / c;
    if (chunk_xxh64(data + at, len) != sums[k]) {
      return chunk_where(ck, partition, offset + at, offset + at + len) + ": checksum mismatch in checksum chunk " + std::to_string(k);
    }
  }
  return {};
}

// Appends the chunk-sized reads that cover bytes [begin, end) of a partition (`begin` on a chunk boundary).
void add_chunk_jobs(std::vector<ReadJob>& jobs, int partition, std::uint64_t begin, std::uint64_t end, std::uint64_t chunk) {
  for (std::uint64_t off = begin; off < end; off += chunk) jobs.push_back({partition, off / chunk, off, std::min(chunk, end - off)});
}

std::string short_read(const Checkpoint& ck, const ReadJob& job, std::uint64_t got) {
  return chunk_where(ck, job.partition, job.offset, job.offset + job.length) + ": short read, got " + std::to_string(got) + " of " +
         std::to_string(job.length) + " bytes";
}

}  // namespace

std::string_view to_string(LoadMode m) {
  for (const auto& [name, mode] : kModes) {
    if (mode == m) return name;
  }
  return "?";
}

LoadMode parse_load_mode(std::string_view text, const std::string& flag) {
  std::string known;
  for (const auto& [name, mode] : kModes) {
    if (name == text) return mode;
    known += (known.empty() ? "" : ", ") + std::string(name);
  }
  throw InputError(flag, "unknown mode '" + std::string(text) + "' (expected one of " + known + ")");
}

std::string_view to_string(IoBackend b) { return b == IoBackend::kUring ? "uring" : "threads"; }

IoBackend parse_io_backend(std::string_view text, const std::string& flag) {
  if (text == "uring") return IoBackend::kUring;
  if (text == "threads") return IoBackend::kThreads;
  throw InputError(flag, "expected 'uring' or 'threads', got '" + std::string(text) + "'");
}

int cuda_device_count() { return gpu::device_count(); }

// ---------------------------------------------------------------------------------------------------------
// LoadedModel

LoadedModel::~LoadedModel() {
  for (const Region& r : regions_) {
    if (r.device.is_cuda()) gpu::free_device(r.device.index, r.base);
    else std::free(r.base);
  }
}

const TensorView* LoadedModel::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &views_[it->second];
}

// ---------------------------------------------------------------------------------------------------------
// Loader

struct Loader::Impl {
  explicit Impl(const LoaderOptions& o) : pool(o.chunk_bytes, o.pool_bytes, o.pinned_pool) {
    uring_ok = o.io != IoBackend::kUring || uring_available();
  }
  ChunkPool pool;
  bool uring_ok = true;
  bool warned_buffered = false;
  bool warned_uring = false;
};

Loader::Loader(const LoaderOptions& options) : options_(options) {
  if (options_.threads < 1) throw InputError("--threads", "expected at least 1");
  if (options_.queue_depth < 1) throw InputError("--queue-depth", "expected at least 1");
  if (options_.request_bytes == 0 || options_.request_bytes % 4096 != 0) {
    throw InputError("--request-size", format_bytes(options_.request_bytes) + " is not a positive multiple of 4 KiB (O_DIRECT alignment)");
  }
  if (options_.copy_streams < 1) throw InputError("--streams", "expected at least 1");
  if (options_.chunk_bytes == 0 || options_.chunk_bytes % kCheckpointAlignment != 0) {
    throw InputError("--chunk", "expected a positive multiple of 4 KiB");
  }
  impl_ = std::make_unique<Impl>(options_);
}

Loader::~Loader() = default;

void Loader::drop_cache() { impl_->pool.clear(); }
std::uint64_t Loader::pool_chunks() const { return impl_->pool.slots(); }
std::uint64_t Loader::resident_chunks() const { return impl_->pool.resident(); }

namespace {

struct LoadContext {
  const Checkpoint& ck;
  const LoaderOptions& lo;
  const LoadOptions& opts;
  ChunkPool& pool;
  IoBackend io;
  std::vector<void*> dest;  // per partition
  std::vector<Device> devices;
};

void copy_out(const Device& d, void* dst, const void* src, std::uint64_t bytes) {
  if (d.is_cuda()) gpu::copy_to_device(d.index, dst, src, bytes);
  else if (bytes > 0) std::memcpy(dst, src, bytes);
}

// Steps 2-5 of the ablation: each partition is read whole into one staging buffer, then copied. Each step
// changes one thing:
//   bulk:    one reader, buffered read() calls of kLargeRead bytes: the kernel's read-ahead runs ahead.
//   direct:  one reader, O_DIRECT, with as many requests in flight as all the `threads` readers of the next
//            step together (threads x queue depth): it loses read-ahead, so it must keep the disk busy
//            itself; a lone blocking reader would measure request latency, not the page cache this step
//            removes. Chunk-sized jobs so that checking one chunk's checksums is a short stall.
//   threads: the same requests in flight, spread over `threads` readers that check checksums in parallel.
//   pinned:  threads into the pinned pool instead of pageable memory.
void load_staged(LoadContext& cx, const std::vector<OpenPartition>& files, Failure& failure) {
  const LoadMode mode = cx.opts.mode;
  constexpr std::uint64_t kLargeRead = 256ull << 20;
  const std::uint64_t chunk =
      mode == LoadMode::kBulk ? std::max(cx.lo.chunk_bytes, kLargeRead / cx.lo.chunk_bytes * cx.lo.chunk_bytes) : cx.lo.chunk_bytes;
  ReadPlan plan = mode == LoadMode::kBulk ? ReadPlan{IoBackend::kThreads, 1, 1, chunk} : read_plan(cx.lo, cx.io);
  if (mode == LoadMode::kDirect) {  // (blocking reads have one request in flight whatever the depth)
    if (plan.backend == IoBackend::kUring) plan.queue_depth *= plan.threads;
    plan.threads = 1;
  }
  if (mode == LoadMode::kPinned) cx.pool.clear();  // its memory becomes the staging buffer
  for (std::size_t p = 0; p < cx.ck.index.partitions.size(); ++p) {
    const std::uint64_t bytes = cx.ck.index.partitions[p].bytes;
    std::unique_ptr<std::byte[]> pageable;
    AlignedBuffer aligned;
    std::byte* staging = nullptr;
    std::uint64_t window = bytes;
    if (mode == LoadMode::kBulk) {
      pageable.reset(new (std::nothrow) std::byte[std::max<std::uint64_t>(bytes, 1)]);
      if (!pageable) throw std::runtime_error("cannot allocate " + format_bytes(bytes) + " of host memory for " + files[p].path);
      staging = pageable.get();
    } else if (mode == LoadMode::kPinned) {
      staging = cx.pool.region();
      window = cx.pool.region_bytes();
    } else {
      aligned = aligned_buffer(bytes, files[p].path);
      staging = aligned.get();
    }
    for (std::uint64_t w = 0; w < bytes; w += window) {
      const std::uint64_t len = std::min(window, bytes - w);
      std::vector<ReadJob> jobs;
      add_chunk_jobs(jobs, static_cast<int>(p), w, w + len, chunk);
      ReadCallbacks cb;
      cb.acquire = [&](const ReadJob& job, bool, std::byte** buf, std::int64_t* slot) {
        *buf = staging + (job.offset - w);
        *slot = -1;
        return !failure.failed();
      };
      cb.complete = [&](const ReadJob& job, std::byte* buf, std::int64_t, std::uint64_t got) {
        if (got < job.length) return failure.set(short_read(cx.ck, job, got), true);
        if (cx.opts.verify) {
          const std::string bad = verify_range(cx.ck, job.partition, job.offset, buf, job.length);
          if (!bad.empty()) failure.set(bad, true);
        }
      };
      cb.abandon = [](const ReadJob&, std::int64_t) {};
      run_reads(plan, jobs, files, cx.ck.index, cb, failure);
      if (failure.failed()) return;
      copy_out(cx.devices[p], static_cast<std::byte*>(cx.dest[p]) + w, staging, len);
    }
  }
}

// Step 1 of the ablation: one buffered read and one copy per tensor, each into its own buffer.
void load_by_tensor(LoadContext& cx, const std::vector<OpenPartition>& files, Failure& failure) {
  const CheckpointIndex& idx = cx.ck.index;
  std::vector<ChunkHasher> hashers(idx.partitions.size(), ChunkHasher(idx.checksum_chunk));
  std::vector<std::uint64_t> hashed(idx.partitions.size(), 0);
  std::vector<std::size_t> checked(idx.partitions.size(), 0);
  auto check_new_digests = [&](std::size_t p) {
    const auto& d = hashers[p].digests();
    for (; checked[p] < d.size(); ++checked[p]) {
      const std::uint64_t k = checked[p];
      if (d[k] != idx.partitions[p].chunk_xxh64[k]) {
        const std::uint64_t begin = k * idx.checksum_chunk;
        failure.set(chunk_where(cx.ck, static_cast<int>(p), begin, std::min(begin + idx.checksum_chunk, idx.partitions[p].bytes)) +
                        ": checksum mismatch in checksum chunk " + std::to_string(k), true);
        return;
      }
    }
  };
  for (const CheckpointTensor& t : idx.tensors) {  // sorted by (partition, offset)
    const auto p = static_cast<std::size_t>(t.partition);
    std::unique_ptr<std::byte[]> buf(new (std::nothrow) std::byte[std::max<std::uint64_t>(t.bytes, 1)]);
    if (!buf) throw std::runtime_error("cannot allocate " + format_bytes(t.bytes) + " for tensor '" + t.name + "'");
    const std::uint64_t got = pread_full(files[p].fd.get(), buf.get(), t.bytes, t.offset, files[p].path);
    if (got < t.bytes) {
      return failure.set(short_read(cx.ck, ReadJob{t.partition, 0, t.offset, t.bytes}, got), true);
    }
    if (cx.opts.verify) {
      hashers[p].feed_zeros(t.offset - hashed[p]);
      hashers[p].feed(buf.get(), t.bytes);
      hashed[p] = t.offset + t.bytes;
      check_new_digests(p);
      if (failure.failed()) return;
    }
    copy_out(cx.devices[p], static_cast<std::byte*>(cx.dest[p]) + t.offset, buf.get(), t.bytes);
  }
  if (cx.opts.verify) {
    for (std::size_t p = 0; p < idx.partitions.size(); ++p) {
      hashers[p].feed_zeros(idx.partitions[p].bytes - hashed[p]);
      hashers[p].finish();
      check_new_digests(p);
    }
  }
}

// The loaders users pick today, on the same bytes: safetensors maps the file and copies tensor by
// tensor into fresh CPU tensors before .to(device); torch.load reads the whole file into pageable
// memory and then copies tensor by tensor. Neither checks checksums.
void load_foreign(LoadContext& cx, const std::vector<OpenPartition>& files) {
  const CheckpointIndex& idx = cx.ck.index;
  for (std::size_t p = 0; p < idx.partitions.size(); ++p) {
    const std::uint64_t bytes = idx.partitions[p].bytes;
    const std::byte* base = nullptr;
    void* map = MAP_FAILED;
    std::unique_ptr<std::byte[]> whole;
    if (cx.opts.mode == LoadMode::kSafetensors) {
      if (bytes > 0) {
        map = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, files[p].fd.get(), 0);
        if (map == MAP_FAILED) throw std::runtime_error(errno_message(files[p].path, "mmap failed", errno));
        base = static_cast<const std::byte*>(map);
      }
    } else {
      whole.reset(new (std::nothrow) std::byte[std::max<std::uint64_t>(bytes, 1)]);
      if (!whole) throw std::runtime_error("cannot allocate " + format_bytes(bytes) + " for " + files[p].path);
      // torch.load reads through a buffered file object.
      const std::uint64_t got = pread_full(files[p].fd.get(), whole.get(), bytes, 0, files[p].path);
      if (got < bytes) throw InputError(files[p].path, "short read");
      base = whole.get();
    }
    for (const CheckpointTensor& t : idx.tensors) {
      if (static_cast<std::size_t>(t.partition) != p) continue;
      auto* dst = static_cast<std::byte*>(cx.dest[p]) + t.offset;
      if (cx.opts.mode == LoadMode::kSafetensors && cx.devices[p].is_cuda()) {
        std::unique_ptr<std::byte[]> cpu_tensor(new std::byte[std::max<std::uint64_t>(t.bytes, 1)]);
        if (t.bytes) std::memcpy(cpu_tensor.get(), base + t.offset, t.bytes);
        copy_out(cx.devices[p], dst, cpu_tensor.get(), t.bytes);
      } else {
        copy_out(cx.devices[p], dst, base + t.offset, t.bytes);
      }
    }
    if (map != MAP_FAILED) ::munmap(map, bytes);
  }
}

struct Landed {
  std::int64_t slot = -1;
  int partition = 0;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// The ServerlessLLM pipeline: chunks flow SSD -> pool -> destination as soon as each lands; resident
// chunks skip the disk. Returns the number of chunks served from DRAM.
std::uint64_t load_pipelined(LoadContext& cx, const std::vector<OpenPartition>& files, Failure& failure, std::uint64_t* chunks) {
  const CheckpointIndex& idx = cx.ck.index;
  const std::uint64_t chunk = cx.pool.chunk_bytes();
  // Interleave partitions so that every GPU's link has work from the start.
  std::vector<ReadJob> all;
  std::uint64_t most = 0;
  for (const auto& p : idx.partitions) most = std::max(most, (p.bytes + chunk - 1) / chunk);
  for (std::uint64_t i = 0; i < most; ++i) {
    for (std::size_t p = 0; p < idx.partitions.size(); ++p) {
      const std::uint64_t bytes = idx.partitions[p].bytes;
      if (i * chunk < bytes) all.push_back({static_cast<int>(p), i, i * chunk, std::min(chunk, bytes - i * chunk)});
    }
  }
  *chunks = all.size();
  auto key_of = [&](const ReadJob& j) { return ChunkKey{cx.ck.identity, static_cast<std::uint32_t>(j.partition), j.index}; };

  // One queue per destination: a GPU each, or one shared by the host copy threads.
  const bool to_gpu = cx.opts.device.is_cuda();
  const std::size_t queues = to_gpu ? idx.partitions.size() : 1;
  std::vector<BlockingQueue<Landed>> landed(queues);
  auto queue_of = [&](int partition) -> BlockingQueue<Landed>& { return landed[to_gpu ? static_cast<std::size_t>(partition) : 0]; };
  auto fail = [&](const std::string& m, bool input) {
    failure.set(m, input);
    cx.pool.wake_all();
  };

  std::vector<ReadJob> missing;
  std::uint64_t from_dram = 0;
  std::vector<Landed> resident;
  for (const ReadJob& j : all) {
    const std::int64_t slot = cx.pool.acquire_resident(key_of(j));
    if (slot >= 0) {
      resident.push_back({slot, j.partition, j.offset, j.length});
      ++from_dram;
    } else {
      missing.push_back(j);
    }
  }
  for (const Landed& l : resident) queue_of(l.partition).push(l);

  auto drain_queue = [&](BlockingQueue<Landed>& q) {
    while (auto item = q.pop()) cx.pool.release(item->slot);
  };
  std::vector<std::thread> copiers;
  if (to_gpu) {
    for (std::size_t p = 0; p < queues; ++p) {
      copiers.emplace_back([&, p] {
        BlockingQueue<Landed>& q = landed[p];
        const int device = cx.devices[p].index;
        try {
          gpu::CopyQueue cq(device, cx.lo.copy_streams);
          const std::size_t max_in_flight = static_cast<std::size_t>(cx.lo.copy_streams) * 2;
          auto finish_one = [&] { cx.pool.release(static_cast<std::int64_t>(cq.wait_oldest())); };
          try {
            while (true) {
              const bool idle = cq.in_flight() == 0;
              const std::optional<Landed> item = idle ? q.pop() : q.try_pop();
              if (!item) {
                if (idle) break;  // closed and drained
                finish_one();     // nothing new yet: retire the oldest copy meanwhile
                continue;
              }
              if (failure.failed()) {
                cx.pool.release(item->slot);
                continue;
              }
              if (cq.in_flight() >= max_in_flight) finish_one();
              cq.submit(static_cast<std::byte*>(cx.dest[p]) + item->offset, cx.pool.data(item->slot), item->length,
                        static_cast<std::uint64_t>(item->slot));
            }
            while (cq.in_flight() > 0) finish_one();
          } catch (const std::exception& e) {
            fail(std::string(e.what()) + " (partition " + std::to_string(p) + ")", false);
            while (cq.in_flight() > 0) {
              std::int64_t slot = -1;
              try {
                slot = static_cast<std::int64_t>(cq.wait_oldest());
              } catch (const std::exception&) {
              }
              if (slot >= 0) cx.pool.release(slot);
            }
            drain_queue(q);
          }
        } catch (const std::exception& e) {
          fail(std::string(e.what()) + " (partition " + std::to_string(p) + ")", false);
          drain_queue(q);
        }
      });
    }
  } else {
    for (int t = 0; t < cx.lo.copy_streams; ++t) {
      copiers.emplace_back([&] {
        while (auto item = landed[0].pop()) {
          if (!failure.failed()) {
            std::memcpy(static_cast<std::byte*>(cx.dest[static_cast<std::size_t>(item->partition)]) + item->offset,
                        cx.pool.data(item->slot), item->length);
          }
          cx.pool.release(item->slot);
        }
      });
    }
  }

  ReadCallbacks cb;
  cb.acquire = [&](const ReadJob& job, bool may_block, std::byte** buf, std::int64_t* slot) {
    *slot = cx.pool.acquire_for_load(key_of(job), may_block, failure.flag());
    if (*slot < 0) return false;
    *buf = cx.pool.data(*slot);
    return true;
  };
  cb.complete = [&](const ReadJob& job, std::byte* buf, std::int64_t slot, std::uint64_t got) {
    if (got < job.length) {
      cx.pool.release(slot);
      return fail(short_read(cx.ck, job, got), true);
    }
    if (cx.opts.verify) {
      const std::string bad = verify_range(cx.ck, job.partition, job.offset, buf, job.length);
      if (!bad.empty()) {
        cx.pool.release(slot);  // never cached: it was not published
        return fail(bad, true);
      }
    }
    cx.pool.publish(slot);
    queue_of(job.partition).push({slot, job.partition, job.offset, job.length});
  };
  cb.abandon = [&](const ReadJob&, std::int64_t slot) {
    cx.pool.release(slot);
    cx.pool.wake_all();
  };
  run_reads(read_plan(cx.lo, cx.io), missing, files, idx, cb, failure);
  cx.pool.wake_all();
  for (auto& q : landed) q.close();
  for (auto& t : copiers) t.join();
  return from_dram;
}

}  // namespace

std::unique_ptr<LoadedModel> Loader::load(const Checkpoint& ck, const LoadOptions& opts, LoadStats* stats) {
  const CheckpointIndex& idx = ck.index;
  if (opts.mode == LoadMode::kPipelined && options_.chunk_bytes % idx.checksum_chunk != 0) {
    throw InputError("--chunk", format_bytes(options_.chunk_bytes) + " is not a multiple of the checkpoint's checksum chunk (" +
                                    format_bytes(idx.checksum_chunk) + ")");
  }
  if (opts.mode != LoadMode::kPipelined && opts.mode != LoadMode::kByTensor && opts.mode != LoadMode::kSafetensors &&
      opts.mode != LoadMode::kTorch && options_.chunk_bytes % idx.checksum_chunk != 0) {
    throw InputError("--chunk", "must be a multiple of the checkpoint's checksum chunk (" + format_bytes(idx.checksum_chunk) + ")");
  }
  if (opts.device.is_cuda()) {
    for (std::size_t p = 0; p < idx.partitions.size(); ++p) gpu::require_device(opts.device.index + static_cast<int>(p));
  }
  IoBackend io = options_.io;
  if (io == IoBackend::kUring && !impl_->uring_ok) {
    if (!impl_->warned_uring) std::cerr << "warning: io_uring is not available here; reading with the thread pool\n";
    impl_->warned_uring = true;
    io = IoBackend::kThreads;
  }

  const auto t0 = Clock::now();
  const bool direct = opts.mode == LoadMode::kDirect || opts.mode == LoadMode::kThreads || opts.mode == LoadMode::kPinned ||
                      opts.mode == LoadMode::kPipelined;
  bool fell_back = false;
  const std::vector<OpenPartition> files = open_partitions(ck, direct, &fell_back);
  if (fell_back && !impl_->warned_buffered) {
    std::cerr << "warning: O_DIRECT refused for " << files[0].path << " (tmpfs?): using buffered reads\n";
    impl_->warned_buffered = true;
  }

  const auto alloc_start = Clock::now();
  std::unique_ptr<LoadedModel> model(new LoadedModel());
  model->device_ = opts.device;
  LoadContext cx{ck, options_, opts, impl_->pool, io, {}, {}};
  for (std::size_t p = 0; p < idx.partitions.size(); ++p) {
    const std::uint64_t bytes = idx.partitions[p].bytes;
    const Device d = partition_device(opts.device, static_cast<int>(p));
    void* base = nullptr;
    if (d.is_cuda()) {
      std::string err;
      base = gpu::alloc_device(d.index, bytes, &err);
      if (!base) {
        throw std::runtime_error(d.to_string() + ": cannot allocate " + format_bytes(bytes) + " for " + ck.partition_path(static_cast<int>(p)) +
                                 " (" + idx.tensors_in(static_cast<int>(p), 0, bytes) + "): " + err);
      }
    } else {
      base = aligned_buffer(bytes, ck.partition_path(static_cast<int>(p))).release();  // freed by ~LoadedModel
    }
    model->regions_.push_back({base, bytes, d});
    cx.dest.push_back(base);
    cx.devices.push_back(d);
  }

  const double alloc_seconds = std::chrono::duration<double>(Clock::now() - alloc_start).count();
  Failure failure;
  std::uint64_t chunks = 0;
  std::uint64_t from_dram = 0;
  switch (opts.mode) {
    case LoadMode::kByTensor: load_by_tensor(cx, files, failure); break;
    case LoadMode::kBulk:
    case LoadMode::kDirect:
    case LoadMode::kThreads:
    case LoadMode::kPinned: load_staged(cx, files, failure); break;
    case LoadMode::kPipelined: from_dram = load_pipelined(cx, files, failure, &chunks); break;
    case LoadMode::kSafetensors:
    case LoadMode::kTorch: load_foreign(cx, files); break;
  }
  if (failure.failed()) failure.rethrow();  // `model` frees what was allocated

  const auto t1 = Clock::now();
  for (const CheckpointTensor& t : idx.tensors) {
    const auto p = static_cast<std::size_t>(t.partition);
    model->by_name_[t.name] = model->views_.size();
    model->views_.push_back({t.name, t.dtype, t.shape, static_cast<std::byte*>(cx.dest[p]) + t.offset, t.bytes, cx.devices[p]});
  }
  for (const CheckpointAlias& a : idx.aliases) {
    TensorView v = *model->find(a.target);
    v.name = a.name;
    model->by_name_[a.name] = model->views_.size();
    model->views_.push_back(std::move(v));
  }
  if (stats) {
    stats->seconds = std::chrono::duration<double>(t1 - t0).count();
    stats->alloc_seconds = alloc_seconds;
    stats->bytes = idx.total_bytes();
    stats->chunks = chunks;
    stats->chunks_from_dram = from_dram;
    stats->buffered_fallback = fell_back;
  }
  return model;
}

// ---------------------------------------------------------------------------------------------------------
// Baselines measured in the same invocation

double measure_direct_read(const Checkpoint& ck, const LoaderOptions& lo, bool* buffered_fallback) {
  bool fell_back = false;
  const std::vector<OpenPartition> files = open_partitions(ck, true, &fell_back);
  if (buffered_fallback) *buffered_fallback = fell_back;
  IoBackend io = lo.io;
  if (io == IoBackend::kUring && !uring_available()) io = IoBackend::kThreads;
  // Private buffers, one chunk per request in flight (a slow request can keep its chunk held while the
  // thread moves on): nothing but the reads.
  const ReadPlan plan = read_plan(lo, io);
  ChunkPool buffers(lo.chunk_bytes, lo.chunk_bytes * static_cast<std::uint64_t>(lo.threads) *
                                        static_cast<std::uint64_t>(io == IoBackend::kUring ? lo.queue_depth : 1), false);
  std::vector<ReadJob> jobs;
  std::uint64_t total = 0;
  for (std::size_t p = 0; p < ck.index.partitions.size(); ++p) {
    const std::uint64_t bytes = ck.index.partitions[p].bytes;
    total += bytes;
    add_chunk_jobs(jobs, static_cast<int>(p), 0, bytes, lo.chunk_bytes);
  }
  Failure failure;
  ReadCallbacks cb;
  cb.acquire = [&](const ReadJob& job, bool may_block, std::byte** buf, std::int64_t* slot) {
    *slot = buffers.acquire_for_load(ChunkKey{0, static_cast<std::uint32_t>(job.partition), job.index}, may_block, failure.flag());
    if (*slot < 0) return false;
    *buf = buffers.data(*slot);
    return true;
  };
  cb.complete = [&](const ReadJob& job, std::byte*, std::int64_t slot, std::uint64_t got) {
    buffers.release(slot);
    if (got < job.length) failure.set(short_read(ck, job, got), true);
  };
  cb.abandon = [&](const ReadJob&, std::int64_t slot) { buffers.release(slot); };
  const auto t0 = Clock::now();
  run_reads(plan, jobs, files, ck.index, cb, failure);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (failure.failed()) failure.rethrow();
  return static_cast<double>(total) / std::max(secs, 1e-9);
}

double measure_copy_bandwidth(const Device& device, std::uint64_t bytes, int streams) {
  if (device.is_cuda()) return gpu::measure_h2d(device.index, bytes, streams);
  AlignedBuffer src = aligned_buffer(bytes, "the copy probe");
  AlignedBuffer dst = aligned_buffer(bytes, "the copy probe");
  std::memset(src.get(), 1, bytes);
  std::memset(dst.get(), 0, bytes);
  const int n = std::max(1, streams);
  const std::uint64_t piece = (bytes / static_cast<std::uint64_t>(n) + 4095) / 4096 * 4096;
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {
    const auto t0 = Clock::now();
    std::vector<std::thread> pool;
    for (int i = 0; i < n; ++i) {
      const std::uint64_t off = static_cast<std::uint64_t>(i) * piece;
      if (off >= bytes) break;
      pool.emplace_back([&, off] { std::memcpy(dst.get() + off, src.get() + off, std::min(piece, bytes - off)); });
    }
    for (auto& t : pool) t.join();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, static_cast<double>(bytes) / std::max(secs, 1e-9));
  }
  return best;
}

// loader_cuda.cu computes the same fingerprint on the device, with its own copy of the finaliser.
std::uint64_t fingerprint(const void* host_bytes, std::uint64_t bytes) {
  const auto* p = static_cast<const unsigned char*>(host_bytes);
  const std::uint64_t words = bytes / 8;
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < words; ++i) {
    std::uint64_t w;
    std::memcpy(&w, p + i * 8, 8);
    sum += splitmix64_finaliser(w ^ (i * 0x9E3779B97F4A7C15ull));
  }
  if (bytes % 8 != 0) {
    std::uint64_t tail = 0;
    for (std::uint64_t b = words * 8; b < bytes; ++b) tail |= static_cast<std::uint64_t>(p[b]) << (8 * (b - words * 8));
    sum += splitmix64_finaliser(tail ^ (words * 0x9E3779B97F4A7C15ull));
  }
  return splitmix64_finaliser(sum + bytes);
}

std::uint64_t fingerprint(const TensorView& view) {
  if (view.device.is_cuda()) return gpu::device_fingerprint(view.device.index, view.data, view.bytes);
  return fingerprint(view.data, view.bytes);
}

void drop_page_cache() {
  ::sync();
  std::ofstream f("/proc/sys/vm/drop_caches");
  if (!(f << "3\n") || !f.flush()) {
    throw std::runtime_error("--drop-caches: cannot write /proc/sys/vm/drop_caches (needs root): " + std::string(std::strerror(errno)));
  }
}

}  // namespace sllm::models
