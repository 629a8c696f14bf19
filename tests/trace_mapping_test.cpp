// From trace records to the simulator's requests: mapping functions to models (rank, first-seen,
// round-robin, trace), windows and rate scaling, token lengths from a CSV, the config factory, and the
// canonical CSV round trip (library and command line).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <map>

#include "sim_test_util.h"
#include "sllm/core/config_node.h"
#include "sllm/core/error.h"
#include "sllm/core/workload.h"
#include "sllm/traces/inspect.h"
#include "sllm/traces/mapping.h"
#include "trace_test_util.h"

namespace sllm::traces {
namespace {

using testing::drain;
using testing::input_error;
using testing::ScratchDir;
using testing::operator==;

constexpr Nanos kS = kNanosPerSecond;

// Functions A (1 request), B (3), C (2); arrivals at 1..6 s.
const char* const kFunctions =
    "app,func,end_timestamp,duration\n"
    "A,x,1,0\n"
    "B,x,2,0\n"
    "B,x,3,0\n"
    "C,x,4,0\n"
    "B,x,5,0\n"
    "C,x,6,0\n";

struct Fixture {
  ScratchDir dir;
  std::string trace = dir.write("f21.csv", kFunctions);
  std::string lengths = dir.write("lengths.csv", "input_tokens,output_tokens\n1,2\n3,4\n");

  TraceSourceOptions options(ModelMapping mapping, std::uint32_t models) const {
    TraceSourceOptions o;
    o.path = trace;
    o.format = &trace_format("azure-functions-2021");
    o.mapping = mapping;
    o.model_count = models;
    o.lengths.kind = LengthsKind::csv;
    o.lengths.csv_path = lengths;
    o.lengths.order = LengthsOrder::cycle;
    return o;
  }
};

std::vector<std::uint32_t> models_of(const std::vector<RequestSpec>& rs) {
  std::vector<std::uint32_t> m;
  for (const auto& r : rs) m.push_back(r.model);
  return m;
}

TEST(ModelMapping, RankGivesTheBusiestFunctionModelZero) {
  Fixture f;
  TraceSource unlimited(f.options(ModelMapping::rank, 0));
  EXPECT_EQ(models_of(drain(unlimited)), (std::vector<std::uint32_t>{2, 0, 0, 1, 0, 1}));
  TraceSource wrapped(f.options(ModelMapping::rank, 2));
  EXPECT_EQ(models_of(drain(wrapped)), (std::vector<std::uint32_t>{0, 0, 0, 1, 0, 1}));
  auto o = f.options(ModelMapping::rank, 2);
  o.extra_functions = ExtraFunctions::drop;
  TraceSource dropping(o);
  const auto kept = drain(dropping);
  EXPECT_EQ(models_of(kept), (std::vector<std::uint32_t>{0, 0, 1, 0, 1}));
  EXPECT_EQ(dropping.dropped_requests(), 1u);
  for (std::size_t i = 0; i < kept.size(); ++i) EXPECT_EQ(kept[i].id, i);  // ids stay dense
  EXPECT_EQ(kept[0].arrival, 2 * kS);
}

TEST(ModelMapping, RankOfAzureFunctions2019FromRowTotalsOrTheWindow) {
  // Row totals: f1 = 6, f2 = 0, f3 = 8 invocations -> f3 model 0, f1 model 1.
  ScratchDir dir;
  TraceSourceOptions o;
  o.path = dir.write("f19.csv",
                     "HashOwner,HashApp,HashFunction,Trigger,1,2,3,4,5\n"
                     "o1,a1,f1,http,3,0,1,0,2\n"
                     "o2,a2,f2,timer,0,0,0,0,0\n"
                     "o3,a3,f3,queue,1,5,0,2,0\n");
  o.format = &trace_format("azure-functions-2019");
  o.lengths.kind = LengthsKind::none;
  TraceSource whole(o);
  std::map<std::uint32_t, int> per_model;
  for (const auto& r : drain(whole)) ++per_model[r.model];
  EXPECT_EQ(per_model, (std::map<std::uint32_t, int>{{0, 8}, {1, 6}}));
  // Minute 5 alone: only f1 (2 invocations) is there, so it becomes model 0.
  o.start = 4 * 60 * kS;
  o.duration = 60 * kS;
  TraceSource window(o);
  const auto rs = drain(window);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].model, 0u);
  EXPECT_EQ(rs[1].model, 0u);
}

