// Fits recover known coefficients from synthetic measurements with noise; measurement files round-trip.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>

#include "sllm/calibrate/calibration.h"
#include "sllm/calibrate/fit.h"
#include "sllm/calibrate/validate.h"
#include "sllm/core/error.h"

namespace sllm::calibrate {
namespace {

// Multiplicative noise uniform in [1 - amplitude, 1 + amplitude] (splitmix64: no std:: distributions).
struct Noise {
  std::uint64_t state;
  double amplitude;
  double operator()() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const double u = static_cast<double>(z >> 11) * 0x1.0p-53;  // [0, 1)
    return 1.0 + amplitude * (2 * u - 1);
  }
};

TEST(CalibrateFit, LoadLawRecoversOverheadAndBandwidthUnderNoise) {
  const double overhead = 0.020, bandwidth = 6.5e9;
  Noise noise{42, 0.01};
  std::vector<double> bytes, seconds;
  for (double gib : {0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0}) {
    for (int r = 0; r < 3; ++r) {
      bytes.push_back(gib * (1ull << 30));
      seconds.push_back((overhead + bytes.back() / bandwidth) * noise());
    }
  }
  const LoadLaw law = fit_load(bytes, seconds);
  EXPECT_NEAR(law.bandwidth / bandwidth, 1.0, 0.01);
  EXPECT_NEAR(to_seconds(law.overhead), overhead, 0.002);
  EXPECT_GT(law.fit.r2, 0.999);
  EXPECT_LE(law.fit.max_relative_error, 0.025);  // 1% noise around the law, plus the fit's own error
  EXPECT_EQ(law.fit.points, 21);
}

TEST(CalibrateFit, ExactDataGivesExactCoefficientsAndPerfectQuality) {
  // prefill = 1 ms + 20 us/token + 3 ns/token^2, hand-made points without noise.
  EngineProfile e;
  std::vector<double> tokens, squares, seconds;
  for (double l : {16.0, 64.0, 128.0, 512.0, 1024.0}) {
    tokens.push_back(l);
    squares.push_back(l * l);
    seconds.push_back(1e-3 + 20e-6 * l + 3e-9 * l * l);
  }
  fit_prefill(tokens, squares, seconds, e);
  EXPECT_NEAR(e.c0, 1e-3, 1e-9);
  EXPECT_NEAR(e.c1, 20e-6, 1e-11);
  EXPECT_NEAR(e.c2, 3e-9, 1e-14);
  EXPECT_EQ(e.m0, 0.0);  // the curve meets the target alone: no line
  EXPECT_EQ(e.m1, 0.0);
  EXPECT_NEAR(e.prefill_fit.r2, 1.0, 1e-12);
  EXPECT_LT(e.prefill_fit.max_relative_error, 1e-9);
}

TEST(CalibrateFit, PrefillBoundByTheWeightsAtShortPromptsGetsItsLine) {
  // prefill = max(5 ms + 8 us/token, 3 ms + 20 us/token + 6 ns/token^2), 1% noise: the curve alone cannot
  // follow the flat start (it misses 5%), the line-and-curve law recovers both within the noise.
  Noise noise{11, 0.01};
  EngineProfile e;
  std::vector<double> tokens, squares, seconds;
  for (double l : {16.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 1536.0}) {
    tokens.push_back(l);
    squares.push_back(l * l);
    seconds.push_back(std::max(5e-3 + 8e-6 * l, 3e-3 + 20e-6 * l + 6e-9 * l * l) * noise());
  }
  fit_prefill(tokens, squares, seconds, e);
  EXPECT_NEAR(e.m0 / 5e-3, 1.0, 0.05);
  EXPECT_GT(e.m1, 0.0);
  EXPECT_NEAR(e.c2 / 6e-9, 1.0, 0.2);
  EXPECT_LE(e.prefill_fit.max_relative_error, 0.03);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    EXPECT_NEAR(e.prefill_seconds(tokens[i], squares[i]) / seconds[i], 1.0, 0.03) << tokens[i];
  }
}

