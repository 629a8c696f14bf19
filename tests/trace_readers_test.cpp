// Parsers of every trace format against hand-computed records, their error locations, skipping of bad
// rows, reordering, and the Azure Functions 2019 spreading (counts conserved, reproducible per seed).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "sim_test_util.h"
#include "sllm/core/error.h"
#include "sllm/traces/formats.h"
#include "sllm/traces/readers.h"
#include "trace_test_util.h"

namespace sllm::traces {
namespace {

using testing::input_error;
using testing::ScratchDir;

std::vector<TraceRecord> read_all(const std::string& path, const TraceFormat& format,
                                  const ReaderOptions& options = {}) {
  auto reader = open_trace_reader(path, format, options);
  std::vector<TraceRecord> out;
  TraceRecord r;
  while (reader->next(r)) out.push_back(r);
  return out;
}

constexpr Nanos kS = kNanosPerSecond;

TEST(AzureLlmReader, TimestampsBecomeOffsetsFromTheFirstRequest) {
  ScratchDir dir;
  const auto path = dir.write("llm.csv",
                              "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                              "2023-11-16 18:15:46.6805900,374,44\n"
                              "2023-11-16 18:15:50.9951690,396,109\r\n"
                              "2023-11-16 23:59:59.5000000,10,1\n"
                              "2023-11-17 00:00:00.25,20,2");  // no final newline
  const auto rows = read_all(path, trace_format("azure-llm"));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].arrival, 0);
  EXPECT_EQ(rows[1].arrival, 4'314'579'000);  // 50.9951690 - 46.6805900 s
  // 23:59:59.5 - 18:15:46.68059 = 5 h 44 min 12.81941 s, then 0.75 s across midnight.
  EXPECT_EQ(rows[2].arrival, 20'652'819'410'000);
  EXPECT_EQ(rows[3].arrival, 20'653'569'410'000);
  EXPECT_EQ(rows[1].input_tokens, 396u);
  EXPECT_EQ(rows[1].output_tokens, 109u);
  EXPECT_EQ(rows[3].line, 5u);
  for (const auto& r : rows) EXPECT_EQ(r.key, 0u);
}

TEST(AzureLlmReader, TimeZoneSuffixOf2024Trace) {
  ScratchDir dir;
  const auto path = dir.write("llm24.csv",
                              "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                              "2024-05-10 00:00:00.000000+00:00,1,2\n"
                              "2024-05-10 01:00:00.500000+01:00,3,4\n"
                              "2024-05-10T00:00:01Z,5,6\n");
  const auto rows = read_all(path, trace_format("azure-llm"));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].arrival, kS / 2);
  EXPECT_EQ(rows[2].arrival, kS);
}

TEST(AzureLlmReader, MalformedRowsNameFileLineAndColumn) {
  ScratchDir dir;
  const std::string header = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  const std::string good = "2023-11-16 18:15:46.6805900,374,44\n";
  const auto bad_tokens = dir.write("a.csv", header + good + "2023-11-16 18:15:50.9951690,39x6,109\n");
  EXPECT_EQ(input_error([&] { read_all(bad_tokens, trace_format("azure-llm")); }),
            bad_tokens + ":3:29: ContextTokens: expected a token count (integer 0..4294967295), got '39x6'");
  const auto missing = dir.write("b.csv", header + good + "2023-11-16 18:15:50.9951690,396\n");
  EXPECT_EQ(input_error([&] { read_all(missing, trace_format("azure-llm")); }),
            missing + ":3:32: GeneratedTokens: missing: expected 3 comma-separated fields, found 2");
  const auto extra = dir.write("c.csv", header + "2023-11-16 18:15:50.9951690,396,1,7\n");
  EXPECT_EQ(input_error([&] { read_all(extra, trace_format("azure-llm")); }),
            extra + ":2:35: row: unexpected extra field: expected 3 fields, found 4");
  const auto bad_time = dir.write("d.csv", header + good + good + "2023-13-16 18:15:50.9951690,1,1\n");
  EXPECT_EQ(input_error([&] { read_all(bad_time, trace_format("azure-llm")); })
                .rfind(bad_time + ":4:1: TIMESTAMP: ", 0),
            0u);
  const auto too_big = dir.write("e.csv", header + "2023-11-16 18:15:50.9951690,1,4294967296\n");
  EXPECT_NE(input_error([&] { read_all(too_big, trace_format("azure-llm")); }).find(too_big + ":2:31: GeneratedTokens"),
            std::string::npos);
  const auto bad_header = dir.write("f.csv", "TIMESTAMP,Context,GeneratedTokens\n" + good);
  EXPECT_NE(input_error([&] { read_all(bad_header, trace_format("azure-llm")); })
                .find(bad_header + ":1:11: expected header column 2 'ContextTokens'"),
            std::string::npos);
  const auto empty = dir.write("g.csv", "");
  EXPECT_NE(input_error([&] { read_all(empty, trace_format("azure-llm")); }).find("empty file"), std::string::npos);
  EXPECT_NE(input_error([&] { read_all(dir.file("absent.csv"), trace_format("azure-llm")); }).find("cannot open"),
            std::string::npos);
}