TEST(ModelMapping, FirstSeenAndRoundRobin) {
  Fixture f;
  TraceSource first_seen(f.options(ModelMapping::first_seen, 2));
  EXPECT_EQ(models_of(drain(first_seen)), (std::vector<std::uint32_t>{0, 1, 1, 0, 1, 0}));
  TraceSource round_robin(f.options(ModelMapping::round_robin, 4));
  EXPECT_EQ(models_of(drain(round_robin)), (std::vector<std::uint32_t>{0, 1, 2, 3, 0, 1}));
  EXPECT_NE(input_error([&] { TraceSource s(f.options(ModelMapping::round_robin, 0)); }).find("number of deployed"),
            std::string::npos);
}

TEST(ModelMapping, TraceIndicesAreCheckedAgainstTheModelCount) {
  ScratchDir dir;
  const auto path = dir.write("c.csv", "id,arrival_s,model,input_tokens,output_tokens\n0,0,1,1,1\n1,1,5,1,1\n");
  TraceSourceOptions o;
  o.path = path;
  o.format = &trace_format("canonical");
  o.mapping = ModelMapping::trace;
  o.model_count = 4;
  TraceSource source(o);
  RequestSpec r;
  EXPECT_TRUE(source.next(r));
  EXPECT_EQ(r.model, 1u);
  EXPECT_EQ(input_error([&] { source.next(r); }),
            path + ":3: model index 5 is out of range: the scenario deploys 4 models");
}

TEST(Scaling, WindowSelectsShiftsAndRanksWithinIt) {
  Fixture f;
  auto o = f.options(ModelMapping::rank, 0);
  o.start = 2 * kS;
  o.duration = 3 * kS;  // [2 s, 5 s): B, B, C
  TraceSource source(o);
  const auto rs = drain(source);
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(models_of(rs), (std::vector<std::uint32_t>{0, 0, 1}));
  EXPECT_EQ(rs[0].arrival, 0);
  EXPECT_EQ(rs[1].arrival, kS);
  EXPECT_EQ(rs[2].arrival, 2 * kS);
}

TEST(Scaling, RateScaleDividesArrivalTimes) {
  Fixture f;
  auto o = f.options(ModelMapping::rank, 0);
  o.rate_scale = 2.0;
  TraceSource faster(o);
  const auto rs = drain(faster);
  ASSERT_EQ(rs.size(), 6u);
  for (std::size_t i = 0; i < rs.size(); ++i) EXPECT_EQ(rs[i].arrival, static_cast<Nanos>(i + 1) * kS / 2);
  o.rate_scale = 0.25;  // stretched: four times the gaps
  TraceSource slower(o);
  EXPECT_EQ(drain(slower).back().arrival, 24 * kS);
}

TEST(Lengths, CycleAndSampleFromACsv) {
  Fixture f;
  TraceSource cycled(f.options(ModelMapping::rank, 0));
  const auto rs = drain(cycled);
  for (std::size_t i = 0; i < rs.size(); ++i) {
    EXPECT_EQ(rs[i].input_tokens, i % 2 == 0 ? 1u : 3u);
    EXPECT_EQ(rs[i].output_tokens, i % 2 == 0 ? 2u : 4u);
  }
  // Sampling: 20,000 requests over 10 pairs: each pair about 2,000 times (sd ~42), reproducible per seed.
  ScratchDir dir;
  std::string lengths = "input_tokens,output_tokens\n";
  for (int i = 0; i < 10; ++i) lengths += std::to_string(100 + i) + "," + std::to_string(i) + "\n";
  std::string trace = "id,arrival_s,model,input_tokens,output_tokens\n";
  for (int i = 0; i < 20000; ++i) trace += std::to_string(i) + "," + std::to_string(i) + ",0,0,0\n";
  TraceSourceOptions o;
  o.path = dir.write("t.csv", trace);
  o.format = &trace_format("canonical");
  o.mapping = ModelMapping::trace;
  o.lengths.kind = LengthsKind::csv;
  o.lengths.csv_path = dir.write("l.csv", lengths);
  o.seed = 5;
  TraceSource a(o), b(o);
  const auto ra = drain(a), rb = drain(b);
  std::vector<int> counts(10, 0);
  for (std::size_t i = 0; i < ra.size(); ++i) {
    ASSERT_EQ(ra[i].input_tokens, 100 + ra[i].output_tokens);  // pairs stay together
    ++counts[ra[i].output_tokens];
    EXPECT_EQ(ra[i].output_tokens, rb[i].output_tokens);
  }
  for (int c : counts) EXPECT_NEAR(c, 2000, 250);
  o.seed = 6;
  TraceSource other(o);
  const auto rc = drain(other);
  int same = 0;
  for (std::size_t i = 0; i < ra.size(); ++i) same += rc[i].output_tokens == ra[i].output_tokens;
  EXPECT_LT(same, 3000);  // about 2,000 by chance
}