TEST(CalibrateFit, LinearDecodeDataGivesOnePieceWithItsCoefficients) {
  Noise noise{7, 0.02};
  EngineProfile e;
  std::vector<double> batch, context, seconds;
  for (double b : {1.0, 2.0, 4.0, 8.0, 16.0}) {
    for (double l : {64.0, 256.0, 1024.0, 2048.0}) {
      batch.push_back(b);
      context.push_back(b * l);
      seconds.push_back((8e-3 + 0.15e-3 * b + 40e-9 * b * l + 0.5e-6 * l) * noise());
    }
  }
  fit_decode(batch, context, seconds, e);
  // One piece already meets the 5% target (2% noise): no breakpoints.
  ASSERT_EQ(e.decode.size(), 1u);
  const DecodePiece& d = e.decode[0];
  EXPECT_EQ(d.max_batch, DecodePiece::kUnbounded);
  EXPECT_NEAR(d.d0 / 8e-3, 1.0, 0.05);
  EXPECT_NEAR(d.d1 / 0.15e-3, 1.0, 0.3);  // the smallest term: loosest
  EXPECT_NEAR(d.d2 / 40e-9, 1.0, 0.1);
  EXPECT_NEAR(d.d3 / 0.5e-6, 1.0, 0.2);  // 8-15% of the step: 2% noise leaves ~10% uncertainty
  EXPECT_EQ(d.fit.points, 20);
  EXPECT_LE(d.fit.max_relative_error, 0.05);
}

// Three kernel regimes in batch (like GEMV kernels for small batches, a slower GEMV path, then GEMMs that
// are faster again): the fit finds the breakpoints and each piece's coefficients under 1% noise.
TEST(CalibrateFit, PiecewiseDecodeRecoversBreakpointsAndCoefficients) {
  struct Regime {
    double max_batch, d0, d1, d2, d3;
  };
  const Regime regimes[] = {{2, 4.0e-3, 0.40e-3, 0.10e-6, 1.7e-6},
                            {8, 5.0e-3, 0.75e-3, 0.15e-6, 1.2e-6},
                            {1e9, 3.5e-3, 0.05e-3, 0.20e-6, 0.8e-6}};
  auto regime_of = [&](double b) -> const Regime& {
    for (const Regime& r : regimes) {
      if (b <= r.max_batch) return r;
    }
    return regimes[2];
  };
  Noise noise{11, 0.01};
  std::vector<double> batch, context, seconds;
  for (double b : {1.0, 2.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0}) {
    for (double l : {64.0, 256.0, 512.0, 1024.0}) {
      const Regime& r = regime_of(b);
      batch.push_back(b);
      context.push_back(b * l);
      seconds.push_back((r.d0 + r.d1 * b + r.d2 * b * l + r.d3 * l) * noise());
    }
  }
  EngineProfile e;
  fit_decode(batch, context, seconds, e);
  ASSERT_EQ(e.decode.size(), 3u);
  EXPECT_EQ(e.decode[0].max_batch, 2u);
  EXPECT_EQ(e.decode[1].max_batch, 8u);
  EXPECT_EQ(e.decode[2].max_batch, DecodePiece::kUnbounded);
  for (std::size_t i = 0; i < 3; ++i) {
    const DecodePiece& d = e.decode[i];
    const Regime& r = regimes[i];
    SCOPED_TRACE("piece " + std::to_string(i));
    // Tolerances: the per-term share of the step time decides how well 1% noise pins a coefficient.
    EXPECT_NEAR(d.d0 / r.d0, 1.0, 0.1);
    EXPECT_NEAR(d.d1 / r.d1, 1.0, 0.35);
    EXPECT_NEAR(d.d2 / r.d2, 1.0, 0.35);
    EXPECT_NEAR(d.d3 / r.d3, 1.0, 0.25);
    EXPECT_LE(d.fit.max_relative_error, 0.025);
  }
  // What matters: steps of batches that were not measured, through the piece the simulator picks
  // (first max_batch >= batch), within 3% of the true law.
  for (double b : {3.0, 5.0, 7.0, 20.0, 28.0}) {
    for (double l : {128.0, 768.0}) {
      const Regime& r = regime_of(b);
      const double truth = r.d0 + r.d1 * b + r.d2 * b * l + r.d3 * l;
      EXPECT_NEAR(e.decode_piece(static_cast<std::uint32_t>(b)).seconds(b, b * l) / truth, 1.0, 0.03)
          << "batch " << b << " context/seq " << l;
    }
  }
  // With at most two pieces the best split cannot meet the target: the best one is kept, and it is worse.
  EngineProfile two;
  fit_decode(batch, context, seconds, two, kTimeErrorTarget, 2);
  ASSERT_EQ(two.decode.size(), 2u);
  double worst = 0;
  for (const DecodePiece& d : two.decode) worst = std::max(worst, d.fit.max_relative_error);
  EXPECT_GT(worst, 0.05);
}

