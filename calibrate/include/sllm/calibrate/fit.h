// Least-squares fits of the simulator's cost laws (Eigen), with their quality over the fitted points.
#pragma once

#include <optional>
#include <vector>

#include "sllm/sim/cost_model.h"
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

// The middle value (the mean of the two middle values for an even count); NaN for none.
double median(std::vector<double> values);

// How well n observations pin their median down: the distribution-free interval [x(j), x(n+1-j)] of the
// order statistics (1-based) with the largest j whose coverage 1 - 2 P(Binomial(n, 1/2) < j) is at least
// `coverage`. Returns j, or 0 when even [min, max] covers less (n < 5 at 90%).
int median_interval_rank(int n, double coverage);
struct Interval {
  double low = 0, high = 0;
};
// That interval at 90% coverage; nullopt when there are too few observations for one.
std::optional<Interval> median_interval(std::vector<double> values);
// Half its width relative to the median; infinity without one. A point is measured well enough when
// this is well under the error target.
double median_uncertainty(const std::vector<double>& values);

// time = overhead + bytes / bandwidth.
LoadLaw fit_load(const std::vector<double>& bytes, const std::vector<double>& seconds);
// The accuracy targets on a GPU host (relative error): loads, prefill and decode; migration.
inline constexpr double kTimeErrorTarget = 0.05;
inline constexpr double kMigrationErrorTarget = 0.10;

// prefill = c0 + c1 tokens + c2 sum_squares over every point, or, when that misses `target`, the law
// max(m0 + m1 tokens, curve) with the k shortest prompts on the line and the rest on the curve, for the
// k (2 .. points - 4) with the smallest largest relative error, if smaller than the curve's. Writes into `e`.
void fit_prefill(const std::vector<double>& tokens, const std::vector<double>& sum_squares,
                 const std::vector<double>& seconds, EngineProfile& e, double target = kTimeErrorTarget);

// One decode piece over the given points: d0 + d1 batch + d2 context + d3 context / batch, every
// coefficient non-negative. With a single batch size, d1 and d3 cannot be told apart from d0 and d2 and
// are 0. nullopt unless the points outnumber the coefficients (an exact fit would claim a zero error).
// max_batch is left unbounded.
std::optional<DecodePiece> fit_decode_piece(const std::vector<double>& batch, const std::vector<double>& context,
                                            const std::vector<double>& seconds);

// The piecewise decode law. The engine changes kernels with the batch (where is up to the engine), so
// the breakpoints come from the data: every split of the distinct measured batch sizes into at most
// `max_pieces` contiguous ranges is fitted piece by piece; the fewest pieces whose largest relative
// error over all points meets `target` win (the smallest error among those), else the split with the
// smallest error overall. Writes e.decode; throws std::invalid_argument when no split can be fitted.
inline constexpr int kMaxDecodePieces = 3;
void fit_decode(const std::vector<double>& batch, const std::vector<double>& context,
                const std::vector<double>& seconds, EngineProfile& e, double target = kTimeErrorTarget,
                int max_pieces = kMaxDecodePieces);

// recompute of tokens [begin, begin + n) = a n + b + c ((begin + n)^2 - begin^2) + d n begin; `cached` holds
// each round's begin. c is fitted only from more than 3 points (else 0: the paper's a n + b), d from more
// than 4 with some begin > 0 (else 0).
void fit_migration(const std::vector<double>& tokens, const std::vector<double>& cached, const std::vector<double>& seconds,
                   MigrationProfile& m);
// pause = the final round's recompute under m's law + handoff: the handoff minimising the squared relative
// residuals, at least 0. Writes m.handoff and m.pause_fit.
void fit_pause(const std::vector<double>& final_round_tokens, const std::vector<double>& cached,
               const std::vector<double>& pause_seconds, MigrationProfile& m);

}  // namespace sllm::calibrate