TEST(Lengths, FormatsWithoutTokenColumnsNeedAnotherSource) {
  Fixture f;
  auto o = f.options(ModelMapping::rank, 0);
  o.lengths.kind = LengthsKind::trace;
  EXPECT_NE(input_error([&] { TraceSource s(o); }).find("has no token-length columns"), std::string::npos);
  ScratchDir dir;
  o.lengths.kind = LengthsKind::csv;
  o.lengths.csv_path = dir.write("bad.csv", "input_tokens,output_tokens\n1,2\n3,x\n");
  EXPECT_EQ(input_error([&] { TraceSource s(o); }), o.lengths.csv_path + ":3:3: output_tokens: expected a token count, got 'x'");
}

TEST(CanonicalCsv, ConvertThenReadIsTheSameStream) {
  ScratchDir dir;
  const auto llm = dir.write("llm.csv",
                             "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                             "2023-11-16 18:15:46.6805900,374,44\n"
                             "2023-11-16 18:15:46.6805900,1,2\n"
                             "2023-11-16 18:15:50.9951693,396,109\n"
                             "2023-11-16 19:00:00.0000001,10,1\n");
  TraceSourceOptions o;
  o.path = llm;
  o.format = &trace_format("azure-llm");
  o.mapping = ModelMapping::round_robin;
  o.model_count = 3;
  o.rate_scale = 3.0;  // arrivals that are not whole microseconds
  TraceSource original(o);
  const auto expected = drain(original);
  const std::string out = dir.file("out.csv");
  {
    TraceSource again(o);
    CanonicalCsvWriter writer(out);
    RequestSpec r;
    while (again.next(r)) writer.write(r);
    EXPECT_FALSE(std::filesystem::exists(out));  // nothing visible before commit
    writer.commit();
  }
  TraceSourceOptions back;
  back.path = out;
  back.format = &trace_format("canonical");
  back.mapping = ModelMapping::trace;
  TraceSource read(back);
  const auto got = drain(read);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(got[i] == expected[i]) << i;
  EXPECT_EQ(expected[3].arrival, static_cast<Nanos>(std::llround((2653.3194101 * 1e9) / 3.0)));
  // An uncommitted writer leaves no file behind.
  { CanonicalCsvWriter abandoned(dir.file("never.csv")); }
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("never.csv")));
}

TEST(TraceStatistics, HandComputedSummary) {
  TraceStatistics stats;
  const std::uint32_t inputs[] = {10, 20, 30, 40, 5000};
  const Nanos arrivals[] = {0, 1 * kS, 2 * kS, 3 * kS, 7 * kS};  // gaps 1, 1, 1, 4: mean 1.75, sd 1.299
  for (int i = 0; i < 5; ++i) {
    RequestSpec r;
    r.arrival = arrivals[i];
    r.input_tokens = inputs[i];
    r.output_tokens = 1;
    r.model = static_cast<std::uint32_t>(i % 2);
    stats.add(r);
  }
  const auto s = stats.summary();
  EXPECT_EQ(s.requests, 5u);
  EXPECT_DOUBLE_EQ(s.duration_s, 7.0);
  EXPECT_DOUBLE_EQ(s.mean_rate, 4.0 / 7.0);
  EXPECT_NEAR(s.interarrival_cv, std::sqrt(1.6875) / 1.75, 1e-12);
  EXPECT_EQ(s.models, 2u);
  EXPECT_EQ(stats.input_tokens().percentile(0.5), 30u);  // nearest rank 3 of 5
  EXPECT_EQ(stats.input_tokens().percentile(0.9), 5000u);
  EXPECT_EQ(stats.input_tokens().max(), 5000u);
  // Large values: lower edge of a bucket of relative width 2^-10.
  LengthHistogram h;
  h.add(1'000'003);
  h.add(2);
  EXPECT_LE(h.percentile(1.0), 1'000'003u);
  EXPECT_GE(h.percentile(1.0), 1'000'003u - 1'000'003u / 1024);
  EXPECT_EQ(h.percentile(0.5), 2u);
}

// --- The config factory ---------------------------------------------------------------------------

