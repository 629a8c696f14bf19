// Trace formats are a registry: a format defined and registered in this one file (only the public
// headers: formats.h, input.h) is found by name, recognised by `format: auto`, and replayed through the
// normal `workload: {kind: trace}` config and the library calls `sllmsim trace` makes.
#include <gtest/gtest.h>

#include <charconv>
#include <map>
#include <stdexcept>

#include "sim_test_util.h"
#include "sllm/core/config_node.h"
#include "sllm/core/error.h"
#include "sllm/core/workload.h"
#include "sllm/traces/formats.h"
#include "sllm/traces/inspect.h"
#include "sllm/traces/mapping.h"
#include "trace_test_util.h"

namespace sllm::traces {
namespace {

using testing::drain;
using testing::input_error;
using testing::ScratchDir;

// A test-only format: "ms|tenant|in|out" rows under the header "#pipe-trace ms|tenant|in|out", arrival
// in integer milliseconds, tenants as function keys in order of first appearance. Rows are sorted (a
// real format would use a reorder window; this one rejects an out-of-order row).
class PipeReader final : public TraceReader {
 public:
  PipeReader(std::shared_ptr<const TraceInput> input, const ReaderOptions& options)
      : TraceReader(input->path()), options_(options) {
    char buffer[4096];
    std::uint64_t offset = 0;
    while (const std::size_t got = input->read_at(buffer, sizeof buffer, offset)) {
      text_.append(buffer, got);
      offset += got;
    }
    next_line();  // the header (checked by matches_header)
  }

  bool next(TraceRecord& out) override {
    for (;;) {
      std::string_view line = next_line();
      if (line.data() == nullptr) return false;
      if (line.empty()) continue;
      std::uint64_t v[3] = {};
      std::string_view tenant;
      bool ok = true;
      for (int field = 0; field < 4 && ok; ++field) {
        const std::size_t bar = line.find('|');
        const std::string_view f = line.substr(0, bar);
        line = bar == std::string_view::npos ? std::string_view() : line.substr(bar + 1);
        if (field == 1) {
          tenant = f;
          ok = !f.empty();
        } else {
          auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v[field == 0 ? 0 : field - 1]);
          ok = ec == std::errc() && end == f.data() + f.size();
        }
      }
      const Nanos arrival = static_cast<Nanos>(v[0]) * kNanosPerMilli;
      if (!ok || arrival < last_) {
        bad_row(options_.skip_bad_rows, path_ + ":" + std::to_string(line_), "not a sorted ms|tenant|in|out row");
        continue;
      }
      last_ = arrival;
      out = TraceRecord{};
      out.arrival = arrival;
      auto [it, added] = tenants_.emplace(std::string(tenant), static_cast<std::uint32_t>(tenants_.size()));
      out.key = it->second;
      out.input_tokens = static_cast<std::uint32_t>(v[1]);
      out.output_tokens = static_cast<std::uint32_t>(v[2]);
      out.line = line_;
      return true;
    }
  }

 private:
  std::string_view next_line() {
    if (pos_ >= text_.size()) return {};
    const std::size_t nl = text_.find('\n', pos_);
    const std::size_t stop = nl == std::string::npos ? text_.size() : nl;
    const std::string_view line(text_.data() + pos_, stop - pos_);
    pos_ = stop + 1;
    ++line_;
    return line;
  }