TEST(CalibrateFit, DecodePieceOfOneBatchSizeFitsOnlyTheContextTerm) {
  // One batch size: batch and context-per-sequence terms are not identifiable; they are 0 and the line
  // in C is exact. Two points for two coefficients would be an exact fit: refused.
  const auto piece = fit_decode_piece({16, 16, 16}, {1024, 4096, 16384}, {5e-3 + 1024 * 2e-7, 5e-3 + 4096 * 2e-7, 5e-3 + 16384 * 2e-7});
  ASSERT_TRUE(piece);
  EXPECT_NEAR(piece->d0, 5e-3, 1e-12);
  EXPECT_NEAR(piece->d2, 2e-7, 1e-15);
  EXPECT_EQ(piece->d1, 0);
  EXPECT_EQ(piece->d3, 0);
  EXPECT_FALSE(fit_decode_piece({16, 16}, {1024, 4096}, {5e-3, 6e-3}));
  EngineProfile e;
  EXPECT_THROW(fit_decode({1, 2}, {10, 20}, {1e-3, 2e-3}, e), std::invalid_argument);
}

TEST(CalibrateFit, MigrationRecomputeAndPauseLaws) {
  Noise noise{7, 0.02};
  // Rounds as a migration makes them: a long first round from nothing cached, then short rounds over a
  // long cached context. Law: 5 ms + 10 us/token + 10 ns per attention pair unit (end^2 - begin^2) + 100 ns
  // per recomputed token and cached token.
  MigrationProfile m;
  std::vector<double> n, cached, t;
  auto law = [](double k, double begin) {
    return 5e-3 + 10e-6 * k + 10e-9 * ((begin + k) * (begin + k) - begin * begin) + 100e-9 * k * begin;
  };
  for (double prompt : {64.0, 256.0, 512.0, 1024.0}) {
    for (auto [k, begin] : {std::pair{prompt + 600, 0.0}, std::pair{12.0, prompt + 600}, std::pair{2.0, prompt + 612}}) {
      n.push_back(k);
      cached.push_back(begin);
      t.push_back(law(k, begin) * noise());
    }
  }
  fit_migration(n, cached, t, m);
  EXPECT_NEAR(m.a / 10e-6, 1.0, 0.2);
  EXPECT_NEAR(m.b / 5e-3, 1.0, 0.05);
  EXPECT_NEAR(m.c / 10e-9, 1.0, 0.1);
  EXPECT_NEAR(m.d / 100e-9, 1.0, 0.1);
  EXPECT_LE(m.fit.max_relative_error, 0.05);
  // Rounds without a cached context carry no information on d: it stays 0 (no singular fit).
  MigrationProfile fresh;
  fit_migration({100, 200, 400, 800, 1600}, {0, 0, 0, 0, 0}, {law(100, 0), law(200, 0), law(400, 0), law(800, 0), law(1600, 0)},
                fresh);
  EXPECT_EQ(fresh.d, 0.0);
  EXPECT_NEAR(fresh.c / 10e-9, 1.0, 1e-6);
  // From 3 points only a and b are fitted (the paper's a n + b): 3 coefficients need more points.
  MigrationProfile line;
  fit_migration({n.begin(), n.begin() + 3}, {cached.begin(), cached.begin() + 3}, {t.begin(), t.begin() + 3}, line);
  EXPECT_EQ(line.c, 0.0);  // 3 points: 2 coefficients only
  EXPECT_EQ(line.d, 0.0);

  // Pauses: the final round's recompute under the fitted law plus a hand-off. Exact data give it back.
  MigrationProfile exact{"tiny-opt", 30e-6, 5e-3, 1e-9, 2e-8, {}, 0, {}};
  // Final rounds of 2, 3 and 5 tokens after 100 cached: S = 102^2 - 100^2 = 404, 609, 1025; P = 200, 300, 500.
  fit_pause({2, 3, 5}, {100, 100, 100},
            {5e-3 + 60e-6 + 404e-9 + 4e-6 + 2e-3, 5e-3 + 90e-6 + 609e-9 + 6e-6 + 2e-3,
             5e-3 + 150e-6 + 1025e-9 + 10e-6 + 2e-3},
            exact);
  EXPECT_NEAR(exact.handoff, 2e-3, 1e-12);
  EXPECT_LT(exact.pause_fit.max_relative_error, 1e-9);
  EXPECT_EQ(exact.pause_fit.points, 3);
  // Hand-computed weighted mean: recompute 1 ms for every point, pauses 2 and 4 ms ->
  // h = ((2-1)/4 + (4-1)/16) / (1/4 + 1/16) = (0.4375) / (0.3125) = 1.4 ms.
  MigrationProfile hand{"tiny-opt", 0, 1e-3, 0, 0, {}, 0, {}};
  fit_pause({1, 1}, {0, 0}, {2e-3, 4e-3}, hand);
  EXPECT_NEAR(hand.handoff, 1.4e-3, 1e-12);
  // A pause shorter than the recompute: the hand-off cannot be negative.
  MigrationProfile shorter{"tiny-opt", 0, 1e-3, 0, 0, {}, 0, {}};
  fit_pause({1}, {0}, {0.5e-3}, shorter);
  EXPECT_EQ(shorter.handoff, 0);
}

