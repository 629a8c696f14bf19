// From a trace file to the simulator's request stream: read (readers.h), select a time window, map trace
// functions/rows to deployed model indices, attach token lengths, scale the rate. Also the factory the
// scenario config calls for `workload.kind: trace` (keys documented in docs/traces.md).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sllm/core/random.h"
#include "sllm/core/request.h"
#include "sllm/core/units.h"
#include "sllm/traces/formats.h"
#include "sllm/traces/input.h"
#include "sllm/traces/readers.h"
#include "sllm/traces/token_lengths.h"

namespace sllm {
class ConfigNode;
}

namespace sllm::traces {

// Which deployed model a trace request goes to (the paper deploys many checkpoints of one model type and
// drives each with one trace function).
enum class ModelMapping {
  rank,         // functions by popularity in the selected window: most requests -> model 0, next -> 1, ...
  first_seen,   // functions in order of first appearance in the file -> 0, 1, ...
  round_robin,  // ignore functions: the n-th request -> model n mod models
  trace,        // the trace's own model index (canonical format), checked against the model count
};
// The largest replayed arrival: 2^62 ns (about 146 years) leaves the simulator's int64 clock headroom
// for the latencies it adds. A later (scaled) arrival is an InputError naming the trace row.
inline constexpr Nanos kMaxReplayedArrival = Nanos{1} << 62;
// When a trace has more functions than deployed models (rank, first_seen):
enum class ExtraFunctions {
  wrap,  // function number i -> model i mod models
  drop,  // only the first `models` functions are replayed; the others' requests are dropped (counted)
};

enum class LengthsKind {
  trace,    // the trace's token columns (Azure LLM, BurstGPT, canonical)
  csv,      // pairs from a CSV with header "input_tokens,output_tokens"
  sampler,  // a preset (gsm8k, sharegpt), fixed or uniform lengths from token_lengths.h
  none,     // zero tokens: only for `trace inspect` of formats without token columns
};
enum class LengthsOrder {
  sample,  // a seeded uniform draw (with replacement) per request
  cycle,   // the file's rows in order, wrapping around
};

struct LengthsOptions {
  LengthsKind kind = LengthsKind::trace;
  std::string csv_path;
  LengthsOrder order = LengthsOrder::sample;
  std::shared_ptr<const TokenLengthSampler> sampler;  // LengthsKind::sampler
};

struct TraceSourceOptions {
  std::string path;
  // The file opened once (input.h); TraceSource opens `path` when null. Shared by every source built
  // from these options, so a non-seekable input is read only once.
  std::shared_ptr<const TraceInput> input;
  const TraceFormat* format = nullptr;  // a registered format (formats.h); null: detected from the header
  ReaderOptions reader;  // skip_bad_rows, 2019 spreading, seed, reorder window
  ModelMapping mapping = ModelMapping::rank;
  ExtraFunctions extra_functions = ExtraFunctions::wrap;
  // Deployed models; 0 means unlimited: rank and first_seen give each function its own index.
  std::uint32_t model_count = 0;
  LengthsOptions lengths;
  // Window on the trace's clock (readers.h): requests with start <= arrival < start + duration.
  Nanos start = 0;
  std::optional<Nanos> duration;
  // Arrival times are (arrival - start) / rate_scale: 2 replays the window twice as fast (twice the rate).
  double rate_scale = 1.0;
  std::uint64_t seed = 0;  // token-length sampling (the reader's spreading uses reader.seed)
};

// Requests with dense ids from 0 in arrival order. Construction reads the lengths CSV and, for rank
// mapping, makes one streaming pass over the trace to count requests per function. options() has the
// input and format resolved.
class TraceSource final : public RequestSource {
 public:
  explicit TraceSource(TraceSourceOptions options);
  ~TraceSource() override;
  bool next(RequestSpec& out) override;

  const TraceSourceOptions& options() const { return options_; }
  std::uint64_t skipped_rows() const;            // bad rows skipped (skip_bad_rows)
  const std::string& first_skip_reason() const;  // the first one's error, empty when none
  std::uint64_t dropped_requests() const { return dropped_; }  // ExtraFunctions::drop
  // Print "trace FILE: skipped N bad rows (first: ...)" on stderr when the stream ends, for callers that
  // only see a RequestSource (the simulator). The CLI reports itself instead.
  void report_skips_at_end(bool on) { report_skips_ = on; }

 private:
  std::uint32_t model_of(const TraceRecord& record);
  Nanos replayed_arrival(Nanos offset, const TraceRecord& record) const;
  void attach_lengths(const TraceRecord& record, RequestSpec& out);

  TraceSourceOptions options_;
  std::unique_ptr<TraceReader> reader_;
  std::vector<std::uint32_t> rank_of_key_;  // rank mapping: function -> popularity rank
  std::vector<std::uint32_t> csv_inputs_, csv_outputs_;
  std::uint64_t csv_cursor_ = 0;
  Rng lengths_rng_;
  std::uint64_t next_id_ = 0;
  std::uint64_t rows_seen_ = 0;  // in the window, for round_robin
  std::uint64_t dropped_ = 0;
  bool done_ = false;
  bool report_skips_ = false;
};

// Reads a `workload` section of kind `trace` (the one parser of these keys: `sllmsim trace` turns its
// flags into such a section):
//   kind: trace
//   format: NAME of a registered format (formats.h) | auto
//   path: FILE                 (relative to the config file's directory)
//   mapping: rank | first-seen | round-robin | trace   or {by: ..., extra_functions: wrap | drop}
//            (default by: trace for formats whose keys are model indices, else rank)
//   lengths: trace | gsm8k | sharegpt   or {kind: csv, path: FILE, order: sample | cycle}
//            or any other token_lengths.h form: {kind: fixed, input: 128, output: 64}, {kind: uniform, ...}
//   rate_scale: 1.0          (1e-6 .. 1e6)
//   start: 0 s
//   duration: 1 h              (absent: to the end of the trace)
//   skip_bad_rows: false
//   spread: poisson | uniform  (Azure Functions 2019)
//   reorder_window: 60 s
// Unknown keys and bad values are InputErrors located in the config. The trace file is opened here, once
// (options.input). With `lengths_optional` (`sllmsim trace inspect`), a format without token columns and
// no `lengths` key gives LengthsKind::none instead of an error.
TraceSourceOptions trace_source_options(const ConfigNode& workload, std::uint32_t model_count, std::uint64_t seed,
                                        bool lengths_optional = false);

// The scenario config's entry point for `workload.kind: trace` (also registered as the workload kind
// "trace", traces/src/trace_workload.cpp). The source reports skipped bad rows on stderr when it ends.
std::unique_ptr<RequestSource> make_trace_source(const ConfigNode& workload, std::uint32_t model_count,
                                                 std::uint64_t seed);

}  // namespace sllm::traces
