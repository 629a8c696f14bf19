// The loader model's components from `sllmsim calibrate components` probes, and its checks against the
// real loader's measured times (docs/loader-model.md).
#pragma once

#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sllm/calibrate/calibration.h"
#include "sllm/calibrate/fit.h"
#include "sllm/sim/profile.h"

namespace sllm::calibrate {

using Probes = std::map<std::string, double>;

// A probe by key; InputError naming the key when the profile lacks it.
double probe(const Probes& probes, const std::string& key);

// The storage device `name` (probe keys NAME_direct_r<KiB>KiB_t<threads>_q<depth>, NAME_repeat<i>,
// NAME_buffered_cold, NAME_mmap_cold, NAME_memory_backed): StorageModel::throughput's latency, request
// bandwidth, ceiling and per-thread limit are the least-squares fit (in log throughput) over the O_DIRECT
// grid, found by a search over a logarithmic grid of each parameter; cv from the repeated reads.
StorageModel fit_storage_model(const Probes& probes, const std::string& name);

// Host components (probes of calibrate components), with the loader's default settings and
// load_fixed = 0 (no component is fitted to the real loader's times):
//   fresh_pages: 1 / (1 / fresh_copy_threads1 - 1 / memcpy_threads1), the first touch alone;
//   h2d_shared: h2d_pinned_concurrent on a host with several GPUs, else the memory's read bandwidth,
//     2 x the best memcpy (a copy reads and writes each byte; a host-to-device copy only reads);
//   device_alloc (+ per byte): the line through the two allocation probes;
//   read_ahead: the largest NAME_read_ahead_bytes; read_ahead_depth: the requests in flight that make
//     the storage model's read-ahead throughput the measured cold buffered read of that device.
HostModel fit_host_model(const Probes& probes);
// fit_host_model + fit_storage_model(storage).
LoaderModel fit_loader_model(const Probes& probes, const std::string& storage);

// One row of the model's check: a measured load point against the prediction.
struct ComponentCheck {
  std::string storage, mode;
  Tier tier = Tier::kSsd;
  std::uint64_t bytes = 0;
  double measured = 0;   // median seconds
  std::optional<Interval> interval;
  // The component model fits nothing to loader times: every prediction is out of sample (a mode and a
  // size it never saw). For comparison, the empirical per-mode law (fit_load) of the same mode and tier:
  double model = 0;
  double law_in_sample = 0;       // fitted on every size
  double law_leave_size_out = 0;  // fitted on the other sizes; 0: too few
};
// Every load point of `rows` (one storage device's measurements) against the model for `storage`.
std::vector<ComponentCheck> check_loader_model(const Probes& probes, const std::string& storage,
                                               const std::vector<Measurement>& rows);
// One line per point, then a Markdown table per storage, tier and mode: max and mean relative errors.
void print_component_checks(const std::vector<ComponentCheck>& checks, std::ostream& out);

// Cross-host: the laws of `model_profile` (its loader model) against the measured laws of `reference` at
// one checkpoint of `bytes`, for every mode and tier both have. Rows: mode, tier, measured s, predicted s.
struct CrossHostRow {
  std::string mode;
  Tier tier = Tier::kSsd;
  double measured = 0, predicted = 0;
};
std::vector<CrossHostRow> cross_host(const Profile& model_profile, const Profile& reference, double bytes);

}  // namespace sllm::calibrate
