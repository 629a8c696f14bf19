// Fits recover known coefficients from synthetic measurements with noise; measurement files round-trip.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>

#include "sllm/calibrate/calibration.h"
#include "sllm/calibrate/fit.h"
#include "sllm/sim/error.h"

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
  EXPECT_NEAR(e.prefill_fit.r2, 1.0, 1e-12);
  EXPECT_LT(e.prefill_fit.max_relative_error, 1e-9);
}

TEST(CalibrateFit, DecodeAndMigrationRecoverCoefficientsUnderNoise) {
  Noise noise{7, 0.02};
  EngineProfile e;
  std::vector<double> batch, context, seconds;
  for (double b : {1.0, 2.0, 4.0, 8.0, 16.0}) {
    for (double l : {64.0, 256.0, 1024.0, 2048.0}) {
      batch.push_back(b);
      context.push_back(b * l);
      seconds.push_back((8e-3 + 0.15e-3 * b + 40e-9 * b * l) * noise());
    }
  }
  fit_decode(batch, context, seconds, e);
  EXPECT_NEAR(e.d0 / 8e-3, 1.0, 0.03);
  EXPECT_NEAR(e.d1 / 0.15e-3, 1.0, 0.25);  // the smallest term: loosest
  EXPECT_NEAR(e.d2 / 40e-9, 1.0, 0.05);

  MigrationProfile m;
  std::vector<double> n, t;
  for (double k : {10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0}) {
    n.push_back(k);
    t.push_back((5e-3 + 30e-6 * k) * noise());
  }
  fit_migration(n, t, m);
  EXPECT_NEAR(m.a / 30e-6, 1.0, 0.03);
  EXPECT_NEAR(m.b / 5e-3, 1.0, 0.05);
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
  const std::vector<Measurement> rows = {{"load", "", "sllm", "ssd", 1073741824.0, 0, 0.123456789012345678},
                                         {"decode", "tiny-opt", "", "", 4, 520, 1.0 / 3.0}};
  const std::string path = (dir / "m.csv").string();
  write_measurements(rows, path);
  const auto back = read_measurements(path);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].kind, "load");
  EXPECT_EQ(back[0].tier, "ssd");
  EXPECT_EQ(back[0].x0, 1073741824.0);
  EXPECT_EQ(back[0].seconds, 0.123456789012345678);
  EXPECT_EQ(back[1].model, "tiny-opt");
  EXPECT_EQ(back[1].seconds, 1.0 / 3.0);

  std::ofstream(dir / "bad.csv") << "kind,model,mode,tier,x0,x1,seconds\nload,,sllm,tape,1,0,1\n";
  try {
    read_measurements((dir / "bad.csv").string());
    FAIL() << "a bad tier was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

// fit_profile groups measurements per law: known laws in, the same laws out.
TEST(CalibrateFit, ProfileFromMeasurementsHasEveryLaw) {
  std::vector<Measurement> ms;
  for (double mib : {64.0, 256.0, 1024.0}) {
    const double b = mib * 1048576;
    ms.push_back({"load", "", "sllm", "ssd", b, 0, 0.01 + b / 5e9});
    ms.push_back({"load", "", "sllm", "dram", b, 0, 0.002 + b / 20e9});
  }
  for (double l : {8.0, 32.0, 128.0}) ms.push_back({"prefill", "tiny-opt", "", "", l, l * l, 1e-4 + 1e-6 * l + 1e-9 * l * l});
  for (double b : {1.0, 2.0, 4.0}) {
    for (double c : {16.0, 256.0}) ms.push_back({"decode", "tiny-opt", "", "", b, b * c, 2e-4 + 1e-5 * b + 1e-8 * b * c});
  }
  for (double n : {10.0, 100.0, 1000.0}) ms.push_back({"recompute", "tiny-opt", "", "", n, 0, 1e-3 + 2e-6 * n});
  Profile p;
  fit_profile(ms, p);
  ASSERT_TRUE(p.loader.count("sllm"));
  ASSERT_TRUE(p.loader["sllm"].ssd && p.loader["sllm"].dram);
  EXPECT_NEAR(p.loader["sllm"].ssd->bandwidth / 5e9, 1.0, 1e-6);
  EXPECT_NEAR(to_seconds(p.loader["sllm"].dram->overhead), 0.002, 1e-8);
  ASSERT_EQ(p.engine.size(), 1u);
  EXPECT_NEAR(p.engine[0].d2 / 1e-8, 1.0, 1e-6);
  ASSERT_EQ(p.migration.size(), 1u);
  EXPECT_NEAR(p.migration[0].a / 2e-6, 1.0, 1e-6);
  EXPECT_NEAR(p.migration[0].b / 1e-3, 1.0, 1e-6);
}

}  // namespace
}  // namespace sllm::calibrate
