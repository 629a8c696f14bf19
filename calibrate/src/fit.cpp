#include "sllm/calibrate/fit.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace sllm::calibrate {
namespace {

// Weighted least squares on the active columns; inactive coefficients are 0.
std::vector<double> solve(const std::vector<std::vector<double>>& x, const std::vector<double>& y,
                          const std::vector<bool>& active) {
  const Eigen::Index n = static_cast<Eigen::Index>(y.size());
  std::vector<std::size_t> cols;
  for (std::size_t j = 0; j < active.size(); ++j) {
    if (active[j]) cols.push_back(j);
  }
  Eigen::MatrixXd a(n, static_cast<Eigen::Index>(cols.size()));
  Eigen::VectorXd b(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double w = 1.0 / y[static_cast<std::size_t>(i)];
    for (std::size_t c = 0; c < cols.size(); ++c) a(i, static_cast<Eigen::Index>(c)) = x[static_cast<std::size_t>(i)][cols[c]] * w;
    b(i) = 1.0;  // y / y
  }
  // Column scaling: the regressors differ by many orders of magnitude (1 vs bytes); scaling keeps the QR
  // well conditioned.
  Eigen::VectorXd scale(static_cast<Eigen::Index>(cols.size()));
  for (Eigen::Index c = 0; c < a.cols(); ++c) {
    const double norm = a.col(c).norm();
    scale(c) = norm > 0 ? norm : 1.0;
    a.col(c) /= scale(c);
  }
  const Eigen::VectorXd sol = a.colPivHouseholderQr().solve(b);
  std::vector<double> out(active.size(), 0.0);
  for (std::size_t c = 0; c < cols.size(); ++c) out[cols[c]] = sol(static_cast<Eigen::Index>(c)) / scale(static_cast<Eigen::Index>(c));
  return out;
}

std::vector<double> predict(const std::vector<std::vector<double>>& x, const std::vector<double>& coef) {
  std::vector<double> p(x.size(), 0.0);
  for (std::size_t i = 0; i < x.size(); ++i) {
    for (std::size_t j = 0; j < coef.size(); ++j) p[i] += coef[j] * x[i][j];
  }
  return p;
}

}  // namespace

FitQuality fit_quality(const std::vector<double>& predicted, const std::vector<double>& y) {
  FitQuality q;
  q.points = static_cast<int>(y.size());
  if (y.empty()) return q;
  double mean = 0;
  for (double v : y) mean += v;
  mean /= static_cast<double>(y.size());
  double sse = 0, sst = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    sse += (predicted[i] - y[i]) * (predicted[i] - y[i]);
    sst += (y[i] - mean) * (y[i] - mean);
    q.max_relative_error = std::max(q.max_relative_error, std::abs(predicted[i] - y[i]) / std::abs(y[i]));
  }
  q.r2 = sst > 0 ? 1.0 - sse / sst : (sse == 0 ? 1.0 : 0.0);
  return q;
}

LinearFit fit_linear(const std::vector<std::vector<double>>& x, const std::vector<double>& y,
                     const std::vector<bool>& non_negative) {
  if (x.size() != y.size() || x.empty()) throw std::invalid_argument("fit: no points or mismatched sizes");
  const std::size_t k = x.front().size();
  if (y.size() < k) {
    throw std::invalid_argument("fit: " + std::to_string(y.size()) + " points for " + std::to_string(k) + " coefficients");
  }
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (x[i].size() != k) throw std::invalid_argument("fit: rows of different lengths");
    if (!(y[i] > 0)) throw std::invalid_argument("fit: measured values must be positive");
  }
  std::vector<bool> active(k, true);
  std::vector<double> coef = solve(x, y, active);
  // Drop negative constrained coefficients one at a time (the most negative in relative terms first),
  // refitting each time: a small active-set loop, enough for 2-3 coefficients.
  for (std::size_t round = 0; round < k; ++round) {
    std::size_t worst = k;
    for (std::size_t j = 0; j < k; ++j) {
      if (j < non_negative.size() && non_negative[j] && active[j] && coef[j] < 0 && (worst == k || coef[j] < coef[worst])) worst = j;
    }
    if (worst == k) break;
    active[worst] = false;
    coef = solve(x, y, active);
  }
  LinearFit fit;
  fit.coefficients = coef;
  fit.quality = fit_quality(predict(x, coef), y);
  return fit;
}

