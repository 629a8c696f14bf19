// Trace inputs the readers used to mishandle: arrivals scaled past the nanosecond clock, non-seekable
// inputs (/dev/stdin, pipes), absurd per-minute invocation counts, and workloads with no requests.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

#include "sim_test_util.h"
#include "sllm/core/config_node.h"
#include "sllm/core/error.h"
#include "sllm/traces/formats.h"
#include "sllm/traces/mapping.h"
#include "trace_test_util.h"

namespace sllm::traces {
namespace {

using testing::drain;
using testing::input_error;
using testing::ScratchDir;

struct Cli {
  int status;
  std::string out, err;
};

// Runs `sllmsim ARGS` through the shell (so ARGS may redirect stdin or start a pipe into it).
Cli sllmsim(const ScratchDir& dir, const std::string& args, const std::string& stdin_from = "") {
  const std::string out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
  const std::string feed = stdin_from.empty() ? "" : "cat '" + stdin_from + "' | ";
  const int rc = std::system((feed + std::string(SLLM_BINARY) + " " + args + " >" + out + " 2>" + err).c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, sllm::testing::read_text(out), sllm::testing::read_text(err)};
}

// A canonical trace spanning 100 days (8.64e6 s): at rate_scale 1e-6 its last arrival would be
// 8.64e12 s = 8.64e21 ns, far beyond int64 nanoseconds (9.2e18).
const char* const kLong =
    "id,arrival_s,model,input_tokens,output_tokens\n"
    "0,0,0,10,1\n"
    "1,1,0,10,1\n"
    "2,8640000,0,10,1\n";

// --- arrivals scaled past the clock ------------------------------------------------------------------

TEST(TraceRateScale, ConvertRangeChecksTheFlagLikeTheConfig) {
  ScratchDir dir;
  const auto trace = dir.write("long.csv", kLong);
  const auto out = dir.file("out.csv");
  // The config accepts 1e-6..1e6; the flag used to accept any positive number.
  const Cli tiny = sllmsim(dir, "trace convert " + trace + " -o " + out + " --rate-scale 1e-9");
  EXPECT_EQ(tiny.status, 2) << tiny.err;
  EXPECT_NE(tiny.err.find("rate_scale: value 1e-9 is out of range [1e-06, 1e+06]"), std::string::npos) << tiny.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(TraceRateScale, ConvertOfALongTraceFailsOnTheRowThatLeavesTheClock) {
  ScratchDir dir;
  const auto trace = dir.write("long.csv", kLong);
  const auto out = dir.file("out.csv");
  const Cli r = sllmsim(dir, "trace convert " + trace + " -o " + out + " --rate-scale 1e-6");
  EXPECT_EQ(r.status, 2) << r.out;
  // Row 2 (line 3): 1 s / 1e-6 = 1e6 s fits; row 3 (line 4) does not.
  EXPECT_NE(r.err.find(trace + ":4: arrival 8640000 s after the window start, divided by rate_scale 1e-06"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));  // nothing half-written
}

TEST(TraceRateScale, ConfigRateScaleOnALongTraceIsAnInputErrorNamingTheRow) {
  ScratchDir dir;
  dir.write("long.csv", kLong);
  const auto cfg = dir.write("c.yaml", "workload: {kind: trace, path: long.csv, rate_scale: 1.0e-6}\n");
  auto source = make_trace_source(ConfigNode::load_file(cfg).child("workload"), 1, 1);
  RequestSpec r;
  ASSERT_TRUE(source->next(r));
  ASSERT_TRUE(source->next(r));
  EXPECT_EQ(r.arrival, 1'000'000 * kNanosPerSecond);  // 1 s / 1e-6
  const std::string message = input_error([&] { source->next(r); });
  EXPECT_EQ(message.rfind(dir.file("long.csv") + ":4: ", 0), 0u) << message;
  EXPECT_NE(message.find("beyond the simulator's clock"), std::string::npos) << message;
}

TEST(TraceRateScale, TheLimitIsTwoToTheSixtyTwoNanoseconds) {
  ScratchDir dir;
  // 2^62 ns = 4611686018.427387904 s: the last representable arrival is accepted, one ns more is not.
  const auto at_limit = dir.write("a.csv",
                                  "id,arrival_s,model,input_tokens,output_tokens\n"
                                  "0,4611686018.427387904,0,1,1\n");
  const auto past = dir.write("b.csv",
                              "id,arrival_s,model,input_tokens,output_tokens\n"
                              "0,4611686018.427387905,0,1,1\n");
  TraceSourceOptions o;
  o.path = at_limit;
  o.mapping = ModelMapping::trace;
  TraceSource ok(o);
  const auto requests = drain(ok);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].arrival, Nanos{1} << 62);
  o.path = past;
  TraceSource bad(o);
  EXPECT_EQ(input_error([&] { drain(bad); }).rfind(past + ":2: ", 0), 0u);
}

// --- non-seekable inputs --------------------------------------------------------------------------

TEST(TraceStdin, InspectReadsStdinOnce) {
  ScratchDir dir;
  const auto trace = dir.write("c.csv",
                               "id,arrival_s,model,input_tokens,output_tokens\n"
                               "0,0,0,10,1\n1,1,1,20,2\n2,2,0,30,3\n3,3,1,40,4\n");
  // Format detected from stdin's header, then the same bytes replayed.
  const Cli r = sllmsim(dir, "trace inspect /dev/stdin", trace);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("(canonical)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("requests         4\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("duration         3.000 s"), std::string::npos) << r.out;
}

TEST(TraceStdin, RankMappingAndAzureFunctions2019ReadAPipeOnce) {
  ScratchDir dir;
  // Rank mapping counts requests per function in a first pass, then replays: two passes over one pipe.
  // f2 has 3 invocations, f1 1: rank gives f2 model 0 and f1 model 1, 2 distinct indices.
  const auto f21 = dir.write("f21.csv",
                             "app,func,end_timestamp,duration\n"
                             "a,f1,1.0,0.5\n"
                             "a,f2,2.0,0.5\n"
                             "a,f2,3.0,0.5\n"
                             "a,f2,4.0,0.5\n");
  const Cli r21 = sllmsim(dir, "trace convert /dev/stdin -o " + dir.file("f21_out.csv") + " --lengths gsm8k", f21);
  ASSERT_EQ(r21.status, 0) << r21.err;
  const auto rows = sllm::testing::read_csv(dir.file("f21_out.csv"));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].at("model"), "1");  // f1
  EXPECT_EQ(rows[1].at("model"), "0");  // f2
  EXPECT_EQ(rows[0].at("arrival_s"), "0.500000000");
  // The 2019 reader reads each function's row through its own cursor (random access).
  const auto f19 = dir.write("f19.csv",
                             "HashOwner,HashApp,HashFunction,Trigger,1,2\n"
                             "o,a,f1,http,2,1\n"
                             "o,a,f2,http,0,3\n");
  const Cli r19 = sllmsim(dir, "trace inspect /dev/stdin", f19);
  ASSERT_EQ(r19.status, 0) << r19.err;
  EXPECT_NE(r19.out.find("(azure-functions-2019)"), std::string::npos) << r19.out;
  EXPECT_NE(r19.out.find("requests         6\n"), std::string::npos) << r19.out;
  EXPECT_NE(r19.out.find("models           2 distinct indices"), std::string::npos) << r19.out;
}