  ReaderOptions options_;
  std::string text_;
  std::size_t pos_ = 0;
  std::uint64_t line_ = 0;
  Nanos last_ = 0;
  std::map<std::string, std::uint32_t> tenants_;
};

class PipeFormat final : public TraceFormat {
 public:
  std::string_view name() const override { return "test-pipe"; }
  std::string_view summary() const override { return "test only: ms|tenant|in|out"; }
  std::string header() const override { return "#pipe-trace ms|tenant|in|out"; }
  bool matches_header(std::string_view first_line) const override { return first_line == header(); }
  bool has_token_lengths() const override { return true; }
  std::unique_ptr<TraceReader> open(std::shared_ptr<const TraceInput> input,
                                    const ReaderOptions& options) const override {
    return std::make_unique<PipeReader>(std::move(input), options);
  }
};

SLLM_REGISTER_TRACE_FORMAT(PipeFormat);

// Two formats claiming the same header: `format: auto` must refuse to guess.
template <int N>
class GreedyFormat final : public TraceFormat {
 public:
  std::string_view name() const override { return N == 1 ? "test-greedy-1" : "test-greedy-2"; }
  std::string_view summary() const override { return "test only"; }
  std::string header() const override { return "greedy"; }
  bool matches_header(std::string_view first_line) const override { return first_line == "greedy"; }
  bool has_token_lengths() const override { return false; }
  std::unique_ptr<TraceReader> open(std::shared_ptr<const TraceInput>, const ReaderOptions&) const override {
    throw std::logic_error("not read in this test");
  }
};
SLLM_REGISTER_TRACE_FORMAT(GreedyFormat<1>);
SLLM_REGISTER_TRACE_FORMAT(GreedyFormat<2>);

// Three tenants; bob has the most requests (3), then alice (2), then carol (1).
const char* const kPipe =
    "#pipe-trace ms|tenant|in|out\n"
    "0|alice|10|1\n"
    "250|bob|20|2\n"
    "500|bob|30|3\n"
    "1000|carol|40|4\n"
    "1500|alice|50|5\n"
    "2000|bob|60|6\n";

TEST(TraceFormatRegistry, ATestFormatIsFoundByNameAndByItsHeader) {
  ScratchDir dir;
  EXPECT_EQ(trace_format("test-pipe").name(), "test-pipe");
  bool listed = false;
  for (const TraceFormat* f : trace_formats()) listed |= f->name() == "test-pipe";
  EXPECT_TRUE(listed);
  EXPECT_EQ(detect_trace_format(dir.write("t.txt", kPipe)).name(), "test-pipe");
  // The built-in formats are registered the same way.
  EXPECT_EQ(detect_trace_format(dir.write("llm.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n")).name(), "azure-llm");
  // An unknown name lists every registered one, the test format among them.
  try {
    trace_format("nope");
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'test-pipe'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'canonical'"), std::string::npos) << e.what();
  }
}

TEST(TraceFormatRegistry, DuplicateNamesAndAmbiguousHeadersAreRefused) {
  static const PipeFormat again;
  EXPECT_THROW(register_trace_format(again), std::logic_error);
  ScratchDir dir;
  const std::string message = input_error([&] { detect_trace_format(dir.write("g.txt", "greedy\n1\n")); });
  EXPECT_NE(message.find("several trace formats ('test-greedy-1', 'test-greedy-2')"), std::string::npos) << message;
}

TEST(TraceFormatRegistry, ReplayedThroughTheWorkloadConfig) {
  ScratchDir dir;
  dir.write("t.txt", kPipe);
  for (const std::string format : {"test-pipe", "auto"}) {
    const auto cfg = dir.write("c.yaml", "workload: {kind: trace, format: " + format +
                                             ", path: t.txt, rate_scale: 2}\n");
    const ConfigNode workload = ConfigNode::load_file(cfg).child("workload");
    const auto kind = WorkloadRegistry::instance().create("trace", ConfigNode::load_string("{}", "<test>"),
                                                          workload.child("kind"));
    const Workload w = kind->build(workload, 2, 1);
    auto source = w.make_source();
    const auto requests = drain(*source);
    ASSERT_EQ(requests.size(), 6u) << format;
    // Rank mapping (the default for a format whose keys are not model indices): bob -> 0, alice -> 1,
    // carol -> 2, wrapped onto 2 models -> 0. Arrivals halved by rate_scale 2.
    const std::uint32_t models[] = {1, 0, 0, 0, 1, 0};
    const Nanos arrivals_ms[] = {0, 125, 250, 500, 750, 1000};
    for (std::size_t i = 0; i < requests.size(); ++i) {
      EXPECT_EQ(requests[i].id, i);
      EXPECT_EQ(requests[i].model, models[i]) << i;
      EXPECT_EQ(requests[i].arrival, arrivals_ms[i] * kNanosPerMilli) << i;
      EXPECT_EQ(requests[i].input_tokens, 10u * (i + 1)) << i;
      EXPECT_EQ(requests[i].output_tokens, i + 1) << i;
    }
  }
}

// What `sllmsim trace inspect|convert` does, as library calls: flags become a workload section, read by
// trace_source_options; statistics of the stream; the canonical CSV, read back as canonical.
TEST(TraceFormatRegistry, InspectedAndConvertedLikeTheCommandLine) {
  ScratchDir dir;
  const std::string path = dir.write("t.txt", kPipe);
  ConfigNode flags = ConfigNode::load_string("kind: trace", "command line");
  flags.apply_override("path=\"" + path + "\"");
  flags.apply_override("format=\"test-pipe\"");
  flags.apply_override("mapping.by=\"first-seen\"");
  const TraceSourceOptions o = trace_source_options(flags, 0, 1, /*lengths_optional=*/true);
  EXPECT_EQ(o.format->name(), "test-pipe");

  TraceSource source(o);
  TraceStatistics stats;
  const auto requests = drain(source);
  for (const auto& r : requests) stats.add(r);
  const TraceSummary s = stats.summary();
  EXPECT_EQ(s.requests, 6u);
  EXPECT_DOUBLE_EQ(s.duration_s, 2.0);
  EXPECT_DOUBLE_EQ(s.mean_rate, 5.0 / 2.0);
  EXPECT_EQ(s.models, 3u);  // first-seen without a model count: alice 0, bob 1, carol 2
  EXPECT_EQ(stats.input_tokens().max(), 60u);

  const std::string out = dir.file("out.csv");
  CanonicalCsvWriter writer(out);
  for (const auto& r : requests) writer.write(r);
  writer.commit();
  EXPECT_EQ(sllm::testing::read_text(out),
            "id,arrival_s,model,input_tokens,output_tokens\n"
            "0,0.000000000,0,10,1\n"
            "1,0.250000000,1,20,2\n"
            "2,0.500000000,1,30,3\n"
            "3,1.000000000,2,40,4\n"
            "4,1.500000000,0,50,5\n"
            "5,2.000000000,1,60,6\n");
  EXPECT_EQ(detect_trace_format(out).name(), "canonical");
}

}  // namespace
}  // namespace sllm::traces
