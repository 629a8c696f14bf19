// Measurement CSV of a calibration (read_measurements, then the grouping and fits `calibrate refit` runs
// on it; seeds: configs/profiles/*.measurements.csv).
#include <cstdint>

#include "support.h"
#include "sllm/calibrate/calibration.h"
#include "sllm/core/error.h"
#include "sllm/sim/profile.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const sllm::fuzz::ScratchFile file("measurements.csv");
  file.write(sllm::fuzz::as_text(data, size));
  try {
    const auto rows = sllm::calibrate::read_measurements(file.path());
    (void)sllm::calibrate::measured_points(rows);
    sllm::Profile profile;
    sllm::calibrate::fit_profile(rows, profile, file.path());
  } catch (const sllm::InputError& e) {
    sllm::fuzz::refused(e);
  }
  return 0;
}