TEST(TraceStdin, TraceInputOfAFifoIsReadableAgainFromTheStart) {
  ScratchDir dir;
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string text = "id,arrival_s,model,input_tokens,output_tokens\n0,0.5,0,1,2\n";
  const int rc = std::system(("printf '%s' '" + text + "' > " + fifo + " &").c_str());
  ASSERT_EQ(rc, 0);
  const auto input = TraceInput::open(fifo);
  EXPECT_TRUE(input->copied());
  for (int pass = 0; pass < 2; ++pass) {
    std::string back(text.size() + 8, '\0');
    back.resize(input->read_at(back.data(), back.size(), 0));
    EXPECT_EQ(back, text) << pass;
  }
  EXPECT_EQ(detect_trace_format(*input).name(), "canonical");
}

// --- per-cell invocation counts ----------------------------------------------------------------------

TEST(TraceCellLimit, AFunctionMinuteAboveTenMillionIsAnInputErrorNamingTheCell) {
  ScratchDir dir;
  const auto path = dir.write("f19.csv",
                              "HashOwner,HashApp,HashFunction,Trigger,1,2\n"
                              "o,a,f1,http,2,1\n"
                              "o,a,f2,http,0,4000000000\n");
  const ReaderOptions strict;
  // Line 3, column 15: the second minute's cell follows "o,a,f2,http,0," (14 characters).
  EXPECT_EQ(input_error([&] { open_trace_reader(path, trace_format("azure-functions-2019"), strict); }),
            path + ":3:15: minute 2: invocation count 4000000000 is above the limit of 10000000 per "
                   "function-minute (docs/traces.md); is the cell corrupt?");
  // Skippable like any bad row: the rest of the file replays.
  ReaderOptions skip;
  skip.skip_bad_rows = true;
  auto reader = open_trace_reader(path, trace_format("azure-functions-2019"), skip);
  std::uint64_t n = 0;
  TraceRecord r;
  while (reader->next(r)) ++n;
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(reader->skipped_rows(), 1u);
  // The limit itself is accepted (the arrivals are not drained).
  const auto at_limit = dir.write("ok.csv",
                                  "HashOwner,HashApp,HashFunction,Trigger,1\n"
                                  "o,a,f1,http,10000000\n");
  auto fine = open_trace_reader(at_limit, trace_format("azure-functions-2019"), strict);
  ASSERT_TRUE(fine->next(r));
  EXPECT_LT(r.arrival, 60 * kNanosPerSecond);  // inside minute 1
}