TEST(CalibrateProbes, MigrationProbeOutlastsTheLoadAndStaysCapped) {
  // GPU-like: 2 s load, 4.5 ms steps, 30 ms prefill of a 512-token prompt. Needs 16 + ceil(3 / 0.0045) +
  // ceil(0.12 / 0.0045) + 32 = 16 + 667 + 27 + 32 = 742 tokens.
  MigrationProbeSize s = size_migration_probe(2.0, 4.5e-3, 30e-3, 512, 2048, 64, 15.0);
  EXPECT_EQ(s.migrate_at_token, 16);
  EXPECT_EQ(s.new_tokens, 742);
  EXPECT_TRUE(s.fits);
  // The source still decodes when the load ends, with the margin: (new - migrate_at) steps > 1.5 loads.
  EXPECT_GT((s.new_tokens - s.migrate_at_token) * 4.5e-3, 1.5 * 2.0);
  // Capped by the positions left after the prompt...
  s = size_migration_probe(2.0, 4.5e-3, 30e-3, 1536, 2048, 64, 15.0);
  EXPECT_EQ(s.new_tokens, 2048 - 1536 - 1);
  EXPECT_FALSE(s.fits);
  // ... and by the decoding time allowed.
  s = size_migration_probe(20.0, 4.5e-3, 30e-3, 64, 100000, 64, 15.0);
  EXPECT_EQ(s.new_tokens, static_cast<int>(15.0 / 4.5e-3));
  EXPECT_FALSE(s.fits);
  // CPU tiny model: millisecond loads, the minimum applies.
  s = size_migration_probe(1e-3, 1e-3, 2e-3, 64, 2048, 64, 5.0);
  EXPECT_EQ(s.new_tokens, 64);
  EXPECT_TRUE(s.fits);
}

TEST(CalibrateFit, NegativeOverheadIsClampedToZero) {
  // Pure proportional data nudged so that the unconstrained intercept is negative.
  const std::vector<double> bytes = {1e8, 2e8, 4e8};
  const std::vector<double> seconds = {0.0099, 0.0200, 0.0401};
  const LoadLaw law = fit_load(bytes, seconds);
  EXPECT_EQ(law.overhead, 0);
  EXPECT_GT(law.bandwidth, 9.5e9);
  EXPECT_LT(law.bandwidth, 10.5e9);
}