TEST(AzureLlmReader, SkipBadRowsCountsThemAndKeepsTheRest) {
  ScratchDir dir;
  const auto path = dir.write("skip.csv",
                              "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                              "2023-11-16 18:00:00.0,1,1\n"
                              "2023-11-16 18:00:01.0,x,1\n"         // bad count
                              "2023-11-16 18:00:02.0,3,3\n"
                              "2023-11-16 18:00:03.0,4\n"           // missing field
                              "\n"                                  // blank lines are ignored
                              "2023-11-16 18:00:04.0,5,5\n"
                              "2023-11-16 17:59:00.0,6,6\n"         // earlier than replayed rows
                              "2023-11-16 18:00:05.0,7,7\n");
  ReaderOptions options;
  options.skip_bad_rows = true;
  options.reorder_window = 0;
  auto reader = open_trace_reader(path, trace_format("azure-llm"), options);
  std::vector<std::uint32_t> inputs;
  TraceRecord r;
  while (reader->next(r)) inputs.push_back(r.input_tokens);
  EXPECT_EQ(inputs, (std::vector<std::uint32_t>{1, 3, 5, 7}));
  EXPECT_EQ(reader->skipped_rows(), 3u);
  EXPECT_EQ(reader->first_skip_reason().rfind(path + ":3:23: ContextTokens: ", 0), 0u);
}

TEST(RowReaders, ReorderWindowSortsNearlySortedRowsAndRejectsLateOnes) {
  ScratchDir dir;
  const auto path = dir.write("late.csv",
                              "id,arrival_s,model,input_tokens,output_tokens\n"
                              "0,10,0,1,1\n"
                              "1,12,1,2,2\n"
                              "2,5,2,3,3\n");
  ReaderOptions wide;
  wide.reorder_window = 60 * kS;
  const auto rows = read_all(path, trace_format("canonical"), wide);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].arrival, 5 * kS);
  EXPECT_EQ(rows[0].key, 2u);
  EXPECT_EQ(rows[1].arrival, 10 * kS);
  EXPECT_EQ(rows[2].arrival, 12 * kS);
  ReaderOptions narrow;
  narrow.reorder_window = kS;
  EXPECT_EQ(input_error([&] { read_all(path, trace_format("canonical"), narrow); })
                .rfind(path + ":4:3: arrival_s: row is 5.000 s earlier than a row already replayed", 0),
            0u);
}