double median(std::vector<double> v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int median_interval_rank(int n, double coverage) {
  // P(Binomial(n, 1/2) <= k), summed exactly enough for the n of repeated measurements (< 1000).
  double term = std::pow(0.5, n), below = 0;  // P(X = k), P(X < j)
  int j = 0;
  for (int k = 0; 2 * (k + 1) <= n + 1; ++k) {
    below += term;  // now P(X <= k) = P(X < k + 1)
    if (1 - 2 * below < coverage) break;
    j = k + 1;
    term = term * (n - k) / (k + 1);
  }
  return j;
}

std::optional<Interval> median_interval(std::vector<double> v) {
  const int n = static_cast<int>(v.size());
  const int j = median_interval_rank(n, 0.9);
  if (j == 0) return std::nullopt;
  std::sort(v.begin(), v.end());
  return Interval{v[static_cast<std::size_t>(j - 1)], v[static_cast<std::size_t>(n - j)]};
}

double median_uncertainty(const std::vector<double>& v) {
  const std::optional<Interval> i = median_interval(v);
  if (!i) return std::numeric_limits<double>::infinity();
  return (i->high - i->low) / (2 * median(v));
}

LoadLaw fit_load(const std::vector<double>& bytes, const std::vector<double>& seconds) {
  std::vector<std::vector<double>> x;
  for (double b : bytes) x.push_back({1.0, b});
  const LinearFit f = fit_linear(x, seconds, {true, true});
  if (!(f.coefficients[1] > 0)) throw std::runtime_error("load fit: time does not grow with size");
  LoadLaw law;
  law.overhead = from_seconds(f.coefficients[0]);
  law.bandwidth = 1.0 / f.coefficients[1];
  // Quality of the law as stored (overhead rounded to whole nanoseconds).
  std::vector<double> pred;
  for (double b : bytes) pred.push_back(to_seconds(law.overhead) + b / law.bandwidth);
  law.fit = fit_quality(pred, seconds);
  return law;
}

void fit_prefill(const std::vector<double>& tokens, const std::vector<double>& sum_squares,
                 const std::vector<double>& seconds, EngineProfile& e, double target) {
  if (tokens.size() != sum_squares.size() || tokens.size() != seconds.size() || tokens.empty()) {
    throw std::invalid_argument("prefill fit: no points or mismatched sizes");
  }
  std::vector<std::size_t> order(tokens.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return tokens[a] < tokens[b]; });
  // The curve over order[k..], the line over order[..k) (k = 0: no line).
  auto candidate = [&](std::size_t k) {
    EngineProfile c = e;
    c.m0 = c.m1 = 0;
    std::vector<std::vector<double>> xc, xl;
    std::vector<double> yc, yl;
    for (std::size_t j = 0; j < order.size(); ++j) {
      const std::size_t i = order[j];
      if (j < k) {
        xl.push_back({1.0, tokens[i]});
        yl.push_back(seconds[i]);
      } else {
        xc.push_back({1.0, tokens[i], sum_squares[i]});
        yc.push_back(seconds[i]);
      }
    }
    const LinearFit curve = fit_linear(xc, yc, {true, true, true});
    c.c0 = curve.coefficients[0];
    c.c1 = curve.coefficients[1];
    c.c2 = curve.coefficients[2];
    if (k > 0) {
      const LinearFit line = fit_linear(xl, yl, {true, true});
      c.m0 = line.coefficients[0];
      c.m1 = line.coefficients[1];
    }
    std::vector<double> predicted;
    for (std::size_t i = 0; i < tokens.size(); ++i) predicted.push_back(c.prefill_seconds(tokens[i], sum_squares[i]));
    c.prefill_fit = fit_quality(predicted, seconds);
    return c;
  };
  EngineProfile best = candidate(0);
  if (best.prefill_fit.max_relative_error > target) {
    for (std::size_t k = 2; k + 4 <= tokens.size(); ++k) {
      EngineProfile c = candidate(k);
      if (c.prefill_fit.max_relative_error < best.prefill_fit.max_relative_error) best = c;
    }
  }
  e = best;
}

std::optional<DecodePiece> fit_decode_piece(const std::vector<double>& batch, const std::vector<double>& context,
                                            const std::vector<double>& seconds) {
  std::vector<double> batches = batch, contexts = context;
  std::sort(batches.begin(), batches.end());
  std::sort(contexts.begin(), contexts.end());
  const bool several_batches = std::unique(batches.begin(), batches.end()) - batches.begin() > 1;
  const bool several_contexts = std::unique(contexts.begin(), contexts.end()) - contexts.begin() > 1;
  // Columns: 1, batch, C, C / batch; a column the points cannot resolve is left out (its coefficient 0).
  const std::vector<bool> used = {true, several_batches, several_contexts, several_batches && several_contexts};
  std::vector<std::vector<double>> x;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    std::vector<double> row;
    const double full[] = {1.0, batch[i], context[i], context[i] / batch[i]};
    for (std::size_t j = 0; j < used.size(); ++j) {
      if (used[j]) row.push_back(full[j]);
    }
    x.push_back(row);
  }
  // More points than coefficients: an exact fit through as many points as coefficients would claim a
  // zero error that says nothing about the law.
  if (x.empty() || x.size() <= x.front().size()) return std::nullopt;
  const LinearFit f = fit_linear(x, seconds, std::vector<bool>(x.front().size(), true));
  double coef[4] = {0, 0, 0, 0};
  for (std::size_t j = 0, k = 0; j < used.size(); ++j) {
    if (used[j]) coef[j] = f.coefficients[k++];
  }
  DecodePiece piece;
  piece.d0 = coef[0];
  piece.d1 = coef[1];
  piece.d2 = coef[2];
  piece.d3 = coef[3];
  piece.fit = f.quality;
  return piece;
}

