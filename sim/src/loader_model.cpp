// The loader model's compositions (docs/loader-model.md, "Modes"): each mode's per-byte cost is the sum of
// the stages it runs one after the other, or the slowest of the stages it overlaps, as its code in
// models/src/loader_modes/ does.
#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "sllm/sim/profile.h"

namespace sllm {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double rate_or_inf(double r) { return r > 0 ? r : kInf; }

// Seconds per byte of a stage moving `rate` bytes/s.
double per_byte(double rate) {
  if (!(rate > 0)) throw std::invalid_argument("loader model: a component rate is missing (0)");
  return 1.0 / rate;
}

}  // namespace

double StorageModel::throughput(double request, double in_flight, double threads) const {
  const double per_request = latency + request / rate_or_inf(request_bandwidth);
  const double overlapped = per_request > 0 ? in_flight * request / per_request : kInf;
  return std::min({rate_or_inf(bandwidth), overlapped, threads * rate_or_inf(thread_bandwidth)});
}

double LoaderModel::shared_h2d() const { return host.h2d_shared; }

LoadLaw LoaderModel::law(std::string_view mode, LoadSource source) const {
  const HostModel& h = host;
  const bool cached = source == LoadSource::kWarm || storage.memory_backed;
  // A read stage overlaps a device with the reading threads' CPU work (the kernel's read-ahead keeps the
  // device busy while the thread copies; O_DIRECT requests stay in flight while the submitting thread
  // faults in the next buffer pages): its time per byte is the larger of the two. A memory-backed
  // "device" (tmpfs) is itself a copy by the reading thread, so there the two add up.
  auto stage = [&](double cpu, double device) { return storage.memory_backed ? cpu + device : std::max(cpu, device); };
  // First touch of a fresh pageable buffer: whole-file buffers always; per-tensor buffers only for the
  // tensors larger than the allocator reuses (each is mapped afresh).
  const double fresh = per_byte(h.fresh_pages);
  const double fresh_tensor = loader.large_tensor_fraction * fresh;
  // A buffered (read) or mapped (mmap) sequential read by one thread: a copy out of the page cache, and
  // when the file is not there, the device at the read-ahead's requests (or the measured cold read).
  auto one_thread_read = [&](double copy_rate, double measured_cold, double faults) {
    double device = 0;
    if (!cached) {
      device = per_byte(measured_cold > 0 ? measured_cold
                                          : storage.throughput(static_cast<double>(h.read_ahead), h.read_ahead_depth, 1));
    }
    return stage(faults + per_byte(copy_rate), device);
  };
  // O_DIRECT requests (of loader.request bytes) bypass the page cache: warm or cold, they go to the device.
  const double in_flight = static_cast<double>(loader.threads) * loader.queue_depth;
  const double chunk = static_cast<double>(loader.chunk), request = static_cast<double>(loader.request);
  const double one_reader = per_byte(storage.throughput(request, in_flight, 1));
  const double readers = per_byte(storage.throughput(request, in_flight, loader.threads));
  const double pageable = per_byte(h.h2d_pageable);
  const double pinned = per_byte(h.h2d_pinned);
  const double per_tensor_byte = 1.0 / static_cast<double>(std::max<std::uint64_t>(loader.tensor_bytes, 1));
  double seconds_per_byte = 0, fixed = 0;
  if (mode == "by-tensor") {  // per tensor: a (reused) buffer, a buffered read, a pageable copy
    seconds_per_byte = one_thread_read(h.page_cache_thread, storage.buffered_bandwidth, fresh_tensor) + pageable +
                       h.per_tensor * per_tensor_byte;
  } else if (mode == "bulk") {  // per file: a fresh buffer, large buffered reads, then one pageable copy
    seconds_per_byte = one_thread_read(h.page_cache_thread, storage.buffered_bandwidth, fresh) + pageable;
  } else if (mode == "torch") {  // the whole file read into a fresh buffer, then a pageable copy per tensor
    seconds_per_byte = one_thread_read(h.page_cache_thread, storage.buffered_bandwidth, fresh) + pageable +
                       h.per_copy * per_tensor_byte;
  } else if (mode == "safetensors") {  // mmap; per tensor a CPU tensor filled from the map, then copied
    seconds_per_byte = one_thread_read(h.mmap_thread, storage.mmap_bandwidth, fresh_tensor) + pageable +
                       h.per_copy * per_tensor_byte;
  } else if (mode == "direct") {  // one O_DIRECT reader into a fresh aligned buffer, then a pageable copy
    seconds_per_byte = stage(fresh, one_reader) + pageable;
  } else if (mode == "threads") {  // the same with `threads` readers, which fault the buffer in parallel
    seconds_per_byte = stage(fresh / loader.threads, readers) + pageable;
  } else if (mode == "pinned") {  // readers into the pinned pool, then a pinned copy (one after the other)
    seconds_per_byte = readers + pinned;
  } else if (mode == "sllm") {  // chunks read and copied at once: the slower stage sets the pace
    if (source == LoadSource::kWarm) {
      seconds_per_byte = pinned;  // the chunks are in the pool
    } else {
      seconds_per_byte = std::max(readers, pinned);
      fixed += chunk * std::min(readers, pinned);  // the first chunk through the faster stage
    }
  } else {
    throw std::invalid_argument("the loader model has no composition for mode '" + std::string(mode) + "'");
  }
  seconds_per_byte += h.device_alloc_per_byte;
  fixed += h.device_alloc + h.per_file * loader.files + h.load_fixed;
  LoadLaw law;
  law.bandwidth = 1.0 / seconds_per_byte;
  law.overhead = from_seconds(fixed);
  return law;
}

}  // namespace sllm
