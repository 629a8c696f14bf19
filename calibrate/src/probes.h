// Raw probes (internal to sllm_calibrate).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "sllm/calibrate/calibration.h"

namespace sllm::calibrate {

using Clock = std::chrono::steady_clock;
// Seconds elapsed since t0.
inline double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Writes `bytes` of pseudo-random content and syncs it.
void write_scratch_file(const std::string& path, std::uint64_t bytes);
// Drops the file's clean pages from the page cache (posix_fadvise; needs no privileges).
void evict_from_page_cache(const std::string& path);

struct DirectReadResult {
  std::uint64_t bytes = 0;
  double seconds = 0;
  bool direct = true;  // false: the file system refused O_DIRECT, buffered reads after eviction
};
// Reads the whole file in `chunk`-sized reads, `threads` threads each with `queue_depth` io_uring reads
// in flight.
DirectReadResult direct_read(const std::string& path, std::uint64_t chunk, int threads, int queue_depth);

// Best of three memcpy passes of `bytes` split over `threads` threads (bytes/s).
double dram_copy_bandwidth(std::uint64_t bytes, int threads);

struct CopyProbe {
  enum class Direction { kHostToDevice, kDeviceToHost };
  Direction direction = Direction::kHostToDevice;
  bool pinned = true;  // the host buffer: pinned (page-locked) or pageable
  int gpu = 0;         // -1: all GPUs at once (each from its own pinned slice)
  double bandwidth = 0;
  // Its key in the profile's probes: h2d_pinned_gpu0, d2h_pageable_gpu1, ..., h2d_pinned_concurrent.
  std::string key() const;
};
// Empty without CUDA or GPUs.
std::vector<CopyProbe> gpu_copy_probes(std::uint64_t bytes);

}  // namespace sllm::calibrate