TEST(CalibrateFit, QualityMatchesHandComputedValues) {
  // y = {1, 2, 3}, predictions {1.1, 2, 2.7}: SSE = 0.01 + 0 + 0.09 = 0.1, SST = 2 -> R^2 = 0.95;
  // relative errors 0.1, 0, 0.1 -> max 0.1.
  const FitQuality q = fit_quality({1.1, 2.0, 2.7}, {1.0, 2.0, 3.0});
  EXPECT_NEAR(q.r2, 0.95, 1e-12);
  EXPECT_NEAR(q.max_relative_error, 0.1, 1e-12);
  EXPECT_EQ(q.points, 3);
}

TEST(CalibrateFit, RejectsTooFewPointsAndNonPositiveTimes) {
  EXPECT_THROW(fit_load({1e9}, {0.1}), std::invalid_argument);
  EXPECT_THROW(fit_load({1e9, 2e9}, {0.1, 0.0}), std::invalid_argument);
}

TEST(CalibrateMeasurements, RoundTripAndStrictReading) {
  const auto dir = std::filesystem::temp_directory_path() / ("sllm_cal_meas_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::vector<Measurement> rows = {{LoadOperation{"sllm", Tier::kSsd, 1073741824}, 0.123456789012345678},
                                         {DecodeOperation{"tiny-opt", 4, 520}, 1.0 / 3.0}};
  const std::string path = (dir / "m.csv").string();
  write_measurements(rows, path);
  const auto back = read_measurements(path);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].operation, rows[0].operation);
  EXPECT_EQ(back[0].seconds, 0.123456789012345678);
  EXPECT_EQ(back[1].operation, rows[1].operation);
  EXPECT_EQ(back[1].seconds, 1.0 / 3.0);
  // The file is the documented text: kind,model,mode,tier,x0,x1,seconds.
  std::ifstream written(path);
  std::string header, load, decode;
  std::getline(written, header);
  std::getline(written, load);
  std::getline(written, decode);
  EXPECT_EQ(load, "load,,sllm,ssd,1073741824,0,0.12345678901234568");
  EXPECT_EQ(decode, "decode,tiny-opt,,,4,520,0.33333333333333331");

  std::ofstream(dir / "bad.csv") << "kind,model,mode,tier,x0,x1,seconds\nload,,sllm,tape,1,0,1\n";
  try {
    read_measurements((dir / "bad.csv").string());
    FAIL() << "a bad tier was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2"), std::string::npos) << e.what();
  }
  // Every number cell must be one finite number as a whole: trailing text, empty cells, nan and inf are
  // errors naming the line and the column.
  const std::vector<std::pair<std::string, std::string>> bad_numbers = {
      {"load,,sllm,ssd,1,0,1.5abc", "seconds"}, {"load,,sllm,ssd,,0,1", "x0"},   {"load,,sllm,ssd,1,nan,1", "x1"},
      {"load,,sllm,ssd,1,0,inf", "seconds"},    {"load,,sllm,ssd,1 ,0,1", "x0"}, {"load,,sllm,ssd,0x10,0,1", "x0"}};
  for (const auto& [row, column] : bad_numbers) {
    std::ofstream(dir / "num.csv") << "kind,model,mode,tier,x0,x1,seconds\nload,,sllm,ssd,1,0,1\n" << row << "\n";
    try {
      read_measurements((dir / "num.csv").string());
      FAIL() << "accepted: " << row;
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("num.csv:3"), std::string::npos) << what;
      EXPECT_NE(what.find("column " + column), std::string::npos) << what;
    }
  }
  std::filesystem::remove_all(dir);
}

// Ranks of the distribution-free 90% interval for a median, from binomial tables: the largest j with
// 1 - 2 P(Binomial(n, 1/2) < j) >= 0.9.
TEST(CalibrateStatistics, MedianIntervalRanksMatchBinomialTables) {
  EXPECT_EQ(median_interval_rank(1, 0.9), 0);
  EXPECT_EQ(median_interval_rank(4, 0.9), 0);   // [min, max] covers 1 - 2/16 = 87.5%
  EXPECT_EQ(median_interval_rank(5, 0.9), 1);   // 1 - 2/32 = 93.75%
  EXPECT_EQ(median_interval_rank(7, 0.9), 1);   // j = 2 would cover 1 - 16/128 = 87.5%
  EXPECT_EQ(median_interval_rank(8, 0.9), 2);   // 1 - 18/256 = 93.0%
  EXPECT_EQ(median_interval_rank(10, 0.9), 2);  // j = 3 would cover 1 - 112/1024 = 89.1%
  EXPECT_EQ(median_interval_rank(12, 0.9), 3);  // 1 - 158/4096 = 96.1%; j = 4: 85.4%
  EXPECT_EQ(median_interval_rank(15, 0.9), 4);  // 1 - 1152/32768 = 96.5%; j = 5: 88.2%
  EXPECT_EQ(median_interval_rank(10, 0.5), 4);  // 1 - 352/1024 = 65.6%; j = 5: 24.6%
}

