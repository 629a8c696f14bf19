// Raw probes (internal to sllm_calibrate).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "sllm/calibrate/calibration.h"
#include "sllm/sim/profile.h"
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

// Real loads of synthesised checkpoints in every loader mode, cold and warm (calibration.cpp): `sizes`
// under `dir`, base_rounds rounds over every mode and size, then more rounds (up to max_rounds, for at
// most extra_seconds) for modes whose medians are not yet pinned down.
struct LoaderRun {
  std::string dir;
  std::vector<std::uint64_t> sizes;
  int base_rounds = 1;
  int max_rounds = 1;
  double extra_seconds = 0;
};
void probe_loader(const CalibrationOptions& o, const models::Device& device, const LoaderRun& run, Profile& p,
                  std::vector<Measurement>& out);

// Best of `repeats` single-thread memcpy passes of `bytes` into memory mapped fresh for each pass (its
// first touch: page faults and zeroing, as a loader's freshly allocated pageable buffer), bytes/s.
double fresh_copy_bandwidth(std::uint64_t bytes, int repeats);
// One thread reading a file already in the page cache: pread() of `request` bytes into a touched buffer
// (buffered = true), or memcpy out of an mmap of it (false); best of `repeats`, bytes/s. With `evict`,
// the page cache is dropped first (a cold read through the kernel's read-ahead) and one pass is made.
double cached_read_bandwidth(const std::string& path, bool buffered, bool evict, int repeats);
// Seconds per file: open, fstat and close of `path`, averaged over many.
double per_file_seconds(const std::string& path);
// The block device's read-ahead window under `dir` (queue/read_ahead_kb), bytes; 0 when unknown (tmpfs).
double read_ahead_bytes(const std::string& dir);

}  // namespace sllm::calibrate
