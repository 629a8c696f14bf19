// Trace formats by name. Each format lives in its own file (traces/src/formats/*.cpp; a test may add
// one from its own file) and registers itself from a static initialiser with
// SLLM_REGISTER_TRACE_FORMAT; the traces library is linked whole-archive so registration always runs.
// A format says how to recognise its header (for `format: auto`) and opens its reader. Adding a format
// is adding one file: docs/traces.md, "Adding a format".
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/traces/input.h"
#include "sllm/traces/readers.h"

namespace sllm::traces {

class TraceFormat {
 public:
  virtual ~TraceFormat() = default;
  // As written in configs (`format:`) and on the command line (`--format`).
  virtual std::string_view name() const = 0;
  virtual std::string_view summary() const = 0;  // one line for listings
  // The header as messages show it ("TIMESTAMP,ContextTokens,GeneratedTokens").
  virtual std::string header() const = 0;
  // Whether a file's first line (without a byte-order mark or line ending) is this format's header.
  // `format: auto` requires exactly one registered format to match.
  virtual bool matches_header(std::string_view first_line) const = 0;
  // Whether records carry token lengths (else replay needs a lengths source).
  virtual bool has_token_lengths() const = 0;
  // Whether record keys are deployed model indices already: the default mapping is then `trace`
  // (else `rank`).
  virtual bool keys_are_model_indices() const { return false; }
  // A reader over the whole input, from its first byte (header included). Options are already checked.
  virtual std::unique_ptr<TraceReader> open(std::shared_ptr<const TraceInput> input,
                                            const ReaderOptions& options) const = 0;
};

// Adds a format; a second format of the same name is a std::logic_error (a programming error).
void register_trace_format(const TraceFormat& format);
// The registered format of that name; std::invalid_argument listing the registered names otherwise.
const TraceFormat& trace_format(std::string_view name);
// Every registered format, by name.
std::vector<const TraceFormat*> trace_formats();
// The one format whose header matches the input's first line; InputError when none or several match.
const TraceFormat& detect_trace_format(const TraceInput& input);
const TraceFormat& detect_trace_format(const std::string& path);

template <class Format>
struct TraceFormatRegistration {
  TraceFormatRegistration() {
    static const Format format;
    register_trace_format(format);
  }
};

}  // namespace sllm::traces

#define SLLM_TRACE_FORMAT_CONCAT2(a, b) a##b
#define SLLM_TRACE_FORMAT_CONCAT(a, b) SLLM_TRACE_FORMAT_CONCAT2(a, b)
// SLLM_REGISTER_TRACE_FORMAT(AzureLlmFormat);  (a default-constructible TraceFormat subclass)
#define SLLM_REGISTER_TRACE_FORMAT(Format)                                                          \
  static const ::sllm::traces::TraceFormatRegistration<Format> SLLM_TRACE_FORMAT_CONCAT( \
      sllm_trace_format_registration_, __LINE__)
