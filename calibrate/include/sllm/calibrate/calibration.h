// `sllmsim calibrate`: real probes of this host (raw SSD reads, DRAM copies, host<->GPU copies, the real
// loader, the real engine, real live migrations), least-squares fits of the simulator's cost laws, and the
// profile (sllm/sim/profile.h) plus the measurements it was fitted from. docs/calibration.md.
#pragma once

#include <compare>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <variant>
#include <vector>

#include "sllm/sim/loading.h"
#include "sllm/sim/profile.h"

namespace sllm::calibrate {

struct CalibrationOptions {
  std::string device = "cpu";  // "cpu" (host-memory loads, CPU engine) or "cuda:N"
  bool quick = false;          // fewer and smaller points (CI: well under a minute on CPU)
  std::string scratch;         // directory for probe files and synthesised checkpoints (removed after)
  std::ostream* log = nullptr; // progress lines
};

// What one row of the measurements file measured: one struct per kind of operation, numbers in the units
// of the law the row feeds (docs/calibration.md). Counts are whole numbers.
//
// A load of a `bytes` checkpoint by the real loader in the mode named `mode` (sllm, safetensors, torch,
// and the ablation steps): cold from the SSD (Tier::kSsd: pool emptied, page cache dropped) or warm from
// host memory (Tier::kDram). Loader modes stay names: the profile keys its laws by them.
struct LoadOperation {
  std::string mode;
  Tier tier = Tier::kSsd;
  std::uint64_t bytes = 0;
  auto operator<=>(const LoadOperation&) const = default;
};
// A prefill of one prompt of `tokens` tokens; `sum_squares`: the sum of squared prompt lengths.
struct PrefillOperation {
  std::string model;
  std::uint64_t tokens = 0, sum_squares = 0;
  auto operator<=>(const PrefillOperation&) const = default;
};
// A decode step of `batch` sequences holding `context` tokens in all (after the step's token).
struct DecodeOperation {
  std::string model;
  std::uint64_t batch = 0, context = 0;
  auto operator<=>(const DecodeOperation&) const = default;
};
// A live-migration round: `tokens` recomputed on the destination, `cached` already there.
struct RecomputeOperation {
  std::string model;
  std::uint64_t tokens = 0, cached = 0;
  auto operator<=>(const RecomputeOperation&) const = default;
};
// A live migration's pause: its final round (`tokens` after `cached`), from the source's last token to
// the destination's first.
struct PauseOperation {
  std::string model;
  std::uint64_t tokens = 0, cached = 0;
  auto operator<=>(const PauseOperation&) const = default;
};
using Operation = std::variant<LoadOperation, PrefillOperation, DecodeOperation, RecomputeOperation, PauseOperation>;
// Its kind as the measurements file writes it: load, prefill, decode, recompute, pause.
const char* kind_name(const Operation& op);

// One observation of an operation.
struct Measurement {
  Operation operation;
  double seconds = 0;
};

// The rows of one operation and the value its law is fitted to and validated against: their median.
struct MeasuredPoint {
  Measurement median;                // seconds: the median observation
  std::vector<double> observations;  // in measurement order
};
// Groups rows by operation, in order of first appearance.
std::vector<MeasuredPoint> measured_points(const std::vector<Measurement>& rows);

// Every law the points measure has at least the points it needs to be fitted (more than an exact fit
// through them for a decode piece); else an InputError at `source` naming the law, its points and the
// points it needs. fit_profile and validate check this.
void require_enough_points(const std::vector<MeasuredPoint>& points, const std::string& source);

// CSV with a header (kind,model,mode,tier,x0,x1,seconds: x0 and x1 are the operation's two numbers in
// the order above, x1 = 0 for a load); read back strictly into the typed rows (InputError with file:line
// and the column).
void write_measurements(const std::vector<Measurement>& rows, const std::string& path);
std::vector<Measurement> read_measurements(const std::string& path);

// CPU model, GPU name and driver (CUDA builds), the disk under `dir`, kernel, UTC date.
MachineInfo describe_machine(const std::string& dir, const std::string& device);

// Runs every probe, fits, and returns the profile (measurements appended to `measurements`).
Profile run_calibration(const CalibrationOptions& options, std::vector<Measurement>& measurements);

// `sllmsim calibrate components`: the loader model's components (docs/loader-model.md). Host probes
// (memcpy per thread and all threads, first touch of fresh pages, page-cache and mmap reads, per-file and
// per-tensor costs, device allocation, host<->device copies) once; per storage device (a name and a
// folder on it, e.g. tmpfs=/dev/shm disk=/var/tmp) a grid of O_DIRECT reads (request size x threads x
// requests in flight), repeated reads for the spread, cold buffered and mmap reads, and the real loader
// in every mode, cold and warm, whose times go to `measurements[name]` (the out-of-sample check).
// The tensor size of the checkpoints the calibration synthesises for its loads (the last tensor may be
// shorter): the loader model's tensor_bytes when it predicts them.
inline constexpr std::uint64_t kProbeTensorBytes = 16ull << 20;

struct ComponentOptions {
  std::string device = "cpu";
  std::vector<std::pair<std::string, std::string>> storages;  // (name, folder)
  bool quick = false;
  std::ostream* log = nullptr;
};
Profile run_component_calibration(const ComponentOptions& options,
                                  std::vector<std::pair<std::string, std::vector<Measurement>>>& measurements);

// How long a probe migration's inference runs. The destination loads while the source keeps decoding; a
// migration whose source finishes first is dropped (nothing measured), so the source must still be
// generating when the load ends (load_seconds at step_seconds per token, x1.5 for contention and spread
// between loads) and through the rounds (the first recomputes the prompt, about one prefill: 4 prefills
// and 32 tokens of margin for all of them). Clamped to [min_tokens, the model's positions left after the
// prompt] and to max_seconds of decoding; `fits` says whether the needed tokens survived the clamp.
struct MigrationProbeSize {
  int new_tokens = 0;
  int migrate_at_token = 0;  // min_tokens / 4: the source's undisturbed steps before the migration
  bool fits = true;
};
MigrationProbeSize size_migration_probe(double load_seconds, double step_seconds, double prefill_seconds,
                                        int prompt_tokens, int max_positions, int min_tokens, double max_seconds);

// Fits the profile's laws from measurements alone (what run_calibration does after probing). A law with
// too few points is an InputError at `source` (require_enough_points).
void fit_profile(const std::vector<Measurement>& measurements, Profile& profile,
                 const std::string& source = "measurements");

}  // namespace sllm::calibrate