// --- empty workloads ---------------------------------------------------------------------------------

TEST(TraceEmpty, RunOfAWorkloadWithNoRequestsExitsTwo) {
  ScratchDir dir;
  const auto trace = dir.write("c.csv", "id,arrival_s,model,input_tokens,output_tokens\n0,1,0,10,1\n");
  const std::string config = std::string(SLLM_SOURCE_DIR) + "/configs/default.yaml";
  // The window [5 s, 6 s) holds no request.
  const Cli r = sllmsim(dir, "run -q -c " + config + " --set 'workload={kind: trace, path: \"" + trace +
                                 "\", start: 5 s, duration: 1 s}'");
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("the workload produced no requests"), std::string::npos) << r.err;
  // The same trace with its request in the window runs.
  const Cli ok = sllmsim(dir, "run -q -c " + config + " --set 'workload={kind: trace, path: \"" + trace + "\"}'");
  EXPECT_EQ(ok.status, 0) << ok.err;
}

TEST(TraceEmpty, ConvertOfAnEmptyWindowFailsAndWritesNothingInspectWarns) {
  ScratchDir dir;
  const auto trace = dir.write("c.csv", "id,arrival_s,model,input_tokens,output_tokens\n0,1,0,10,1\n");
  const auto out = dir.file("out.csv");
  const Cli convert = sllmsim(dir, "trace convert " + trace + " -o " + out + " --start '5 s'");
  EXPECT_EQ(convert.status, 2) << convert.out;
  EXPECT_NE(convert.err.find("no requests to convert"), std::string::npos) << convert.err;
  EXPECT_FALSE(std::filesystem::exists(out));
  const Cli inspect = sllmsim(dir, "trace inspect " + trace + " --start '5 s'");
  EXPECT_EQ(inspect.status, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("requests         0\n"), std::string::npos) << inspect.out;
  EXPECT_NE(inspect.err.find("warning: " + trace + ": no requests"), std::string::npos) << inspect.err;
}

}  // namespace
}  // namespace sllm::traces