TEST(CalibrateStatistics, MedianAndItsUncertainty) {
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);
  EXPECT_TRUE(std::isnan(median({})));
  // Five rounds: the interval is [min, max] = [95, 110] around the median 100.
  EXPECT_DOUBLE_EQ(median_uncertainty({110, 95, 100, 103, 97}), 0.075);
  // Ten rounds: the 2nd and 9th smallest (one outlier on each side does not widen it).
  EXPECT_DOUBLE_EQ(median_uncertainty({50, 98, 99, 100, 100, 100, 100, 101, 102, 400}), 0.02);
  EXPECT_TRUE(std::isinf(median_uncertainty({1, 1, 1, 1})));
  const std::optional<Interval> five = median_interval({110, 95, 100, 103, 97});
  ASSERT_TRUE(five);
  EXPECT_EQ(five->low, 95);
  EXPECT_EQ(five->high, 110);
  EXPECT_FALSE(median_interval({1, 2, 3, 4}));
}

// A miss is "within noise" when the prediction lies inside the measured median's 90% interval: the
// observations cannot tell the law's error from their own scatter. It stays a miss.
TEST(CalibrateValidation, MissesInsideTheMedianIntervalAreMarkedWithinNoise) {
  auto row = [](double predicted, std::optional<Interval> interval) {
    ValidationRow r;
    r.measured = {LoadOperation{"sllm", Tier::kSsd, 1'000'000'000}, 1.0};
    r.observations = interval ? 7 : 1;
    r.interval = interval;
    r.predicted = predicted;
    r.relative_error = std::abs(predicted - 1.0);
    r.target = 0.05;
    return r;
  };
  const std::vector<ValidationRow> rows = {row(1.08, Interval{0.90, 1.10}), row(1.08, Interval{0.98, 1.02}),
                                           row(1.08, std::nullopt), row(1.02, Interval{0.90, 1.10})};
  EXPECT_TRUE(rows[0].within_noise());
  EXPECT_FALSE(rows[0].ok());
  EXPECT_FALSE(rows[1].within_noise());  // outside a tight interval: the law misses
  EXPECT_FALSE(rows[2].within_noise());  // no interval from one observation
  EXPECT_FALSE(rows[3].within_noise());  // not a miss at all
  std::ostringstream text, markdown;
  print_validation(rows, text);
  print_validation_markdown(rows, markdown);
  EXPECT_NE(text.str().find("MISSED (within noise)"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("3 missed (1 within noise)"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("widest +-  10.0%"), std::string::npos) << text.str();
  EXPECT_NE(markdown.str().find("| load sllm ssd | 4 | 8.00% | 6.50% | 5% | 10.0% | 3 | 1 |"), std::string::npos) << markdown.str();
}

// Rows repeating one operation (a load in rounds) are one point at their median; distinct operations
// stay apart, in order of first appearance.
TEST(CalibrateMeasurements, RepeatedRowsAreOnePointAtTheirMedian) {
  const LoadOperation ssd{"sllm", Tier::kSsd, 1'000'000'000};
  const std::vector<Measurement> rows = {
      {ssd, 0.50}, {LoadOperation{"sllm", Tier::kDram, 1'000'000'000}, 0.10},
      {ssd, 0.90}, {ssd, 0.52},
      {LoadOperation{"torch", Tier::kSsd, 1'000'000'000}, 0.70}, {LoadOperation{"sllm", Tier::kSsd, 2'000'000'000}, 1.00},
      {PrefillOperation{"tiny-opt", 8, 64}, 0.001}};
  const std::vector<MeasuredPoint> points = measured_points(rows);
  ASSERT_EQ(points.size(), 5u);
  EXPECT_EQ(points[0].median.operation, Operation{ssd});
  EXPECT_DOUBLE_EQ(points[0].median.seconds, 0.52);
  EXPECT_EQ(points[0].observations, (std::vector<double>{0.50, 0.90, 0.52}));
  EXPECT_EQ(std::get<LoadOperation>(points[1].median.operation).tier, Tier::kDram);
  EXPECT_EQ(std::get<LoadOperation>(points[2].median.operation).mode, "torch");
  EXPECT_EQ(std::get<LoadOperation>(points[3].median.operation).bytes, 2'000'000'000u);
  EXPECT_TRUE(std::holds_alternative<PrefillOperation>(points[4].median.operation));
  EXPECT_EQ(points[4].observations.size(), 1u);
}

// A law fitted from rounds follows their medians: one slow round in five (a disk stall) at every size
// moves it no more than the 1% noise does; a least-squares fit over the rounds would be 8% slow.
TEST(CalibrateFit, LoadLawFromRoundsIgnoresAStalledRound) {
  const double overhead = 0.010, bandwidth = 2e9;
  Noise noise{7, 0.01};
  std::vector<Measurement> rows;
  for (int round = 0; round < 5; ++round) {
    for (double gib : {0.25, 1.0, 2.0, 4.0}) {
      const auto bytes = static_cast<std::uint64_t>(gib * (1ull << 30));
      const double stall = round == 2 ? 1.4 : 1.0;
      rows.push_back({LoadOperation{"safetensors", Tier::kSsd, bytes},
                      (overhead + static_cast<double>(bytes) / bandwidth) * noise() * stall});
    }
  }
  Profile p;
  fit_profile(rows, p);
  const LoadLaw& law = *p.loader.at("safetensors").ssd;
  EXPECT_NEAR(law.bandwidth / bandwidth, 1.0, 0.015);
  EXPECT_NEAR(to_seconds(law.overhead), overhead, 0.006);
  EXPECT_EQ(law.fit.points, 4);  // points, not rounds
}

// fit_profile groups measurements per law: known laws in, the same laws out.
TEST(CalibrateFit, ProfileFromMeasurementsHasEveryLaw) {
  std::vector<Measurement> ms;
  for (std::uint64_t mib : {64, 256, 1024}) {
    const std::uint64_t b = mib * 1048576;
    ms.push_back({LoadOperation{"sllm", Tier::kSsd, b}, 0.01 + static_cast<double>(b) / 5e9});
    ms.push_back({LoadOperation{"sllm", Tier::kDram, b}, 0.002 + static_cast<double>(b) / 20e9});
  }
  for (std::uint64_t l : {8, 32, 128}) {
    const double x = static_cast<double>(l);
    ms.push_back({PrefillOperation{"tiny-opt", l, l * l}, 1e-4 + 1e-6 * x + 1e-9 * x * x});
  }
  for (std::uint64_t b : {1, 2, 4}) {
    for (std::uint64_t c : {16, 256}) {
      ms.push_back({DecodeOperation{"tiny-opt", b, b * c}, 2e-4 + 1e-5 * static_cast<double>(b) + 1e-8 * static_cast<double>(b * c)});
    }
  }
  for (std::uint64_t n : {10, 100, 1000}) ms.push_back({RecomputeOperation{"tiny-opt", n, 0}, 1e-3 + 2e-6 * static_cast<double>(n)});
  for (std::uint64_t n : {3, 5}) ms.push_back({PauseOperation{"tiny-opt", n, 200}, 1e-3 + 2e-6 * static_cast<double>(n) + 4e-4});
  Profile p;
  fit_profile(ms, p);
  ASSERT_TRUE(p.loader.count("sllm"));
  ASSERT_TRUE(p.loader["sllm"].ssd && p.loader["sllm"].dram);
  EXPECT_NEAR(p.loader["sllm"].ssd->bandwidth / 5e9, 1.0, 1e-6);
  EXPECT_NEAR(to_seconds(p.loader["sllm"].dram->overhead), 0.002, 1e-8);
  ASSERT_EQ(p.engine.size(), 1u);
  ASSERT_EQ(p.engine[0].decode.size(), 1u);
  EXPECT_NEAR(p.engine[0].decode[0].d2 / 1e-8, 1.0, 1e-6);
  EXPECT_NEAR(p.engine[0].decode[0].d3, 0.0, 1e-12);
  ASSERT_EQ(p.migration.size(), 1u);
  EXPECT_NEAR(p.migration[0].a / 2e-6, 1.0, 1e-6);
  EXPECT_NEAR(p.migration[0].b / 1e-3, 1.0, 1e-6);
  EXPECT_NEAR(p.migration[0].handoff, 4e-4, 1e-9);
  EXPECT_EQ(p.migration[0].pause_fit.points, 2);
}

void expect_close(double fitted, double committed, const std::string& what) {
  EXPECT_NEAR(fitted, committed, 1e-9 * std::max(std::abs(committed), 1e-300)) << what;
}

// Every committed profile that names its measurements holds the laws the current fit makes from them: a
// change of the fits (or of the profile format) must come with refitted profiles (`sllmsim calibrate
// refit`). Relative 1e-9: the GPU build's compiler flags may move the last bits.
TEST(CalibrateCommittedProfiles, MatchARefitOfTheirMeasurements) {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(SLLM_SOURCE_DIR) + "/configs/profiles")) {
    if (entry.path().extension() != ".yaml") continue;
    const Profile committed = read_profile(entry.path().string());
    if (committed.measurements.empty()) continue;
    SCOPED_TRACE(entry.path().filename().string());
    Profile refit = committed;
    fit_profile(read_measurements((entry.path().parent_path() / committed.measurements).string()), refit);
    ASSERT_EQ(refit.loader.size(), committed.loader.size());
    for (const auto& [mode, lm] : committed.loader) {
      for (const auto& [tier, law, again] : {std::tuple{"ssd", lm.ssd, refit.loader.at(mode).ssd},
                                              std::tuple{"dram", lm.dram, refit.loader.at(mode).dram}}) {
        ASSERT_EQ(law.has_value(), again.has_value()) << mode << " " << tier;
        if (!law) continue;
        expect_close(again->bandwidth, law->bandwidth, mode + " " + tier);
        EXPECT_NEAR(static_cast<double>(again->overhead), static_cast<double>(law->overhead), 1.0) << mode << " " << tier;
      }
    }
    ASSERT_EQ(refit.engine.size(), committed.engine.size());
    for (std::size_t i = 0; i < committed.engine.size(); ++i) {
      const EngineProfile &e = committed.engine[i], &f = refit.engine[i];
      EXPECT_EQ(f.model, e.model);
      expect_close(f.c0, e.c0, e.model + " c0");
      expect_close(f.c1, e.c1, e.model + " c1");
      expect_close(f.c2, e.c2, e.model + " c2");
      ASSERT_EQ(f.decode.size(), e.decode.size()) << e.model;
      for (std::size_t j = 0; j < e.decode.size(); ++j) {
        EXPECT_EQ(f.decode[j].max_batch, e.decode[j].max_batch) << e.model;
        expect_close(f.decode[j].d0, e.decode[j].d0, e.model + " d0");
        expect_close(f.decode[j].d1, e.decode[j].d1, e.model + " d1");
        expect_close(f.decode[j].d2, e.decode[j].d2, e.model + " d2");
        expect_close(f.decode[j].d3, e.decode[j].d3, e.model + " d3");
      }
    }
    ASSERT_EQ(refit.migration.size(), committed.migration.size());
    for (std::size_t i = 0; i < committed.migration.size(); ++i) {
      const MigrationProfile &m = committed.migration[i], &n = refit.migration[i];
      expect_close(n.a, m.a, m.model + " a");
      expect_close(n.b, m.b, m.model + " b");
      expect_close(n.c, m.c, m.model + " c");
      expect_close(n.d, m.d, m.model + " d");
      expect_close(n.handoff, m.handoff, m.model + " handoff");
    }
    ++checked;
  }
  EXPECT_GE(checked, 1);
}

}  // namespace
}  // namespace sllm::calibrate
