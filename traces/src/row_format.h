// Shared machinery of the trace formats (internal): header checking, error locations, and the reader of
// formats with one request per row. A row format only names its columns and parses one row; the shared
// reader does the rest (time order within the reorder window, bad rows, memory bounds).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "csv.h"
#include "sllm/traces/formats.h"

namespace sllm::traces::detail {

std::string location(const std::string& path, std::uint64_t line, std::uint32_t column);

// Reads the header line and checks its first `expected.size()` names (all of them, and no more, when
// `exact_count`); InputError naming the first mismatch. `format` names the format in messages.
void check_header(LineReader& lines, CsvFields& fields, const TraceFormat& format,
                  const std::vector<std::string_view>& expected, bool exact_count);

// Column names joined by commas.
std::string join_columns(const std::vector<std::string_view>& columns);

// One data row of a row format, with checked accessors. Each accessor throws FieldError naming the field.
class Row {
 public:
  const CsvFields& fields() const { return fields_; }
  std::string_view line() const { return line_; }  // the whole line (formats that are not CSV parse it)
  std::string_view field(std::size_t i) const { return fields_.fields[i]; }
  std::size_t header_columns() const { return header_columns_; }
  void expect_fields(std::size_t n) const;         // exactly n fields
  std::uint32_t tokens(std::size_t i) const;       // a token count 0..4294967295
  Nanos seconds(std::size_t i) const;              // non-negative seconds
  std::string_view name(std::size_t i) const;      // a non-empty string
  // Dense index of a key (function or model name) in order of first appearance in the file.
  std::uint32_t intern(std::string_view key);

 private:
  friend class RowTraceReader;
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  CsvFields fields_;
  std::string_view line_;
  std::size_t header_columns_ = 0;
  std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> keys_;
};

// A format with one request per row.
class RowFormat : public TraceFormat {
 public:
  // The named header columns, in order.
  virtual const std::vector<std::string_view>& columns() const = 0;
  // Whether the header (and rows) may carry further columns after the named ones, which are ignored.
  virtual bool extra_columns_allowed() const { return false; }
  // Whether the file starts with a CSV header line naming columns(). A format without one (JSON Lines)
  // overrides matches_header() and header(), names its fields in columns() for messages, and parses
  // Row::line() (no CSV splitting is done for it).
  virtual bool has_header_line() const { return true; }
  // Whether arrival times are absolute (the first request becomes time 0) rather than from the trace's
  // start.
  virtual bool absolute_clock() const { return false; }
  // Parses a row into `out` (arrival, key, token lengths); a bad field is a FieldError. `time_field` is
  // the index of the field that gives the arrival (named when the row is out of time order).
  virtual void parse_row(Row& row, TraceRecord& out) const = 0;
  virtual std::size_t time_field() const = 0;

  std::string header() const override { return join_columns(columns()); }
  bool matches_header(std::string_view first_line) const override;
  std::unique_ptr<TraceReader> open(std::shared_ptr<const TraceInput> input,
                                    const ReaderOptions& options) const override;
};

}  // namespace sllm::traces::detail