TEST(TraceConfig, BuildsTheSourceWithPathsRelativeToTheConfig) {
  ScratchDir dir;
  std::filesystem::create_directories(dir.path() / "data");
  std::filesystem::create_directories(dir.path() / "configs");
  dir.write("data/f21.csv", kFunctions);
  dir.write("data/lengths.csv", "input_tokens,output_tokens\n7,8\n");
  const auto config = dir.write("configs/replay.yaml",
                                "workload:\n"
                                "  kind: trace\n"
                                "  format: azure-functions-2021\n"
                                "  path: ../data/f21.csv\n"
                                "  mapping: {by: rank, extra_functions: drop}\n"
                                "  lengths: {kind: csv, path: ../data/lengths.csv, order: cycle}\n"
                                "  rate_scale: 2\n"
                                "  start: 1 s\n"
                                "  duration: 4 s\n"
                                "  skip_bad_rows: true\n");
  const ConfigNode root = ConfigNode::load_file(config);
  auto source = make_trace_source(root.child("workload"), 1, 42);
  const auto rs = drain(*source);
  // Window [1 s, 5 s): A B B C; B is busiest -> model 0; the others are dropped with one model.
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].arrival, kS / 2);  // (2 s - 1 s) / 2
  EXPECT_EQ(rs[1].arrival, kS);
  EXPECT_EQ(rs[0].model, 0u);
  EXPECT_EQ(rs[0].input_tokens, 7u);
}

TEST(TraceConfig, ErrorsNameTheConfigLocation) {
  ScratchDir dir;
  dir.write("f21.csv", kFunctions);
  dir.write("llm.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n");
  auto error_of = [&](const std::string& yaml) {
    const auto path = dir.write("c.yaml", yaml);
    return input_error([&] { make_trace_source(ConfigNode::load_file(path).child("workload"), 2, 1); });
  };
  const std::string cfg = dir.file("c.yaml");
  EXPECT_NE(error_of("workload: {kind: trace, path: llm.csv, rate: 2}\n").find("unknown key 'rate'"),
            std::string::npos);
  EXPECT_NE(error_of("workload: {kind: trace, path: llm.csv, format: azure}\n").find(cfg + ":1:48: workload.format: unknown trace format 'azure'"),
            std::string::npos);
  EXPECT_NE(error_of("workload: {kind: trace, path: nope.csv}\n").find("workload.path: file '"), std::string::npos);
  EXPECT_NE(error_of("workload: {kind: trace, path: f21.csv}\n").find("has no token-length columns"),
            std::string::npos);
  EXPECT_NE(error_of("workload: {kind: trace, path: llm.csv, mapping: popular}\n").find("unknown value 'popular'"),
            std::string::npos);
  EXPECT_NE(error_of("workload: {kind: trace, path: llm.csv, duration: 0 s}\n").find("duration must be positive"),
            std::string::npos);
  EXPECT_EQ(error_of("workload: {kind: trace, path: llm.csv}\n"), "");  // format detected from the header
}

TEST(TraceConfig, LengthsFromPresetsAndFixedPairs) {
  ScratchDir dir;
  dir.write("f21.csv", kFunctions);
  auto replay = [&](const std::string& lengths, std::uint64_t seed) {
    const auto cfg = dir.write("c.yaml", "workload: {kind: trace, path: f21.csv, lengths: " + lengths + "}\n");
    auto source = make_trace_source(ConfigNode::load_file(cfg).child("workload"), 3, seed);
    return drain(*source);
  };
  for (const auto& r : replay("{kind: fixed, input: 5, output: 6}", 1)) {
    EXPECT_EQ(r.input_tokens, 5u);
    EXPECT_EQ(r.output_tokens, 6u);
  }
  const auto a = replay("gsm8k", 1), b = replay("gsm8k", 1), c = replay("gsm8k", 2);
  ASSERT_EQ(a.size(), 6u);
  int same_as_other_seed = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(a[i] == b[i]);
    same_as_other_seed += a[i].input_tokens == c[i].input_tokens;
    // GSM8K test split extremes: questions 19..181 tokens, answers 25..304 (token_lengths.h).
    EXPECT_GE(a[i].input_tokens, 19u);
    EXPECT_LE(a[i].input_tokens, 181u);
    EXPECT_GE(a[i].output_tokens, 25u);
    EXPECT_LE(a[i].output_tokens, 304u);
  }
  EXPECT_LT(same_as_other_seed, 6);
}

