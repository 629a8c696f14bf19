// `sllmsim calibrate`: real probes of this host (raw SSD reads, DRAM copies, host<->GPU copies, the real
// loader, the real engine, real live migrations), least-squares fits of the simulator's cost laws, and the
// profile (sllm/sim/profile.h) plus the measurements it was fitted from. docs/calibration.md.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "sllm/sim/profile.h"

namespace sllm::calibrate {

struct CalibrationOptions {
  std::string device = "cpu";  // "cpu" (host-memory loads, CPU engine) or "cuda:N"
  bool quick = false;          // fewer and smaller points (CI: well under a minute on CPU)
  std::string scratch;         // directory for probe files and synthesised checkpoints (removed after)
  std::ostream* log = nullptr; // progress lines
};

// One observation of an operation, in the units of the law it feeds. Kinds and fields:
//   load      mode (sllm|safetensors|torch|...), tier (ssd|dram), x0 = bytes; one row per round
//   prefill   model, x0 = prompt tokens, x1 = sum of squared prompt lengths
//   decode    model, x0 = batch, x1 = total context of the batch (after the step's token)
//   recompute model, x0 = tokens recomputed in a migration round, x1 = tokens already cached
//   pause     model, x0 = tokens of the final round (source's last token -> destination's first)
struct Measurement {
  std::string kind, model, mode, tier;
  double x0 = 0, x1 = 0;
  double seconds = 0;
};

// The rows of one operation (same kind, model, mode, tier, x0 and x1) and the value its law is fitted to
// and validated against: their median.
struct MeasuredPoint {
  Measurement median;                // seconds: the median observation
  std::vector<double> observations;  // in measurement order
};
// Groups rows by operation, in order of first appearance.
std::vector<MeasuredPoint> measured_points(const std::vector<Measurement>& rows);

// CSV with a header; read back strictly (InputError with file:line).
void write_measurements(const std::vector<Measurement>& rows, const std::string& path);
std::vector<Measurement> read_measurements(const std::string& path);

// CPU model, GPU name and driver (CUDA builds), the disk under `dir`, kernel, UTC date.
MachineInfo describe_machine(const std::string& dir, const std::string& device);

// Runs every probe, fits, and returns the profile (measurements appended to `measurements`).
Profile run_calibration(const CalibrationOptions& options, std::vector<Measurement>& measurements);

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

// Fits the profile's laws from measurements alone (what run_calibration does after probing).
void fit_profile(const std::vector<Measurement>& measurements, Profile& profile);

}  // namespace sllm::calibrate
