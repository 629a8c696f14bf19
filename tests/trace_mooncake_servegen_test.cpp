// The Mooncake (JSON Lines) and Alibaba ServeGen (client window) trace formats: records against
// hand-computed values, error locations (file:line:column and the field), detection, and ServeGen's
// arrival generation against its definition (counts per window, windows, inter-arrival CV of the pattern).
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "cli_test_util.h"
#include "sllm/core/error.h"
#include "sllm/traces/formats.h"
#include "sllm/traces/readers.h"
#include "trace_test_util.h"

namespace sllm::traces {
namespace {

using testing::input_error;
using testing::ScratchDir;

std::vector<TraceRecord> read_all(const std::string& path, const std::string& format,
                                  const ReaderOptions& options = {}) {
  auto reader = open_trace_reader(path, trace_format(format), options);
  std::vector<TraceRecord> out;
  TraceRecord r;
  while (reader->next(r)) out.push_back(r);
  return out;
}

constexpr Nanos kMs = 1'000'000;

// --- Mooncake -------------------------------------------------------------------------------------

TEST(MooncakeReader, MillisecondTimestampsLengthsAndHashIds) {
  ScratchDir dir;
  const auto path = dir.write("m.jsonl",
                              R"({"timestamp": 0, "input_length": 6755, "output_length": 500, "hash_ids": [0, 1, 2]})"
                              "\n"
                              R"({"timestamp": 27482, "input_length": 6955, "output_length": 52, "hash_ids": [46, 47]})"
                              "\r\n\n"  // CRLF, then a blank line
                              R"({"hash_ids":[],"output_length":1,"input_length":2,"timestamp":30535.25,"session_id":"s"})");
  const auto rows = read_all(path, "mooncake");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].arrival, 0);
  EXPECT_EQ(rows[1].arrival, 27482 * kMs);
  EXPECT_EQ(rows[2].arrival, 30535 * kMs + 250'000);  // fractional milliseconds kept
  EXPECT_EQ(rows[0].input_tokens, 6755u);
  EXPECT_EQ(rows[0].output_tokens, 500u);
  EXPECT_EQ(rows[2].input_tokens, 2u);
  EXPECT_EQ(rows[2].output_tokens, 1u);
  EXPECT_EQ(rows[2].line, 4u);
  for (const auto& r : rows) EXPECT_EQ(r.key, 0u);
}

TEST(MooncakeReader, ReorderWindowAppliesAsToCsvRows) {
  ScratchDir dir;
  const auto path = dir.write("m.jsonl",
                              "{\"timestamp\": 2000, \"input_length\": 1, \"output_length\": 1}\n"
                              "{\"timestamp\": 1000, \"input_length\": 2, \"output_length\": 2}\n");
  const auto rows = read_all(path, "mooncake");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].arrival, 1000 * kMs);
  EXPECT_EQ(rows[0].input_tokens, 2u);
}

TEST(MooncakeReader, ErrorsNameFileLineColumnAndField) {
  ScratchDir dir;
  auto error_of = [&](const std::string& line) {
    const auto path = dir.write("bad.jsonl", "{\"timestamp\": 0, \"input_length\": 1, \"output_length\": 1}\n" + line);
    return input_error([&] { read_all(path, "mooncake"); });
  };
  // Syntax: the byte where parsing failed (the second comma is byte 36, 1-based).
  EXPECT_NE(error_of(R"({"timestamp": 5, "input_length": 1,, "output_length": 1})").find("bad.jsonl:2:36: row: invalid JSON"),
            std::string::npos)
      << error_of(R"({"timestamp": 5, "input_length": 1,, "output_length": 1})");
  // A wrong value points at its key.
  const std::string negative = error_of(R"({"timestamp": 5, "input_length": -3, "output_length": 1})");
  EXPECT_NE(negative.find("bad.jsonl:2:18: input_length: expected a token count"), std::string::npos) << negative;
  const std::string big = error_of(R"({"timestamp": 5, "input_length": 3, "output_length": 4294967296})");
  EXPECT_NE(big.find(":2:37: output_length: expected a token count (integer 0..4294967295), got 4294967296"),
            std::string::npos)
      << big;
  const std::string text = error_of(R"({"timestamp": "5", "input_length": 3, "output_length": 4})");
  EXPECT_NE(text.find(":2:2: timestamp: expected milliseconds (a non-negative number), got a string"),
            std::string::npos)
      << text;
  const std::string hashes = error_of(R"({"timestamp": 5, "input_length": 3, "output_length": 4, "hash_ids": [1, "x"]})");
  EXPECT_NE(hashes.find(":2:57: hash_ids: expected non-negative integer block hashes, got a string"),
            std::string::npos)
      << hashes;
  const std::string fraction = error_of(R"({"timestamp": 5, "input_length": 3, "output_length": 4, "hash_ids": [1.5]})");
  EXPECT_NE(fraction.find("hash_ids: expected non-negative integer block hashes, got 1.5"), std::string::npos)
      << fraction;
  const std::string duplicate = error_of(R"({"timestamp": 5, "timestamp": 6, "input_length": 3, "output_length": 4})");
  EXPECT_NE(duplicate.find(":2:2: timestamp: duplicate key"), std::string::npos) << duplicate;
  const std::string missing = error_of(R"({"timestamp": 5, "input_length": 3})");
  EXPECT_NE(missing.find(":2:36: output_length: missing key"), std::string::npos) << missing;
  const std::string array = error_of("[1, 2]");
  EXPECT_NE(array.find(":2:1: row: expected a JSON object per line, got an array"), std::string::npos) << array;
}

