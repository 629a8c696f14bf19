// Raw probes (internal to sllm_calibrate).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "sllm/calibrate/calibration.h"
#include "sllm/models/device_backend.h"
#include "sllm/models/tensor.h"

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

using CopyProbe = models::CopyProbeResult;
// Copy probes between the host and every device of `device`'s backend (none for cpu).
std::vector<CopyProbe> gpu_copy_probes(const models::Device& device, std::uint64_t bytes);

}  // namespace sllm::calibrate
