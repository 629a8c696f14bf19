// A calibration profile (docs/calibration.md): what `sllmsim calibrate` measured on a host, fitted into
// the simulator's cost models. A scenario names one with `cluster.profile: FILE`; it then replaces the
// configured SSD / DRAM / PCIe bandwidths and the pipeline-fill estimate of loads (per loader mode), the
// chosen cost-model kind for the models it has engine coefficients for, and the migration recompute law.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/sim/cost_model.h"
#include "sllm/core/units.h"

namespace sllm {

// Quality of a least-squares fit over its own measurements.
struct FitQuality {
  double r2 = 0;
  double max_relative_error = 0;
  int points = 0;
  bool operator==(const FitQuality&) const = default;
};

// time = overhead + bytes / bandwidth for one loader mode reading from one tier into its destination.
struct LoadLaw {
  double bandwidth = 0;  // bytes/s
  Nanos overhead = 0;    // fixed part of a load (opening, allocation, pipeline fill)
  FitQuality fit;
  bool operator==(const LoadLaw&) const = default;
};

// A profile may hold laws for any of the loader's modes (sllm/core/loader_modes.h): the calibrated
// end-to-end modes ("sllm", "safetensors", "torch") and the loader's ablation steps
// (`sllmsim ckpt load --mode`), which the paper's figure 2 compares (configs/paper/fig2-ablation.yaml).

struct LoaderModeProfile {
  std::optional<LoadLaw> ssd;   // cold: nothing cached in DRAM or the page cache
  std::optional<LoadLaw> dram;  // warm: the checkpoint is in host memory
  bool operator==(const LoaderModeProfile&) const = default;
};

// The loader model (docs/loader-model.md): a load's time composed from the costs of what the loader mode
// really does, each a component measured on a host (`sllmsim calibrate components`) or taken from a
// device's published specification. profile = host + storage device (+ the loader's settings); the
// per-mode laws the simulator consumes are derived from it (LoaderModel::law), so a testbed's profile is
// assembled from its hardware and components measured on a comparable host.

// The storage device checkpoints are read from. A request of r bytes takes latency + r / request_bandwidth;
// requests in flight overlap until the device's bandwidth, and each submitting thread moves at most
// thread_bandwidth (0: no limit; on tmpfs the kernel's copy runs on the submitting thread):
//   throughput(r, q, k) = min(bandwidth, q r / (latency + r / request_bandwidth), k thread_bandwidth).
// A cold buffered (or mmap) read by one thread goes through the kernel's read-ahead: requests of
// host.read_ahead bytes, host.read_ahead_depth in flight (buffered_read below, unless measured here).
struct StorageModel {
  std::string name;
  double latency = 0;             // seconds per request
  double request_bandwidth = 0;   // bytes/s within one request
  double bandwidth = 0;           // bytes/s, the device's ceiling
  double thread_bandwidth = 0;    // bytes/s per submitting thread; 0: unlimited
  double buffered_bandwidth = 0;  // measured cold read() by one thread, bytes/s; 0: from read-ahead
  double mmap_bandwidth = 0;      // measured cold mmap copy by one thread, bytes/s; 0: from read-ahead
  bool memory_backed = false;     // tmpfs: files live in the page cache (buffered reads never miss)
  double cv = 0;                  // relative spread (standard deviation / mean) of a load's time
  double throughput(double request, double in_flight, double threads) const;
  bool operator==(const StorageModel&) const = default;
};

// Costs of the host, per GPU where they are per link.
struct HostModel {
  double memcpy_thread = 0;      // bytes/s, memcpy by one thread between touched buffers
  double memcpy_all = 0;         // bytes/s, memcpy by every thread (the memory's copy bandwidth)
  double fresh_pages = 0;        // bytes/s, first touch of freshly allocated pageable memory (faults, zeroing)
  double page_cache_thread = 0;  // bytes/s, read() of a cached file by one thread
  double mmap_thread = 0;        // bytes/s, memcpy out of an mmap of a cached file by one thread
  double h2d_pinned = 0;         // bytes/s host -> one GPU from pinned memory
  double h2d_pageable = 0;       // bytes/s host -> one GPU from pageable memory (staged by the driver)
  double h2d_shared = 0;         // bytes/s host -> every GPU at once (root complex / memory); 0: GPUs x pinned
  std::uint64_t read_ahead = 128 * 1024;  // bytes per read-ahead request of a buffered read
  double read_ahead_depth = 1;            // read-ahead requests in flight
  double per_file = 0;           // seconds: open and stat of a partition file
  double per_tensor = 0;         // seconds: allocate, read and copy one tensor's fixed costs (by-tensor)
  double per_copy = 0;           // seconds: one host-to-device copy call's fixed cost
  double device_alloc = 0;       // seconds: allocating (and later freeing) a load's device memory
  double device_alloc_per_byte = 0;  // seconds per byte of it
  double load_fixed = 0;         // seconds: the rest of a load's fixed cost (threads, pool bookkeeping)
  bool operator==(const HostModel&) const = default;
};

// The loader's settings the times depend on (models/include/sllm/models/loader.h).
struct LoaderSettings {
  int threads = 4;                             // I/O threads
  int queue_depth = 8;                         // requests in flight per thread (io_uring)
  std::uint64_t chunk = 32ull << 20;           // bytes per pipeline chunk
  std::uint64_t request = 1ull << 20;          // bytes per O_DIRECT read request
  std::uint64_t tensor_bytes = 32ull << 20;    // mean tensor size (tensors = bytes / tensor_bytes)
  // Fraction of the bytes in tensors larger than the allocator hands back already touched (glibc's
  // dynamic mmap threshold, at most 32 MiB on 64-bit): per-tensor buffers of the by-tensor and safetensors
  // modes pay fresh_pages for these bytes only. 1: every weight matrix is larger (LLMs of 7B and more).
  double large_tensor_fraction = 1;
  int files = 1;                               // partition files per GPU
  bool operator==(const LoaderSettings&) const = default;
};

enum class LoadSource : std::uint8_t { kCold, kWarm };  // SSD tier (nothing cached) / DRAM tier (loaded before)

struct LoaderModel {
  std::string host_from;  // the profile whose host components this one starts from (informational once read)
  HostModel host;
  StorageModel storage;
  LoaderSettings loader;
  // The law of `mode` (sllm/core/loader_modes.h) for one GPU; throws std::invalid_argument for a mode the
  // model does not compose.
  LoadLaw law(std::string_view mode, LoadSource source) const;
  // Bytes/s every GPU of a server shares when loading at once (the host side of the PCIe links).
  double shared_h2d() const;
  bool operator==(const LoaderModel&) const = default;
};

// One piece of the decode law: a step of `batch` sequences with total context C (after the step's token)
// takes d0 + d1 batch + d2 C + d3 C / batch seconds. C / batch is the context per sequence: attention
// kernels work on the sequences in parallel, so while the GPU is not full their time follows the
// per-sequence length rather than the total. For a fixed batch the step is linear in C, which is what
// StepLaw and its closed-form sums need.
struct DecodePiece {
  static constexpr std::uint32_t kUnbounded = 0xFFFFFFFFu;
  std::uint32_t max_batch = kUnbounded;  // largest batch served by this piece (the last piece: unbounded)
  double d0 = 0, d1 = 0, d2 = 0, d3 = 0;
  FitQuality fit;  // over the measured points of this piece's batch range
  double seconds(double batch, double context) const { return d0 + d1 * batch + d2 * context + d3 * context / batch; }
  bool operator==(const DecodePiece&) const = default;
};

// Per model shape, on `gpus` devices: prefill t = max(m0 + m1 tokens, c0 + c1 tokens + c2 sum(L_i^2)): short
// prompts are bound by reading the weights once (a line with a small slope), long ones by compute (the
// GEMMs per token and the attention); m0 = m1 = 0 when one curve fits every prompt. Decode: pieces in
// increasing batch ranges (the engine's kernels change regime with the batch: GEMV for small batches,
// GEMM above), piece i serving batches (max_batch of piece i-1, max_batch of piece i].
struct EngineProfile {
  std::string model;  // catalog name
  std::uint32_t gpus = 1;
  double c0 = 0, c1 = 0, c2 = 0;
  double m0 = 0, m1 = 0;  // the prefill's memory-bound line
  FitQuality prefill_fit;
  double prefill_seconds(double tokens, double sum_squares) const {
    return std::max(m0 + m1 * tokens, c0 + c1 * tokens + c2 * sum_squares);
  }
  std::vector<DecodePiece> decode;  // empty: decode not measured (the fallback cost model decides)
  // The piece serving `batch`: the first whose max_batch >= batch. A batch between two measured ranges
  // belongs to the upper piece; one above every measured batch to the last (an extrapolation).
  const DecodePiece& decode_piece(std::uint32_t batch) const;
  bool operator==(const EngineProfile&) const = default;
};

// Token-based migration: recomputing n tokens at the destination takes a n + b (the paper's estimator)
// + c S, S = sum over sequences of end^2 - begin^2 for recomputed positions [begin, end): the causal
// attention the prefill law has too (c2 sum L^2). Without it a line in n misses rounds of ~1000 tokens
// by tens of percent on a GPU (prefill of OPT-6.7B on the H200: 5.7 ms at 64 tokens, 28.6 ms at 1024).
// + d P, P = sum over sequences of (end - begin) x begin: a short round (the last tokens after the
// source stopped) reads the whole cached context once per token, at a cost per pair far above the
// prefill's tensor-core attention (OPT-2.7B on an H200: 11 tokens after 1,345 cost 1.5 ms more than 4
// after 408; a law with c alone missed those rounds by up to 19%).
// Pause (source's last token -> destination's first new token) = the final round's recompute + handoff:
// the handoff is the part the recompute law leaves out (stopping the source at a step boundary, sending
// the final tokens, delivering the first token), fitted from the measured pauses.
struct MigrationProfile {
  std::string model;
  double a = 0;  // seconds per token
  double b = 0;  // seconds
  double c = 0;  // seconds per unit of S
  double d = 0;  // seconds per unit of P
  FitQuality fit;
  double recompute_seconds(double tokens, double sum_squares, double cached_pairs) const {
    return a * tokens + b + c * sum_squares + d * cached_pairs;
  }
  double handoff = 0;  // seconds
  FitQuality pause_fit;
  bool operator==(const MigrationProfile&) const = default;
};

struct MachineInfo {
  std::string cpu, gpu, disk, driver, kernel, date, device;
  bool operator==(const MachineInfo&) const = default;
};

struct Profile {
  std::string source;  // file it was read from (not written)
  MachineInfo machine;
  // Raw probe results, kept for reference (bandwidths in bytes/s); the simulator uses the loader laws.
  std::map<std::string, double> probes;
  std::uint64_t chunk_size = 0;  // the loader's chunk when measured (informational)
  std::map<std::string, LoaderModeProfile> loader;  // by loader mode name (measured laws)
  std::optional<LoaderModel> loader_model;  // when present, every mode's laws come from it
  std::vector<EngineProfile> engine;
  std::vector<MigrationProfile> migration;
  std::string measurements;  // measurement CSV written next to the profile (relative to it), may be empty

