// `sllmsim calibrate validate`: replays measured operations through the simulator with a profile (its
// ClusterState load estimate over the profile-configured topology, and the ProfileCostModel) and compares.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "sllm/calibrate/calibration.h"
#include "sllm/calibrate/fit.h"

namespace sllm::calibrate {

struct ValidationRow {
  Measurement measured;  // seconds: the median of the operation's observations (measured_points)
  std::size_t observations = 1;
  std::optional<Interval> interval;  // the 90% interval of that median (median_interval), from 5 observations
  double predicted = 0;  // seconds
  double relative_error = 0;
  double target = 0;     // allowed relative error for this kind on a GPU host
  bool ok() const { return relative_error <= target; }
  // A miss that the measurement cannot pin on the law: the prediction lies inside the median's interval,
  // so the observations scatter more than the error. Still a miss (--check fails on it).
  bool within_noise() const { return !ok() && interval && predicted >= interval->low && predicted <= interval->high; }
};

// One row per operation the profile has a law for. The replay goes through what a simulation naming the
// profile gets: a scenario on it (Scenario::from_parts: the profile's loader laws in the topology, its
// cost model). Measurements with too few points for a law are an InputError at `source`
// (require_enough_points).
std::vector<ValidationRow> validate(const std::string& profile_path, const std::vector<Measurement>& measurements,
                                    const std::string& source = "measurements");

// One line per operation, then a summary per kind (max and mean relative error, target, verdict).
void print_validation(const std::vector<ValidationRow>& rows, std::ostream& out);
// Markdown summary table per kind (for docs/calibration.md).
void print_validation_markdown(const std::vector<ValidationRow>& rows, std::ostream& out);

}  // namespace sllm::calibrate
