// Streaming CSV reading shared by the trace readers: a line reader over a fixed buffer (memory stays
// bounded whatever the file size), field splitting that remembers each field's column, and exact
// parsers for the numbers and timestamps the trace formats use.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/core/units.h"
#include "sllm/traces/input.h"

namespace sllm::traces::detail {

// Lines longer than this are rejected: the buffer never grows, so memory stays bounded.
inline constexpr std::size_t kMaxLineBytes = std::size_t{1} << 20;

class LineReader {
 public:
  explicit LineReader(std::string path);  // opens the file itself; InputError when it cannot be opened
  explicit LineReader(std::shared_ptr<const TraceInput> input);  // from its first byte
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Next line without its "\n" or "\r\n"; false at the end of the file. The view stays valid until
  // the next call.
  bool next(std::string_view& line);
  std::uint64_t line_number() const { return line_number_; }  // 1-based, of the line last returned
  std::uint64_t line_offset() const { return line_offset_; }  // byte offset of that line in the file
  const std::string& path() const { return input_->path(); }

 private:
  std::shared_ptr<const TraceInput> input_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0, end_ = 0;
  std::uint64_t buffer_offset_ = 0;  // file offset of buffer_[0]
  std::uint64_t read_offset_ = 0;    // file offset of the next byte to read
  bool eof_ = false;
  std::uint64_t line_number_ = 0;
  std::uint64_t line_offset_ = 0;
};

// The line without a leading UTF-8 byte order mark (spreadsheet exports start header lines with one).
inline std::string_view strip_bom(std::string_view line) {
  if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  return line;
}

// One CSV line split on commas. Fields wrapped in double quotes lose the quotes; quoted commas and
// escaped quotes are not supported (none of the supported formats uses them).
struct CsvFields {
  std::vector<std::string_view> fields;
  std::vector<std::uint32_t> columns;  // 1-based character column where each field starts
  std::uint32_t end_column = 1;        // column just past the line, for "missing field" errors
  void split(std::string_view line);
  std::size_t size() const { return fields.size(); }
};

// A row that does not parse: which field (index into CsvFields) and what was expected. Readers turn it
// into an InputError naming file:line:column, or count it when skipping bad rows.
struct FieldError {
  std::size_t field;
  std::string what;
  std::uint32_t column = 0;  // where the error is, when not at the field's start (JSON Lines); 0: the field's
};

// Exact parsers; false when the text is not of the expected form.
bool parse_uint64(std::string_view text, std::uint64_t& out);
bool parse_uint32(std::string_view text, std::uint32_t& out);
// Non-negative seconds with an optional fraction ("12", "0.0794909", "1.5e-05") to integer nanoseconds,
// rounding extra fractional digits to the nearest nanosecond.
bool parse_seconds(std::string_view text, Nanos& out);
// "YYYY-MM-DD HH:MM:SS[.fraction]" ('T' also accepted), optional "Z" or "+HH:MM"/"-HH:MM" suffix,
// to nanoseconds since 1970-01-01 UTC.
bool parse_datetime(std::string_view text, Nanos& out);
// Writes t >= 0 as seconds with exactly nine decimals, so canonical files round-trip exactly.
void append_seconds(std::string& out, Nanos t);

}  // namespace sllm::traces::detail
