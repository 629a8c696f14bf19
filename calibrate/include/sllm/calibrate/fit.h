// Least-squares fits of the simulator's cost laws (Eigen), with their quality over the fitted points.
#pragma once

#include <vector>

#include "sllm/sim/profile.h"

namespace sllm::calibrate {

struct LinearFit {
  std::vector<double> coefficients;
  FitQuality quality;
};

// Minimises the sum of squared *relative* residuals (each row divided by its y): the targets are relative
// errors and the points span orders of magnitude, so an absolute fit would let the largest point decide.
// `x` holds one row of regressors per point (the same count in each). Coefficients marked in
// `non_negative` are clamped to 0 when the unconstrained solution makes them negative (then the others are
// refitted without them): a negative overhead or slope has no physical meaning. Throws
// std::invalid_argument with fewer points than coefficients or non-positive y.
LinearFit fit_linear(const std::vector<std::vector<double>>& x, const std::vector<double>& y,
                     const std::vector<bool>& non_negative = {});

// Quality of predictions against measurements: R^2 (1 - SSE/SST, SST about the mean of y; 1 when all y
// are equal and the fit is exact) and the largest |pred - y| / y.
FitQuality fit_quality(const std::vector<double>& predicted, const std::vector<double>& y);

// time = overhead + bytes / bandwidth.
LoadLaw fit_load(const std::vector<double>& bytes, const std::vector<double>& seconds);
// prefill = c0 + c1 tokens + c2 sum_squares; decode = d0 + d1 batch + d2 context. Writes into `e`.
void fit_prefill(const std::vector<double>& tokens, const std::vector<double>& sum_squares,
                 const std::vector<double>& seconds, EngineProfile& e);
void fit_decode(const std::vector<double>& batch, const std::vector<double>& context,
                const std::vector<double>& seconds, EngineProfile& e);
// recompute = a tokens + b.
void fit_migration(const std::vector<double>& tokens, const std::vector<double>& seconds, MigrationProfile& m);

}  // namespace sllm::calibrate