  const EngineProfile* find_engine(const std::string& model, std::uint32_t gpus) const;
  const MigrationProfile* find_migration(const std::string& model) const;
  // The laws loads in `mode` follow: the loader model's when the profile has one, else the measured ones;
  // nullopt when the profile has neither for the mode.
  std::optional<LoaderModeProfile> loader_laws(const std::string& mode) const;
  bool has_loader_laws() const { return loader_model || !loader.empty(); }
  // Loader efficiency of `mode`: its SSD-tier bandwidth over the sllm mode's (1 when unknown).
  double loader_efficiency(const std::string& mode) const;
  bool operator==(const Profile& o) const {
    return machine == o.machine && probes == o.probes && chunk_size == o.chunk_size && loader == o.loader &&
           loader_model == o.loader_model &&
           engine == o.engine && migration == o.migration && measurements == o.measurements;
  }
};

// Strict reading (unknown keys, bad units, missing sections are InputErrors at file:line).
Profile read_profile(const std::string& path);
Profile parse_profile(const std::string& text, const std::string& name);
// YAML text with a comment per section; doubles written with 17 significant digits (exact round trip).
std::string profile_to_yaml(const Profile& profile, const std::string& header_comment = {});
// Written to a temporary name and renamed.
void write_profile(const Profile& profile, const std::string& path, const std::string& header_comment = {});

// Engine and migration costs from a profile; models it has no coefficients for use `fallback`.
// Coefficients measured on k GPUs serve an instance of g GPUs only when g == k (else the fallback).
class ProfileCostModel final : public CostModel {
 public:
  ProfileCostModel(std::shared_ptr<const Profile> profile, std::unique_ptr<CostModel> fallback);
  double prefill_seconds(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus, std::uint64_t tokens,
                         double sum_squares) const override;
  StepLaw decode_law(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus,
                     std::uint32_t batch) const override;
  double recompute_seconds(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus, std::uint64_t tokens,
                           double sum_squares, double cached_pairs) const override;
  double migration_handoff_seconds(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus) const override;

 private:
  std::shared_ptr<const Profile> profile_;
  std::unique_ptr<CostModel> fallback_;
};

}  // namespace sllm
