// Trace readers: the header line picks the format as `format: auto` does, so one harness covers every
// registered format (seeds: a sample of each, tests/fuzz/corpus/fuzz_trace). The options vary with the
// input (bad rows skipped or fatal, the 2019 format's minute spread). Reading stops after a bound on the
// records: a legitimate trace may be as long as it likes, the harness checks parsing, not patience.
#include <cstdint>
#include <memory>

#include "support.h"
#include "sllm/core/error.h"
#include "sllm/traces/formats.h"
#include "sllm/traces/input.h"
#include "sllm/traces/readers.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const sllm::fuzz::ScratchFile file("trace.csv");
  constexpr int kMaxRecords = 100'000;
  file.write(sllm::fuzz::as_text(data, size));
  try {
    const auto input = sllm::traces::TraceInput::open(file.path());
    const sllm::traces::TraceFormat& format = sllm::traces::detect_trace_format(*input);
    sllm::traces::ReaderOptions options;
    options.skip_bad_rows = size % 2 == 1;
    options.spread = size % 4 < 2 ? sllm::traces::MinuteSpread::poisson : sllm::traces::MinuteSpread::uniform;
    options.seed = size;
    const auto reader = sllm::traces::open_trace_reader(input, format, options);
    sllm::traces::TraceRecord record;
    sllm::Nanos last = 0;
    for (int i = 0; i < kMaxRecords && reader->next(record); ++i) {
      // The readers' contract: arrivals never decrease and never precede the trace's start.
      if (record.arrival < last || record.arrival < 0) __builtin_trap();
      last = record.arrival;
    }
  } catch (const sllm::InputError& e) {
    sllm::fuzz::refused(e);
  }
  return 0;
}