TEST(Functions2021Reader, ArrivalIsEndMinusDurationInTimeOrder) {
  ScratchDir dir;
  const auto path = dir.write("f21.csv",
                              "app,func,end_timestamp,duration\n"
                              "A,f,10.5,0.5\n"
                              "B,g,3.25,1.0\n"
                              "A,f,2.0,1.5\n"
                              "A,h,4.0,0.0005\n"
                              "B,g,0.0005,0.001\n");  // ms-rounded duration: clamped to 0
  const auto rows = read_all(path, trace_format("azure-functions-2021"));
  ASSERT_EQ(rows.size(), 5u);
  const std::vector<Nanos> arrivals{0, kS / 2, 2 * kS + kS / 4, 3'999'500'000, 10 * kS};
  const std::vector<std::uint32_t> keys{1, 0, 1, 2, 0};  // A,f first seen, then B,g, then A,h
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].arrival, arrivals[i]) << i;
    EXPECT_EQ(rows[i].key, keys[i]) << i;
  }
  const auto bad = dir.write("bad21.csv", "app,func,end_timestamp,duration\nA,f,abc,1\n,f,1,1\n");
  EXPECT_EQ(input_error([&] { read_all(bad, trace_format("azure-functions-2021")); }),
            bad + ":2:5: end_timestamp: expected non-negative seconds such as '12.25', got 'abc'");
  ReaderOptions skip;
  skip.skip_bad_rows = true;
  auto reader = open_trace_reader(bad, trace_format("azure-functions-2021"), skip);
  TraceRecord r;
  EXPECT_FALSE(reader->next(r));
  EXPECT_EQ(reader->skipped_rows(), 2u);
}

TEST(BurstGptReader, ModelsAreKeysAndTokenColumnsAreRead) {
  ScratchDir dir;
  const auto path = dir.write("burst.csv",
                              "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                              "5,ChatGPT,472,18,490,Conversation log\n"
                              "7,\"GPT-4\",1000,0,1000,API log\n"
                              "7.5,ChatGPT,10,20,30,Conversation log\n");
  const auto rows = read_all(path, trace_format("burstgpt"));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].arrival, 5 * kS);
  EXPECT_EQ(rows[0].key, 0u);
  EXPECT_EQ(rows[1].key, 1u);
  EXPECT_EQ(rows[2].key, 0u);
  EXPECT_EQ(rows[2].arrival, 7 * kS + kS / 2);
  EXPECT_EQ(rows[0].input_tokens, 472u);
  EXPECT_EQ(rows[0].output_tokens, 18u);
  // Newer releases append columns; they are ignored.
  const auto newer = dir.write("new.csv",
                               "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type,Session ID,"
                               "Elapsed time\n"
                               "5,ChatGPT,472,18,490,Conversation log,s1,2.5\n");
  EXPECT_EQ(detect_trace_format(newer).name(), "burstgpt");
  ASSERT_EQ(read_all(newer, trace_format("burstgpt")).size(), 1u);
  const auto bad = dir.write("bad.csv",
                             "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                             "5,ChatGPT,472,-18,490,Conversation log\n");
  EXPECT_EQ(input_error([&] { read_all(bad, trace_format("burstgpt")); })
                .rfind(bad + ":2:15: Response tokens: expected a token count", 0),
            0u);
}