void fit_decode(const std::vector<double>& batch, const std::vector<double>& context,
                const std::vector<double>& seconds, EngineProfile& e, double target, int max_pieces) {
  if (batch.size() != context.size() || batch.size() != seconds.size() || batch.empty()) {
    throw std::invalid_argument("decode fit: no points or mismatched sizes");
  }
  std::vector<double> sizes = batch;
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  const int k = static_cast<int>(sizes.size());
  // A split: the indices into `sizes` where pieces 2, 3, ... begin.
  std::vector<std::vector<int>> splits = {{}};
  if (max_pieces >= 2) {
    for (int a = 1; a < k; ++a) splits.push_back({a});
  }
  if (max_pieces >= 3) {
    for (int a = 1; a < k; ++a) {
      for (int b = a + 1; b < k; ++b) splits.push_back({a, b});
    }
  }
  std::vector<DecodePiece> best;
  double best_error = 0;
  std::size_t best_pieces = 0;
  for (const std::vector<int>& split : splits) {
    std::vector<DecodePiece> pieces;
    double worst = 0;
    bool feasible = true;
    for (std::size_t p = 0; p <= split.size() && feasible; ++p) {
      const double lo = sizes[static_cast<std::size_t>(p == 0 ? 0 : split[p - 1])];
      const int hi_index = p == split.size() ? k - 1 : split[p] - 1;
      const double hi = sizes[static_cast<std::size_t>(hi_index)];
      std::vector<double> pb, pc, ps;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (batch[i] >= lo && batch[i] <= hi) {
          pb.push_back(batch[i]);
          pc.push_back(context[i]);
          ps.push_back(seconds[i]);
        }
      }
      std::optional<DecodePiece> piece = fit_decode_piece(pb, pc, ps);
      if (!piece) {
        feasible = false;
        break;
      }
      piece->max_batch = p == split.size() ? DecodePiece::kUnbounded : static_cast<std::uint32_t>(hi);
      worst = std::max(worst, piece->fit.max_relative_error);
      pieces.push_back(*piece);
    }
    if (!feasible) continue;
    // Splits come in increasing piece counts: a later split replaces the best only when it is better
    // and either the best so far misses the target or it has as few pieces.
    const bool first = best.empty();
    const bool best_meets = !first && best_error <= target;
    const bool better = worst < best_error;
    if (first || (better && (!best_meets || pieces.size() == best_pieces))) {
      best = pieces;
      best_error = worst;
      best_pieces = pieces.size();
    }
  }
  if (best.empty()) throw std::invalid_argument("decode fit: too few points for any piecewise law");
  e.decode = best;
}

void fit_migration(const std::vector<double>& tokens, const std::vector<double>& cached, const std::vector<double>& seconds,
                   MigrationProfile& m) {
  if (tokens.size() != cached.size() || tokens.empty()) throw std::invalid_argument("migration fit: no points or mismatched sizes");
  // Each term needs more points than coefficients, and P only exists when some round had a cached context.
  const bool with_attention = tokens.size() > 3;
  const bool with_cached =
      tokens.size() > 4 && std::any_of(cached.begin(), cached.end(), [](double c) { return c > 0; });
  std::vector<std::vector<double>> x;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    x.push_back({tokens[i], 1.0});
    if (with_attention) x.back().push_back(recompute_squares(tokens[i], cached[i]));
    if (with_cached) x.back().push_back(tokens[i] * cached[i]);
  }
  const LinearFit f = fit_linear(x, seconds, std::vector<bool>(x.front().size(), true));
  m.a = f.coefficients[0];
  m.b = f.coefficients[1];
  m.c = with_attention ? f.coefficients[2] : 0.0;
  m.d = with_cached ? f.coefficients[3] : 0.0;
  m.fit = f.quality;
}

void fit_pause(const std::vector<double>& final_round_tokens, const std::vector<double>& cached,
               const std::vector<double>& pause_seconds, MigrationProfile& m) {
  if (final_round_tokens.size() != pause_seconds.size() || cached.size() != pause_seconds.size()) {
    throw std::invalid_argument("pause fit: mismatched sizes");
  }
  // min over h of sum ((r_i + h - p_i) / p_i)^2  =>  h = sum (p_i - r_i) / p_i^2 / sum 1 / p_i^2.
  double num = 0, den = 0;
  std::vector<double> recompute;
  for (std::size_t i = 0; i < pause_seconds.size(); ++i) {
    const double p = pause_seconds[i];
    if (!(p > 0)) throw std::invalid_argument("pause fit: measured values must be positive");
    const double n = final_round_tokens[i];
    recompute.push_back(m.recompute_seconds(n, recompute_squares(n, cached[i]), n * cached[i]));
    num += (p - recompute.back()) / (p * p);
    den += 1.0 / (p * p);
  }
  m.handoff = den > 0 ? std::max(0.0, num / den) : 0.0;
  std::vector<double> predicted;
  for (double r : recompute) predicted.push_back(r + m.handoff);
  m.pause_fit = fit_quality(predicted, pause_seconds);
}

}  // namespace sllm::calibrate
