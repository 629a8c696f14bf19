#include "sllm/models/loader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <stdexcept>

#include "chunk_hash.h"
#include "file_io.h"
#include "loader_internal.h"
#include "sllm/core/error.h"
#include "sllm/core/loader_modes.h"
#include "sllm/core/random.h"
#include "sllm/core/units.h"

namespace sllm::models {

namespace detail {

AlignedBuffer aligned_buffer(std::uint64_t bytes, const std::string& what) {
  auto* p = static_cast<std::byte*>(std::aligned_alloc(4096, std::max<std::uint64_t>(4096, (bytes + 4095) / 4096 * 4096)));
  if (!p) throw std::runtime_error("cannot allocate " + format_bytes(bytes) + " of host memory for " + what);
  return AlignedBuffer(p);
}

std::string chunk_where(const Checkpoint& ck, int partition, std::uint64_t begin, std::uint64_t end) {
  return range_where(ck.partition_path(partition), ck.index, partition, begin, end);
}

void add_chunk_jobs(std::vector<ReadJob>& jobs, int partition, std::uint64_t begin, std::uint64_t end, std::uint64_t chunk) {
  for (std::uint64_t off = begin; off < end; off += chunk) jobs.push_back({partition, off / chunk, off, std::min(chunk, end - off)});
}

std::string short_read(const Checkpoint& ck, const ReadJob& job, std::uint64_t got) {
  return chunk_where(ck, job.partition, job.offset, job.offset + job.length) + ": short read, got " + std::to_string(got) + " of " +
         std::to_string(job.length) + " bytes";
}

}  // namespace detail

namespace {

using Clock = std::chrono::steady_clock;

// Partition p goes to device index + p of a device backend; host memory is one destination.
Device partition_device(const DeviceBackend& backend, const Device& base, int partition) {
  if (backend.host_memory()) return base;
  return Device{base.backend, base.index + partition};
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


// Checks the checksum chunks inside [offset, offset + bytes) of a partition; returns an error or "".
std::string verify_range(const Checkpoint& ck, int partition, std::uint64_t offset, const std::byte* data, std::uint64_t bytes) {
  const std::uint64_t c = ck.index.checksum_chunk;
  const auto& sums = ck.index.partitions[static_cast<std::size_t>(partition)].chunk_xxh64;
  for (std::uint64_t at = 0; at < bytes; at += c) {
    const std::uint64_t len = std::min(c, bytes - at);
    const std::uint64_t k = (offset + at) / c;
    if (chunk_xxh64(data + at, len) != sums[k]) {
      return detail::chunk_where(ck, partition, offset + at, offset + at + len) + ": checksum mismatch in checksum chunk " + std::to_string(k);
    }
  }
  return {};
}



}  // namespace

std::string_view to_string(IoBackend b) {
  switch (b) {
    case IoBackend::kAuto: return "auto";
    case IoBackend::kUring: return "uring";
    case IoBackend::kThreads: return "threads";
  }
  return "?";
}

IoBackend parse_io_backend(std::string_view text, const std::string& flag) {
  if (text == "auto") return IoBackend::kAuto;
  if (text == "uring") return IoBackend::kUring;
  if (text == "threads") return IoBackend::kThreads;
  throw InputError(flag, "expected 'auto', 'uring' or 'threads', got '" + std::string(text) + "'");
}

// ---------------------------------------------------------------------------------------------------------
// Loader modes by name

namespace {
struct Modes {
  std::mutex mu;
  std::map<std::string, std::unique_ptr<LoaderMode>, std::less<>> by_name;
};
Modes& modes() {
  static Modes m;
  return m;
}
}  // namespace

void register_loader_mode(std::unique_ptr<LoaderMode> mode) {
  Modes& m = modes();
  std::lock_guard lock(m.mu);
  register_loader_mode_name(mode->name());
  const std::string name(mode->name());
  m.by_name[name] = std::move(mode);
}

const LoaderMode& loader_mode(std::string_view name, const std::string& where) {
  {
    Modes& m = modes();
    std::lock_guard lock(m.mu);
    auto it = m.by_name.find(name);
    if (it != m.by_name.end()) return *it->second;
  }
  throw InputError(where, unknown_loader_mode_message(name));
}

// ---------------------------------------------------------------------------------------------------------
// LoadContext

const Checkpoint& LoadContext::checkpoint() const { return state_.ck; }
const LoaderOptions& LoadContext::loader_options() const { return state_.lo; }
const LoadOptions& LoadContext::load_options() const { return state_.opts; }
int LoadContext::partitions() const { return static_cast<int>(state_.ck.index.partitions.size()); }
const std::string& LoadContext::path(int partition) const { return state_.files[static_cast<std::size_t>(partition)].path; }

std::uint64_t LoadContext::read(int partition, void* buf, std::uint64_t bytes, std::uint64_t offset) const {
  const OpenPartition& f = state_.files[static_cast<std::size_t>(partition)];
  return pread_full(f.fd.get(), buf, bytes, offset, f.path);
}

std::string LoadContext::verify(int partition, std::uint64_t offset, const void* data, std::uint64_t bytes) const {
  return verify_range(state_.ck, partition, offset, static_cast<const std::byte*>(data), bytes);
}

void LoadContext::copy_to_destination(int partition, std::uint64_t offset, const void* src, std::uint64_t bytes) const {
  const auto p = static_cast<std::size_t>(partition);
  state_.backend.copy_from_host(state_.devices[p].index, static_cast<std::byte*>(state_.dest[p]) + offset, src, bytes);
}

void LoadContext::fail(const std::string& message, bool input_error) { state_.failure.set(message, input_error); }
bool LoadContext::failed() const { return state_.failure.failed(); }

// ---------------------------------------------------------------------------------------------------------
// LoadedModel

LoadedModel::~LoadedModel() {
  for (const Region& r : regions_) device_backend(r.device).free(r.device.index, r.base);
}

const TensorView* LoadedModel::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &views_[it->second];
}

// ---------------------------------------------------------------------------------------------------------
// Loader

struct Loader::Impl {
  explicit Impl(const LoaderOptions& o) : pool(o.chunk_bytes, o.pool_bytes, device_backend(o.pool_backend)) {
    uring_ok = o.io == IoBackend::kThreads || uring_available();
  }
  ChunkPool pool;
  bool uring_ok = true;
  bool warned_buffered = false;
  bool warned_uring = false;
};

int read_threads_for(const Checkpoint& ck, const LoaderOptions& options) {
  if (options.threads > 0) return options.threads;
  const int cpus = usable_cpus();
  int threads = 1;
  for (std::size_t p = 0; p < ck.index.partitions.size(); ++p) {
    threads = std::max(threads, choose_read_threads(probe_storage(ck.partition_path(static_cast<int>(p))), cpus));
  }
  return threads;
}

IoBackend io_backend_for(const Checkpoint& ck, const LoaderOptions& options) {
  if (options.io != IoBackend::kAuto) return options.io;
  for (std::size_t p = 0; p < ck.index.partitions.size(); ++p) {
    if (choose_io_backend(probe_storage(ck.partition_path(static_cast<int>(p)))) == IoBackend::kUring) return IoBackend::kUring;
  }
  return IoBackend::kThreads;
}

Loader::Loader(const LoaderOptions& options) : options_(options) {
  if (options_.threads < 0) throw InputError("--threads", "expected at least 1, or 0 (chosen from the host and the storage)");
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
void Loader::evict(const Checkpoint& ckpt) { impl_->pool.forget(ckpt.identity); }
std::uint64_t Loader::pool_chunks() const { return impl_->pool.slots(); }
std::uint64_t Loader::resident_chunks() const { return impl_->pool.resident(); }

std::unique_ptr<LoadedModel> Loader::load(const Checkpoint& ck, const LoadOptions& opts, LoadStats* stats) {
  const CheckpointIndex& idx = ck.index;
  const LoaderMode& mode = loader_mode(opts.mode, "mode");
  const LoaderModeTraits traits = mode.traits();
  if (traits.chunked && options_.chunk_bytes % idx.checksum_chunk != 0) {
    throw InputError("--chunk", format_bytes(options_.chunk_bytes) + " is not a multiple of the checkpoint's checksum chunk (" +
                                    format_bytes(idx.checksum_chunk) + ")");
  }
  const DeviceBackend& backend = device_backend(opts.device);
  for (std::size_t p = 0; p < idx.partitions.size(); ++p) {
    backend.require_device(partition_device(backend, opts.device, static_cast<int>(p)).index);
  }
  IoBackend io = io_backend_for(ck, options_);
  if (io == IoBackend::kUring && !impl_->uring_ok) {
    if (!impl_->warned_uring) std::cerr << "warning: io_uring is not available here; reading with the thread pool\n";
    impl_->warned_uring = true;
    io = IoBackend::kThreads;
  }

  const auto t0 = Clock::now();
  bool fell_back = false;
  const std::vector<OpenPartition> files = open_partitions(ck, traits.direct_io, &fell_back);
  if (fell_back && !impl_->warned_buffered) {
    std::cerr << "warning: O_DIRECT refused for " << files[0].path << " (tmpfs?): using buffered reads\n";
    impl_->warned_buffered = true;
  }

  const auto alloc_start = Clock::now();
  std::unique_ptr<LoadedModel> model(new LoadedModel());
  model->device_ = opts.device;
  LoaderOptions resolved = options_;
  resolved.threads = read_threads_for(ck, options_);
  LoadContext::State state{ck, resolved, opts, impl_->pool, io, files, backend, {}, {}, {}, 0, 0};
  for (std::size_t p = 0; p < idx.partitions.size(); ++p) {
    const std::uint64_t bytes = idx.partitions[p].bytes;
    const Device d = partition_device(backend, opts.device, static_cast<int>(p));
    std::string err;
    void* base = backend.alloc(d.index, bytes, &err);  // freed by ~LoadedModel
    if (!base) {
      throw std::runtime_error(d.to_string() + ": cannot allocate " + format_bytes(bytes) + " for " + ck.partition_path(static_cast<int>(p)) +
                               " (" + idx.tensors_in(static_cast<int>(p), 0, bytes) + "): " + err);
    }
    model->regions_.push_back({base, bytes, d});
    state.dest.push_back(base);
    state.devices.push_back(d);
  }

  const double alloc_seconds = std::chrono::duration<double>(Clock::now() - alloc_start).count();
  LoadContext ctx(state);
  mode.load(ctx);
  if (state.failure.failed()) state.failure.rethrow();  // `model` frees what was allocated

  const auto t1 = Clock::now();
  for (const CheckpointTensor& t : idx.tensors) {
    const auto p = static_cast<std::size_t>(t.partition);
    model->by_name_[t.name] = model->views_.size();
    model->views_.push_back({t.name, t.dtype, t.shape, static_cast<std::byte*>(state.dest[p]) + t.offset, t.bytes, state.devices[p]});
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
    stats->threads = resolved.threads;
    stats->io = io;
    stats->bytes = idx.total_bytes();
    stats->chunks = state.chunks;
    stats->chunks_from_dram = state.chunks_from_dram;
    stats->buffered_fallback = fell_back;
  }
  return model;
}

// ---------------------------------------------------------------------------------------------------------
// Baselines measured in the same invocation

double measure_direct_read(const Checkpoint& ck, const LoaderOptions& options, bool* buffered_fallback) {
  LoaderOptions lo = options;
  lo.threads = read_threads_for(ck, options);
  bool fell_back = false;
  const std::vector<OpenPartition> files = open_partitions(ck, true, &fell_back);
  if (buffered_fallback) *buffered_fallback = fell_back;
  IoBackend io = io_backend_for(ck, lo);
  if (io == IoBackend::kUring && !uring_available()) io = IoBackend::kThreads;
  // Private buffers, one chunk per request in flight (a slow request can keep its chunk held while the
  // thread moves on): nothing but the reads.
  const ReadPlan plan = read_plan(lo, io);
  ChunkPool buffers(lo.chunk_bytes, lo.chunk_bytes * static_cast<std::uint64_t>(lo.threads) *
                                        static_cast<std::uint64_t>(io == IoBackend::kUring ? lo.queue_depth : 1),
                    device_backend("cpu"));
  std::vector<ReadJob> jobs;
  std::uint64_t total = 0;
  for (std::size_t p = 0; p < ck.index.partitions.size(); ++p) {
    const std::uint64_t bytes = ck.index.partitions[p].bytes;
    total += bytes;
    detail::add_chunk_jobs(jobs, static_cast<int>(p), 0, bytes, lo.chunk_bytes);
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
    if (got < job.length) failure.set(detail::short_read(ck, job, got), true);
  };
  cb.abandon = [&](const ReadJob&, std::int64_t slot) { buffers.release(slot); };
  const auto t0 = Clock::now();
  run_reads(plan, jobs, files, ck.index, cb, failure);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (failure.failed()) failure.rethrow();
  return static_cast<double>(total) / std::max(secs, 1e-9);
}

// The cuda backend (loader_cuda.cu) computes the same fingerprint on the device, with its own copy of the finaliser.
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
  return device_backend(view.device).fingerprint(view.device.index, view.data, view.bytes);
}

void drop_page_cache() {
  ::sync();
  std::ofstream f("/proc/sys/vm/drop_caches");
  if (!(f << "3\n") || !f.flush()) {
    throw std::runtime_error("--drop-caches: cannot write /proc/sys/vm/drop_caches (needs root): " + std::string(std::strerror(errno)));
  }
}

}  // namespace sllm::models