TEST(CanonicalReader, ReadsExactNanoseconds) {
  ScratchDir dir;
  const auto path = dir.write("c.csv",
                              "id,arrival_s,model,input_tokens,output_tokens\n"
                              "0,0.000000001,3,10,20\n"
                              "1,1.5,0,11,21\n");
  const auto rows = read_all(path, trace_format("canonical"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].arrival, 1);
  EXPECT_EQ(rows[0].key, 3u);
  EXPECT_EQ(rows[1].arrival, 1'500'000'000);
  EXPECT_EQ(rows[1].output_tokens, 21u);
}

TEST(TraceFormats, DetectedFromTheHeader) {
  ScratchDir dir;
  EXPECT_EQ(detect_trace_format(dir.write("1", "TIMESTAMP,ContextTokens,GeneratedTokens\n")).name(), "azure-llm");
  EXPECT_EQ(detect_trace_format(dir.write("2", "HashOwner,HashApp,HashFunction,Trigger,1,2\n")).name(),
            "azure-functions-2019");
  EXPECT_EQ(detect_trace_format(dir.write("3", "app,func,end_timestamp,duration\r\n")).name(),
            "azure-functions-2021");
  EXPECT_EQ(detect_trace_format(
                dir.write("4", "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"))
                .name(),
            "burstgpt");
  EXPECT_EQ(detect_trace_format(dir.write("5", "\xEF\xBB\xBFid,arrival_s,model,input_tokens,output_tokens\n"))
                .name(),
            "canonical");
  EXPECT_NE(input_error([&] { detect_trace_format(dir.write("6", "a,b\n")); }).find("unrecognised header"),
            std::string::npos);
  for (const char* name : {"azure-llm", "azure-functions-2019", "azure-functions-2021", "burstgpt", "canonical"}) {
    EXPECT_EQ(trace_format(name).name(), name);
  }
  EXPECT_THROW(trace_format("azure"), std::invalid_argument);
}

// --- Azure Functions 2019 -----------------------------------------------------------------------

const char* const k2019 =
    "HashOwner,HashApp,HashFunction,Trigger,1,2,3,4,5\n"
    "o1,a1,f1,http,3,0,1,0,2\n"
    "o2,a2,f2,timer,0,0,0,0,0\n"
    "o3,a3,f3,queue,1,5,0,2,0\n";

// (function, minute) -> invocations, straight from k2019.
std::map<std::pair<std::uint32_t, std::int64_t>, int> expected_2019_counts() {
  return {{{0, 0}, 3}, {{0, 2}, 1}, {{0, 4}, 2}, {{2, 0}, 1}, {{2, 1}, 5}, {{2, 3}, 2}};
}

class Functions2019Spread : public ::testing::TestWithParam<MinuteSpread> {};

TEST_P(Functions2019Spread, ConservesPerMinuteCountsInTimeOrder) {
  ScratchDir dir;
  const auto path = dir.write("f19.csv", k2019);
  ReaderOptions options;
  options.spread = GetParam();
  options.seed = 7;
  const auto rows = read_all(path, trace_format("azure-functions-2019"), options);
  std::map<std::pair<std::uint32_t, std::int64_t>, int> counts;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i > 0) {
      EXPECT_LE(rows[i - 1].arrival, rows[i].arrival);
    }
    ++counts[{rows[i].key, rows[i].arrival / (60 * kS)}];
  }
  EXPECT_EQ(counts, expected_2019_counts());
  EXPECT_EQ(rows.size(), 14u);
  // Reproducible per seed; another seed moves the instants but not the counts.
  const auto again = read_all(path, trace_format("azure-functions-2019"), options);
  ASSERT_EQ(again.size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(again[i].arrival, rows[i].arrival);
    EXPECT_EQ(again[i].key, rows[i].key);
  }
  options.seed = 8;
  const auto other = read_all(path, trace_format("azure-functions-2019"), options);
  ASSERT_EQ(other.size(), rows.size());
  int same = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) same += other[i].arrival == rows[i].arrival;
  EXPECT_LT(same, 2);
}

INSTANTIATE_TEST_SUITE_P(BothSpreads, Functions2019Spread,
                         ::testing::Values(MinuteSpread::uniform, MinuteSpread::poisson),
                         [](const ::testing::TestParamInfo<MinuteSpread>& param_info) {
                           return param_info.param == MinuteSpread::uniform ? "uniform" : "poisson";
                         });

TEST(Functions2019Reader, UniformSpreadIsAnEvenComb) {
  ScratchDir dir;
  const auto path = dir.write("f19.csv", k2019);
  ReaderOptions options;
  options.spread = MinuteSpread::uniform;
  std::map<std::pair<std::uint32_t, std::int64_t>, std::vector<Nanos>> by_minute;
  for (const auto& r : read_all(path, trace_format("azure-functions-2019"), options)) {
    by_minute[{r.key, r.arrival / (60 * kS)}].push_back(r.arrival);
  }
  for (const auto& [fm, times] : by_minute) {
    const Nanos spacing = 60 * kS / static_cast<Nanos>(times.size());
    EXPECT_GE(times.front(), fm.second * 60 * kS);
    EXPECT_LT(times.front(), fm.second * 60 * kS + spacing);
    for (std::size_t i = 1; i < times.size(); ++i) EXPECT_NEAR(times[i] - times[i - 1], spacing, 1);
  }
}

