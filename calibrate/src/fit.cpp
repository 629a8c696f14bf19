#include "sllm/calibrate/fit.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
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
                 const std::vector<double>& seconds, EngineProfile& e) {
  std::vector<std::vector<double>> x;
  for (std::size_t i = 0; i < tokens.size(); ++i) x.push_back({1.0, tokens[i], sum_squares[i]});
  const LinearFit f = fit_linear(x, seconds, {true, true, true});
  e.c0 = f.coefficients[0];
  e.c1 = f.coefficients[1];
  e.c2 = f.coefficients[2];
  e.prefill_fit = f.quality;
}

void fit_decode(const std::vector<double>& batch, const std::vector<double>& context,
                const std::vector<double>& seconds, EngineProfile& e) {
  std::vector<std::vector<double>> x;
  for (std::size_t i = 0; i < batch.size(); ++i) x.push_back({1.0, batch[i], context[i]});
  const LinearFit f = fit_linear(x, seconds, {true, true, true});
  e.d0 = f.coefficients[0];
  e.d1 = f.coefficients[1];
  e.d2 = f.coefficients[2];
  e.decode_fit = f.quality;
}

void fit_migration(const std::vector<double>& tokens, const std::vector<double>& seconds, MigrationProfile& m) {
  std::vector<std::vector<double>> x;
  for (double t : tokens) x.push_back({t, 1.0});
  const LinearFit f = fit_linear(x, seconds, {true, true});
  m.a = f.coefficients[0];
  m.b = f.coefficients[1];
  m.fit = f.quality;
}

}  // namespace sllm::calibrate
