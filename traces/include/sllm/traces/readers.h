// Streaming readers of real request traces (formats: docs/traces.md). Every reader yields records in
// non-decreasing arrival order with memory bounded independently of the file's length, and reports each
// bad row as an InputError naming file:line:column (or counts it when skipping bad rows). The formats
// themselves (formats.h) are registered by name, one file each in traces/src/formats/.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/core/request.h"
#include "sllm/core/units.h"
#include "sllm/traces/input.h"

namespace sllm::traces {

class TraceFormat;

// How Azure Functions 2019 per-minute counts become arrival instants. Both keep each minute's count
// exactly and are reproducible from the seed.
enum class MinuteSpread {
  uniform,  // n arrivals evenly spaced 60/n s apart, the whole comb shifted by a seeded random phase
  poisson,  // a Poisson process conditioned on n arrivals: n independent uniform instants, sorted
};

struct ReaderOptions {
  bool skip_bad_rows = false;  // count bad rows instead of failing on the first
  MinuteSpread spread = MinuteSpread::poisson;
  std::uint64_t seed = 0;
  // Row formats may be out of time order by at most this much: rows are held in a buffer until a row
  // this much later has been read. A row earlier than one already emitted is a bad row.
  Nanos reorder_window = 60 * kNanosPerSecond;
};

// One request as the trace states it, before mapping to models and scaling.
struct TraceRecord {
  Nanos arrival = 0;  // on the trace's clock: seconds from its start (Azure LLM: from its first request)
  std::uint32_t key = 0;  // function (2019/2021), model name (BurstGPT), model index (canonical); dense
                          // from 0 in order of first appearance in the file; 0 for Azure LLM
  std::uint32_t input_tokens = 0;   // 0 when the format has no token columns
  std::uint32_t output_tokens = 0;
  std::uint64_t line = 0;  // the row's line in the file, for error messages
};

class TraceReader {
 public:
  virtual ~TraceReader() = default;
  // Next record in arrival order (ties in file order); false at the end.
  virtual bool next(TraceRecord& out) = 0;
  // Requests per key over the whole file when the reader knows them before streaming (Azure Functions
  // 2019: row sums), so popularity ranking needs no extra pass; nullptr otherwise.
  virtual const std::vector<std::uint64_t>* requests_per_key() const { return nullptr; }
  const std::string& path() const { return path_; }
  std::uint64_t skipped_rows() const { return skipped_rows_; }
  // The error of the first skipped row ("file:line:col: column: what"), empty when none was skipped.
  const std::string& first_skip_reason() const { return first_skip_reason_; }

 protected:
  explicit TraceReader(std::string path) : path_(std::move(path)) {}
  // Throws InputError, or counts the row when skipping bad rows.
  void bad_row(bool skip, const std::string& where, const std::string& what);

  std::string path_;
  std::uint64_t skipped_rows_ = 0;
  std::string first_skip_reason_;
};

// A reader of `format` over the input (format.open after checking the options); the path form opens the
// file itself.
std::unique_ptr<TraceReader> open_trace_reader(std::shared_ptr<const TraceInput> input, const TraceFormat& format,
                                               const ReaderOptions& options = {});
std::unique_ptr<TraceReader> open_trace_reader(const std::string& path, const TraceFormat& format,
                                               const ReaderOptions& options = {});

// Writes the canonical request CSV ("id,arrival_s,model,input_tokens,output_tokens", arrival_s with nine
// decimals so nanoseconds round-trip exactly) to a temporary file renamed over `path` by commit();
// destroying it uncommitted removes the temporary file, so a failed conversion leaves nothing behind.
class CanonicalCsvWriter {
 public:
  explicit CanonicalCsvWriter(std::string path);
  ~CanonicalCsvWriter();
  CanonicalCsvWriter(const CanonicalCsvWriter&) = delete;
  CanonicalCsvWriter& operator=(const CanonicalCsvWriter&) = delete;
  void write(const RequestSpec& request);
  void commit();

 private:
  void flush_buffer();
  std::string path_, temp_path_;
  std::FILE* file_ = nullptr;
  std::string buffer_;
};

}  // namespace sllm::traces