TEST(Functions2019Reader, PoissonSpreadLooksLikeUniformInstants) {
  // One function, 60 minutes x 1000 invocations. Conditioned on its count, a Poisson process puts each
  // instant uniformly in the minute: half of them fall in the first half (sd 0.002 here), and gaps are
  // close to exponential (CV near 1). Deterministic for the seed, with wide margins.
  ScratchDir dir;
  std::string text = "HashOwner,HashApp,HashFunction,Trigger";
  for (int m = 1; m <= 60; ++m) text += "," + std::to_string(m);
  text += "\no,a,f,http";
  for (int m = 1; m <= 60; ++m) text += ",1000";
  const auto path = dir.write("p.csv", text + "\n");
  ReaderOptions options;
  options.seed = 3;
  const auto rows = read_all(path, trace_format("azure-functions-2019"), options);
  ASSERT_EQ(rows.size(), 60'000u);
  std::size_t first_half = 0;
  double sum = 0, sum2 = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    first_half += rows[i].arrival % (60 * kS) < 30 * kS;
    if (i > 0) {
      const double gap = to_seconds(rows[i].arrival - rows[i - 1].arrival);
      sum += gap;
      sum2 += gap * gap;
    }
  }
  EXPECT_NEAR(static_cast<double>(first_half) / 60'000.0, 0.5, 0.01);
  const double n = 59'999, mean = sum / n, cv = std::sqrt(sum2 / n - mean * mean) / mean;
  EXPECT_NEAR(mean, 0.06, 0.001);
  EXPECT_NEAR(cv, 1.0, 0.05);
}

TEST(Functions2019Reader, MalformedRows) {
  ScratchDir dir;
  const auto bad = dir.write("bad.csv",
                             "HashOwner,HashApp,HashFunction,Trigger,1,2,3,4,5\n"
                             "o1,a1,f1,http,3,x,1,0,2\n"
                             "o2,a2,f2,http,3,0,1,0\n"
                             "o3,a3,f3,queue,1,5,0,2,0\n");
  EXPECT_EQ(input_error([&] { read_all(bad, trace_format("azure-functions-2019")); }),
            bad + ":2:17: minute 2: expected an invocation count (integer 0..4294967295), got 'x'");
  ReaderOptions skip;
  skip.skip_bad_rows = true;
  auto reader = open_trace_reader(bad, trace_format("azure-functions-2019"), skip);
  EXPECT_EQ(reader->skipped_rows(), 2u);
  std::size_t n = 0;
  TraceRecord r;
  while (reader->next(r)) {
    EXPECT_EQ(r.key, 0u);  // the one good row
    EXPECT_EQ(r.line, 4u);
    ++n;
  }
  EXPECT_EQ(n, 8u);
  const auto bad_header = dir.write("h.csv", "HashOwner,HashApp,HashFunction,Trigger,1,3\n");
  EXPECT_EQ(input_error([&] { read_all(bad_header, trace_format("azure-functions-2019")); }),
            bad_header + ":1:42: expected minute column '2', found '3'");
}

// --- Real traces in ../shared/data (skipped when absent) -------------------------------------------

std::string shared_trace(const std::string& rel) {
  const std::string p = sllm::testing::shared_data_path("traces/" + rel);
  return std::filesystem::exists(p) ? p : "";
}

TEST(SharedData, AzureLlm2023Traces) {
  const auto code = shared_trace("azure-llm-2023/AzureLLMInferenceTrace_code.csv");
  const auto conv = shared_trace("azure-llm-2023/AzureLLMInferenceTrace_conv.csv");
  if (code.empty() || conv.empty()) GTEST_SKIP() << "no ../shared/data/traces/azure-llm-2023 (see docs/traces.md)";
  EXPECT_EQ(detect_trace_format(code).name(), "azure-llm");
  EXPECT_EQ(read_all(code, trace_format("azure-llm")).size(), 8'819u);
  EXPECT_EQ(read_all(conv, trace_format("azure-llm")).size(), 19'366u);
}

TEST(SharedData, AzureFunctionsSamples) {
  const auto f19 = shared_trace("azure-functions-2019-sample/invocations.csv");
  const auto f21 = shared_trace("azure-functions-2021-sample/Azure2021_200.csv");
  if (f19.empty() || f21.empty()) GTEST_SKIP() << "no ../shared/data/traces/azure-functions-*-sample";
  // 4,525 = the sum of the sample's per-minute columns (awk over the file); 199 = its data rows.
  EXPECT_EQ(read_all(f19, trace_format("azure-functions-2019")).size(), 4'525u);
  EXPECT_EQ(read_all(f21, trace_format("azure-functions-2021")).size(), 199u);
}

}  // namespace
}  // namespace sllm::traces
