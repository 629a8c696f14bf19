// `sllmsim calibrate validate`: replays measured operations through the simulator with a profile (its
// ClusterState load estimate over the profile-configured topology, and the ProfileCostModel) and compares.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "sllm/calibrate/calibration.h"

namespace sllm::calibrate {

struct ValidationRow {
  Measurement measured;
  double predicted = 0;  // seconds
  double relative_error = 0;
  double target = 0;     // allowed relative error for this kind on a GPU host
  bool ok() const { return relative_error <= target; }
};

// `profile_path` is read with the scenario machinery (cluster.profile) so that the replay goes through
// exactly what a simulation config naming it would get.
std::vector<ValidationRow> validate(const std::string& profile_path, const std::vector<Measurement>& measurements);

// One line per operation, then a summary per kind (max and mean relative error, target, verdict).
void print_validation(const std::vector<ValidationRow>& rows, std::ostream& out);
// Markdown summary table per kind (for docs/calibration.md).
void print_validation_markdown(const std::vector<ValidationRow>& rows, std::ostream& out);

}  // namespace sllm::calibrate