TEST(MooncakeReader, SkipBadRowsKeepsTheGoodOnes) {
  ScratchDir dir;
  const auto path = dir.write("m.jsonl",
                              "{\"timestamp\": 0, \"input_length\": 1, \"output_length\": 1}\n"
                              "not json\n"
                              "{\"timestamp\": 1, \"input_length\": 2, \"output_length\": 2}\n");
  ReaderOptions options;
  options.skip_bad_rows = true;
  auto reader = open_trace_reader(path, trace_format("mooncake"), options);
  TraceRecord r;
  int n = 0;
  while (reader->next(r)) ++n;
  EXPECT_EQ(n, 2);
  EXPECT_EQ(reader->skipped_rows(), 1u);
  EXPECT_NE(reader->first_skip_reason().find("m.jsonl:2:"), std::string::npos) << reader->first_skip_reason();
}

// --- ServeGen -------------------------------------------------------------------------------------

TEST(ServeGenReader, WindowsYieldTheirRateInsideThemAndNothingWhenEmpty) {
  ScratchDir dir;
  // Rates 0.5, 0 (no pattern), 2 req/s; 600 s windows; the last lasts as long as the one before it.
  const auto path = dir.write("chunk-7-trace.csv",
                              "0,0.5,1.2,Weibull,0.8,1.0\n"
                              "600,0,0,,0,0\n"
                              "1200,2,0.9,Gamma,1.5,0.3\n");
  ReaderOptions options;
  options.seed = 11;
  const auto rows = read_all(path, "servegen", options);
  std::vector<int> per_window(3, 0);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    ASSERT_LT(rows[i].arrival, 1800 * kNanosPerSecond);
    if (i > 0) {
      EXPECT_LE(rows[i - 1].arrival, rows[i].arrival);
    }
    const auto w = static_cast<std::size_t>(rows[i].arrival / (600 * kNanosPerSecond));
    ++per_window[w];
    EXPECT_EQ(rows[i].line, w + 1);
    EXPECT_EQ(rows[i].key, 0u);
    EXPECT_EQ(rows[i].input_tokens, 0u);
  }
  // ceil(rate x 600) draws scaled to fill the window: the last lands on its end (dropped) or, by
  // rounding, just before it.
  EXPECT_GE(per_window[0], 299);
  EXPECT_LE(per_window[0], 300);
  EXPECT_EQ(per_window[1], 0);
  EXPECT_GE(per_window[2], 1199);
  EXPECT_LE(per_window[2], 1200);
  // The same seed gives the same arrivals; another seed others.
  const auto again = read_all(path, "servegen", options);
  ASSERT_EQ(again.size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(again[i].arrival, rows[i].arrival);
  options.seed = 12;
  const auto other = read_all(path, "servegen", options);
  EXPECT_NE(other[5].arrival, rows[5].arrival);
}

// Inter-arrival CV within one long window against the pattern's closed form: Gamma(k): 1/sqrt(k);
// Weibull(c): sqrt(G(1+2/c)/G(1+1/c)^2 - 1). Scaling by a constant does not change a CV.
double window_cv(const std::vector<TraceRecord>& rows) {
  std::vector<double> gaps;
  for (std::size_t i = 1; i < rows.size(); ++i) gaps.push_back(static_cast<double>(rows[i].arrival - rows[i - 1].arrival));
  const double mean = std::accumulate(gaps.begin(), gaps.end(), 0.0) / static_cast<double>(gaps.size());
  double var = 0;
  for (double g : gaps) var += (g - mean) * (g - mean);
  return std::sqrt(var / static_cast<double>(gaps.size())) / mean;
}

