// Synthetic workloads and token-length presets against their defining statistics, and the closed-form
// decode sums against brute-force step-by-step sums.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "sllm/sim/cost_model.h"
#include "sllm/core/random.h"
#include "sllm/traces/synthetic.h"
#include "sllm/traces/token_lengths.h"

namespace sllm {
namespace {

using sllm::RequestSpec;

TEST(Random, GammaMeanAndCv) {
  for (const double cv : {0.5, 1.0, 2.0}) {
    Rng rng(11, 1);
    const double shape = 1 / (cv * cv), mean = 2.0;
    const int n = 400000;
    double sum = 0, sq = 0;
    for (int i = 0; i < n; ++i) {
      const double x = rng.gamma(shape, mean / shape);
      sum += x;
      sq += x * x;
    }
    const double m = sum / n, sd = std::sqrt(sq / n - m * m);
    EXPECT_NEAR(m, mean, 0.02 * mean) << cv;
    EXPECT_NEAR(sd / m, cv, 0.04 * cv) << cv;
  }
}

TEST(Synthetic, ArrivalRateBurstinessAndDeterminism) {
  traces::SyntheticSpec spec;
  spec.models = 10;
  spec.rps = 5;
  spec.cv = 2;
  spec.max_requests = 200000;
  spec.seed = 42;
  traces::SyntheticSource a(spec), b(spec);
  RequestSpec ra, rb;
  Nanos prev = 0;
  double sum = 0, sq = 0;
  std::uint64_t n = 0;
  bool same = true;
  while (a.next(ra)) {
    ASSERT_TRUE(b.next(rb));
    same = same && ra.arrival == rb.arrival && ra.model == rb.model && ra.input_tokens == rb.input_tokens;
    EXPECT_EQ(ra.id, n);
    const double gap = to_seconds(ra.arrival - prev);
    prev = ra.arrival;
    sum += gap;
    sq += gap * gap;
    ++n;
  }
  EXPECT_TRUE(same);
  EXPECT_EQ(n, 200000u);
  const double mean = sum / n, cv = std::sqrt(sq / n - mean * mean) / mean;
  EXPECT_NEAR(mean, 0.2, 0.01);
  EXPECT_NEAR(cv, 2.0, 0.1);
  spec.seed = 43;
  traces::SyntheticSource c(spec);
  RequestSpec rc;
  traces::SyntheticSource a2(traces::SyntheticSpec{spec.models, spec.rps, spec.cv, spec.popularity, spec.zipf_s,
                                                   spec.max_requests, 0, nullptr, 42});
  ASSERT_TRUE(c.next(rc));
  ASSERT_TRUE(a2.next(ra));
  EXPECT_NE(rc.arrival, ra.arrival);
}

TEST(Synthetic, ZipfPopularity) {
  traces::SyntheticSpec spec;
  spec.models = 50;
  spec.popularity = traces::Popularity::kZipf;
  spec.zipf_s = 1.0;
  spec.max_requests = 300000;
  traces::SyntheticSource src(spec);
  std::vector<double> count(50, 0);
  RequestSpec r;
  while (src.next(r)) count[r.model] += 1;
  double h = 0;
  for (int k = 1; k <= 50; ++k) h += 1.0 / k;
  for (int k : {0, 1, 4, 49}) {
    const double expected = 300000.0 / (k + 1) / h;
    EXPECT_NEAR(count[k], expected, 5 * std::sqrt(expected) + 1) << k;
  }
}

TEST(Synthetic, DurationEndsTheStream) {
  traces::SyntheticSpec spec;
  spec.rps = 10;
  spec.duration = 100 * kNanosPerSecond;
  traces::SyntheticSource src(spec);
  RequestSpec r;
  std::uint64_t n = 0;
  while (src.next(r)) {
    EXPECT_LT(r.arrival, spec.duration);
    ++n;
  }
  EXPECT_NEAR(static_cast<double>(n), 1000.0, 5 * std::sqrt(1000.0));
}

TEST(TokenLengths, Gsm8kPresetMatchesDatasetStatistics) {
  const auto p = traces::token_length_preset("gsm8k");
  ASSERT_TRUE(p);
  Rng rng(5);
  double in = 0, out = 0;
  std::uint32_t max_in = 0, min_in = 1u << 30;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const auto l = p->sample(rng);
    in += l.input;
    out += l.output;
    max_in = std::max(max_in, l.input);
    min_in = std::min(min_in, l.input);
  }
  // Dataset means (GSM8K test split, words + punctuation): question 53.9, answer 101.2.
  EXPECT_NEAR(in / n, 53.9, 1.5);
  EXPECT_NEAR(out / n, 101.2, 2.5);
  EXPECT_LE(max_in, 181u);
  EXPECT_GE(min_in, 19u);
}

TEST(TokenLengths, ShareGptPresetMeans) {
  const auto p = traces::token_length_preset("sharegpt");
  ASSERT_TRUE(p);
  Rng rng(6);
  double in = 0, out = 0;
  const int n = 400000;
  for (int i = 0; i < n; ++i) {
    const auto l = p->sample(rng);
    in += l.input;
    out += l.output;
    ASSERT_LE(l.input + l.output, 2048u);
  }
  EXPECT_NEAR(in / n, p->mean_input(), 0.02 * p->mean_input());
  EXPECT_NEAR(out / n, p->mean_output(), 0.02 * p->mean_output());
  // The published means (161.31 and 337.99 tokens) are kept despite clipping to the OPT context.
  EXPECT_NEAR(p->mean_input(), 161.31, 0.01);
  EXPECT_NEAR(p->mean_output(), 337.99, 0.01);
  EXPECT_NEAR(in / n, 161.31, 0.02 * 161.31);
  EXPECT_NEAR(out / n, 337.99, 0.02 * 337.99);
  EXPECT_EQ(traces::token_length_preset("alpaca"), nullptr);
}

TEST(DecodeRun, ClosedFormSumEqualsStepByStepSum) {
  Rng rng(9);
  for (int trial = 0; trial < 200; ++trial) {
    StepLaw law;
    law.lines = 1 + static_cast<int>(rng.uniform_int(0, 3));
    for (int i = 0; i < law.lines; ++i) {
      law.base[i] = rng.uniform() * 0.05;
      law.per_context_token[i] = rng.uniform() * 1e-5;
    }
    const double c0 = static_cast<double>(rng.uniform_int(1, 5000));
    const auto batch = static_cast<std::uint32_t>(rng.uniform_int(1, 64));
    const DecodeRun run(law, c0, batch);
    double brute = 0;
    for (std::uint64_t k = 0; k <= 600; ++k) {
      if (k % 37 == 0 || k == 600) {
        ASSERT_NEAR(run.cumulative(k), brute, 1e-9 * (1 + brute)) << "trial " << trial << " k " << k;
      }
      brute += law.at(c0 + static_cast<double>(batch) * static_cast<double>(k));
    }
    // steps_within inverts cumulative on the nanosecond grid.
    for (std::uint64_t k : {0ull, 1ull, 17ull, 300ull}) {
      const Nanos t = from_seconds(run.cumulative(k));
      EXPECT_EQ(run.steps_within(t, 600), k);
      if (k > 0) {
        EXPECT_EQ(run.steps_within(t - 1, 600), k - 1);
      }
    }
  }
}

}  // namespace
}  // namespace sllm