TEST(TraceConfig, RegisteredAsWorkloadKindAndRebuildsTheSameStream) {
  ScratchDir dir;
  dir.write("llm.csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\n"
            "2023-11-16 18:15:46.6805900,374,44\n"
            "2023-11-16 18:15:47.0,375,45\n"
            "2023-11-16 18:15:48.0,376,46\n");
  const auto cfg = dir.write("c.yaml", "workload: {kind: trace, path: llm.csv, mapping: round-robin}\n");
  const ConfigNode root = ConfigNode::load_file(cfg);
  const ConfigNode workload = root.child("workload");
  const auto kind = WorkloadRegistry::instance().create("trace", ConfigNode::load_string("{}", "<test>"),
                                                        workload.child("kind"));
  const Workload w = kind->build(workload, 2, 1);
  auto first = w.make_source();
  auto second = w.make_source();
  const auto a = drain(*first), b = drain(*second);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i] == b[i]);
  EXPECT_EQ(a[2].model, 0u);  // round-robin over 2 models
  EXPECT_EQ(a[2].arrival, 1'319'410'000);
}

// --- The command line -----------------------------------------------------------------------------

struct Cli {
  int status;
  std::string out, err;
};

Cli sllmsim(const ScratchDir& dir, const std::string& args) {
  const std::string out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
  const int rc = std::system((std::string(SLLM_BINARY) + " " + args + " >" + out + " 2>" + err).c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, sllm::testing::read_text(out), sllm::testing::read_text(err)};
}

TEST(TraceCli, InspectPrintsHandComputedStatistics) {
  ScratchDir dir;
  const auto path = dir.write("c.csv",
                              "id,arrival_s,model,input_tokens,output_tokens\n"
                              "0,0,0,10,1\n1,1,1,20,2\n2,2,0,30,3\n3,3,1,40,4\n");
  const Cli r = sllmsim(dir, "trace inspect " + path);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("requests         4\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("duration         3.000 s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mean rate        1.0000 req/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("burstiness (CV)  0.0000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("input tokens     p50 20  p90 40  p99 40  max 40  mean 25.0"), std::string::npos) << r.out;
}

TEST(TraceCli, BadRowsExitTwoOrAreCounted) {
  ScratchDir dir;
  const auto path = dir.write("c.csv", "id,arrival_s,model,input_tokens,output_tokens\n0,0,0,10,1\n1,x,1,20,2\n");
  const Cli bad = sllmsim(dir, "trace inspect " + path + " --format canonical");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find(path + ":3:3: arrival_s: expected non-negative seconds"), std::string::npos) << bad.err;
  const Cli skipped = sllmsim(dir, "trace inspect " + path + " --skip-bad-rows");
  EXPECT_EQ(skipped.status, 0) << skipped.err;
  EXPECT_NE(skipped.out.find("requests         1\n"), std::string::npos) << skipped.out;
  EXPECT_NE(skipped.out.find("skipped rows     1 (first: " + path + ":3:3"), std::string::npos) << skipped.out;
  EXPECT_EQ(sllmsim(dir, "trace inspect " + path + " --mapping nope").status, 2);
  EXPECT_EQ(sllmsim(dir, "trace convert " + path).status, 2);  // no -o
}

TEST(TraceCli, ConvertWritesTheCanonicalCsvOfTheSameStream) {
  ScratchDir dir;
  const auto trace = dir.write("f21.csv", kFunctions);
  const auto lengths = dir.write("l.csv", "input_tokens,output_tokens\n1,2\n3,4\n5,6\n");
  const auto out = dir.file("out.csv");
  const Cli r = sllmsim(dir, "trace convert " + trace + " -o " + out + " --lengths csv:" + lengths +
                                 " --models 2 --rate-scale 4 --seed 9");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("wrote 6 requests"), std::string::npos);
  TraceSourceOptions o;
  o.path = trace;
  o.format = &trace_format("azure-functions-2021");
  o.model_count = 2;
  o.lengths.kind = LengthsKind::csv;
  o.lengths.csv_path = lengths;
  o.rate_scale = 4;
  o.seed = o.reader.seed = 9;
  TraceSource direct(o);
  TraceSourceOptions back;
  back.path = out;
  back.format = &trace_format("canonical");
  back.mapping = ModelMapping::trace;
  TraceSource read(back);
  const auto a = drain(direct), b = drain(read);
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(b.size(), a.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i] == b[i]) << i;
}

}  // namespace
}  // namespace sllm::traces