TEST(ServeGenReader, InterArrivalsFollowThePattern) {
  ScratchDir dir;
  const auto gamma = read_all(dir.write("g.csv", "0,50,0.5,Gamma,4,0.005\n"), "servegen");
  ASSERT_GE(gamma.size(), 29'999u);  // one 600 s window (the default for a single row), 50 req/s
  EXPECT_NEAR(window_cv(gamma), 0.5, 0.02);
  const double c = 0.5;
  const double expected = std::sqrt(std::tgamma(1 + 2 / c) / std::pow(std::tgamma(1 + 1 / c), 2) - 1);  // sqrt(5)
  const auto weibull = read_all(dir.write("w.csv", "0,50,2.2,Weibull,0.5,1\n"), "servegen");
  EXPECT_NEAR(window_cv(weibull), expected, 0.1 * expected);
}

TEST(ServeGenReader, BadRowsNameTheColumn) {
  ScratchDir dir;
  auto error_of = [&](const std::string& text) {
    return input_error([&] { read_all(dir.write("c.csv", text), "servegen"); });
  };
  EXPECT_NE(error_of("0,1,1,Weibull,1,1\n600,1,1,Poisson,1,1\n").find("c.csv:2:9: pattern: expected Gamma, Weibull or empty, got 'Poisson'"),
            std::string::npos);
  EXPECT_NE(error_of("0,1,1,Gamma,1,1\n0,1,1,Gamma,1,1\n").find("c.csv:2:1: start: window starts must increase"),
            std::string::npos);
  EXPECT_NE(error_of("0,-1,1,Gamma,1,1\n").find("c.csv:1:3: rate: expected a non-negative number, got '-1'"),
            std::string::npos);
  EXPECT_NE(error_of("0,1,1,Gamma,0,1\n").find("c.csv:1:13: shape: expected a positive shape"), std::string::npos);
  // Found when the window starts (after the next row is read): still located in its own row.
  const std::string busy = error_of("0,20000,1,Gamma,1,1\n600,1.0,1,Gamma,1,1\n");
  EXPECT_NE(busy.find("c.csv:1:3: rate: 12000000 requests in one window is above the limit of 10000000"),
            std::string::npos)
      << busy;
  EXPECT_NE(error_of("0,1,1,Gamma\n").find("c.csv:1:12: row: expected 6 comma-separated fields"), std::string::npos)
      << error_of("0,1,1,Gamma\n");
}

// --- Command line ---------------------------------------------------------------------------------

// `sllmsim trace convert` of a Mooncake file (format auto) gives the canonical CSV of its requests: the
// milliseconds as seconds, the lengths as they were, in time order; a ServeGen file converts with a
// lengths source and keeps its arrivals; a bad line exits with status 2 and names its place.
TEST(TraceCli, MooncakeAndServeGenConvertAndInspect) {
  ScratchDir dir;
  const auto m = dir.write("m.jsonl",
                           "{\"timestamp\": 30535, \"input_length\": 6472, \"output_length\": 26, \"hash_ids\": [46]}\n"
                           "{\"timestamp\": 27482, \"input_length\": 6955, \"output_length\": 52, \"hash_ids\": [46, 47]}\n");
  const auto out = dir.file("m.csv");
  const auto r = sllm::testing::run_sllmsim("trace convert " + m + " -o " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  const auto rows = read_all(out, "canonical");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].arrival, 27482 * kMs);
  EXPECT_EQ(rows[0].input_tokens, 6955u);
  EXPECT_EQ(rows[1].arrival, 30535 * kMs);
  EXPECT_EQ(rows[1].output_tokens, 26u);
  const auto inspect = sllm::testing::run_sllmsim("trace inspect " + m);
  EXPECT_EQ(inspect.status, 0) << inspect.output;
  EXPECT_NE(inspect.output.find("(mooncake)"), std::string::npos) << inspect.output;

  const auto s = dir.write("chunk-1-trace.csv", "0,0.1,1,Gamma,1,10\n600,0,0,,0,0\n");
  ReaderOptions options;
  options.seed = 3;
  const auto direct = read_all(s, "servegen", options);
  const auto sr = sllm::testing::run_sllmsim("trace convert " + s + " --seed 3 --lengths '{kind: fixed, input: 7, output: 5}' -o " +
                                       dir.file("s.csv"));
  ASSERT_EQ(sr.status, 0) << sr.output;
  const auto converted = read_all(dir.file("s.csv"), "canonical");
  ASSERT_EQ(converted.size(), direct.size());
  for (std::size_t i = 0; i < direct.size(); ++i) {
    EXPECT_EQ(converted[i].arrival, direct[i].arrival);  // window start 0: the trace's own clock
    EXPECT_EQ(converted[i].input_tokens, 7u);
  }

  const auto bad = dir.write("bad.jsonl", "{\"timestamp\": 1, \"input_length\": x}\n");
  const auto br = sllm::testing::run_sllmsim("trace inspect " + bad + " --format mooncake");
  EXPECT_EQ(br.status, 2) << br.output;
  EXPECT_NE(br.output.find("bad.jsonl:1:"), std::string::npos) << br.output;
}

// --- Detection ------------------------------------------------------------------------------------

TEST(TraceFormats, MooncakeAndServeGenAreDetected) {
  ScratchDir dir;
  EXPECT_EQ(detect_trace_format(
                dir.write("m", R"({"timestamp": 0, "input_length": 655, "output_length": 52, "hash_ids": [46, 47]})"
                               "\n"))
                .name(),
            "mooncake");
  EXPECT_EQ(detect_trace_format(dir.write("s", "0,1.33,8.59,Weibull,0.375,0.397\n600,0,0,,0,0\n")).name(), "servegen");
  // A JSON object without the three lengths is no Mooncake trace.
  EXPECT_NE(input_error([&] { detect_trace_format(dir.write("x", "{\"timestamp\": 0}\n")); }).find("unrecognised"),
            std::string::npos);
}

}  // namespace
}  // namespace sllm::traces
