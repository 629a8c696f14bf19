#include "row_format.h"

#include <algorithm>

#include "sllm/core/error.h"

namespace sllm::traces::detail {

std::string location(const std::string& path, std::uint64_t line, std::uint32_t column) {
  return path + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string join_columns(const std::vector<std::string_view>& columns) {
  std::string s;
  for (std::string_view c : columns) s += (s.empty() ? "" : ",") + std::string(c);
  return s;
}

void check_header(LineReader& lines, CsvFields& fields, const TraceFormat& format,
                  const std::vector<std::string_view>& expected, bool exact_count) {
  const std::string name(format.name());
  std::string_view line;
  if (!lines.next(line)) {
    throw InputError(lines.path(), "empty file: expected the " + name + " header '" + format.header() + "'");
  }
  fields.split(strip_bom(line));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (i >= fields.size() || fields.fields[i] != expected[i]) {
      const std::uint32_t col = i < fields.size() ? fields.columns[i] : fields.end_column;
      throw InputError(location(lines.path(), 1, col),
                       "expected header column " + std::to_string(i + 1) + " '" + std::string(expected[i]) +
                           "' of the " + name + " format ('" + format.header() + "'), found '" +
                           std::string(i < fields.size() ? fields.fields[i] : "") + "'");
    }
  }
  if (exact_count && fields.size() != expected.size()) {
    throw InputError(location(lines.path(), 1, fields.columns[expected.size()]),
                     "unexpected extra header column '" + std::string(fields.fields[expected.size()]) + "' (the " +
                         name + " format has " + std::to_string(expected.size()) + " columns)");
  }
}

void Row::expect_fields(std::size_t n) const {
  if (fields_.size() < n) {
    throw FieldError{fields_.size(), "missing: expected " + std::to_string(n) + " comma-separated fields, found " +
                                         std::to_string(fields_.size())};
  }
  if (fields_.size() > n) {
    throw FieldError{n, "unexpected extra field: expected " + std::to_string(n) + " fields, found " +
                            std::to_string(fields_.size())};
  }
}

std::uint32_t Row::tokens(std::size_t i) const {
  std::uint32_t v = 0;
  if (!parse_uint32(field(i), v)) {
    throw FieldError{i, "expected a token count (integer 0..4294967295), got '" + std::string(field(i)) + "'"};
  }
  return v;
}

Nanos Row::seconds(std::size_t i) const {
  Nanos v = 0;
  if (!parse_seconds(field(i), v)) {
    throw FieldError{i, "expected non-negative seconds such as '12.25', got '" + std::string(field(i)) + "'"};
  }
  return v;
}

std::string_view Row::name(std::size_t i) const {
  if (field(i).empty()) throw FieldError{i, "expected a non-empty name"};
  return field(i);
}

std::uint32_t Row::intern(std::string_view key) {
  if (auto it = keys_.find(key); it != keys_.end()) return it->second;
  const auto id = static_cast<std::uint32_t>(keys_.size());
  keys_.emplace(std::string(key), id);
  return id;
}

bool RowFormat::matches_header(std::string_view first_line) const {
  const std::string h = header();
  return first_line == h || (extra_columns_allowed() && first_line.substr(0, h.size() + 1) == h + ",");
}

// Rows may be out of order by up to the reorder window: they wait in a min-heap until a row that much
// later has been read.
class RowTraceReader final : public TraceReader {
 public:
  RowTraceReader(std::shared_ptr<const TraceInput> input, const RowFormat& format, const ReaderOptions& options)
      : TraceReader(input->path()), lines_(std::move(input)), format_(format), options_(options) {
    if (format_.has_header_line()) {
      check_header(lines_, row_.fields_, format_, format_.columns(), !format_.extra_columns_allowed());
      row_.header_columns_ = row_.fields_.size();
    }
  }

  bool next(TraceRecord& out) override {
    for (;;) {
      if (!heap_.empty() && (eof_ || heap_.front().arrival <= max_seen_ - options_.reorder_window)) {
        std::pop_heap(heap_.begin(), heap_.end(), Later{});
        out = heap_.back();
        heap_.pop_back();
        if (!emitted_any_ && format_.absolute_clock()) origin_ = out.arrival;
        emitted_any_ = true;
        last_emitted_ = out.arrival;
        out.arrival -= origin_;
        return true;
      }
      if (eof_) return false;
      std::string_view line;
      if (!lines_.next(line)) {
        eof_ = true;
        continue;
      }
      if (line.empty()) continue;
      row_.line_ = line;
      if (format_.has_header_line()) row_.fields_.split(line);
      TraceRecord record;
      record.line = lines_.line_number();
      try {
        format_.parse_row(row_, record);
        if (emitted_any_ && record.arrival < last_emitted_) {
          throw FieldError{format_.time_field(),
                           "row is " + format_duration(last_emitted_ - record.arrival) +
                               " earlier than a row already replayed; rows must be in time order "
                               "to within the reorder window (" +
                               format_duration(options_.reorder_window) + ")"};
        }
      } catch (const FieldError& e) {
        const CsvFields& f = row_.fields_;
        const std::uint32_t col = e.column != 0        ? e.column
                                  : e.field < f.size() ? f.columns[e.field]
                                                       : f.end_column;
        const auto& names = format_.columns();
        const std::string name = e.field < names.size() ? std::string(names[e.field]) : "row";
        bad_row(options_.skip_bad_rows, location(path_, record.line, col), name + ": " + e.what);
        continue;
      }
      if (heap_.size() >= kMaxReorderRows) {
        throw InputError(location(path_, record.line, 1),
                         "more than " + std::to_string(kMaxReorderRows) + " rows lie within the reorder window (" +
                             format_duration(options_.reorder_window) + "); lower reorder_window");
      }
      heap_.push_back(record);
      std::push_heap(heap_.begin(), heap_.end(), Later{});
      max_seen_ = std::max(max_seen_, record.arrival);
    }
  }

 private:
  static constexpr std::size_t kMaxReorderRows = std::size_t{1} << 20;

  // Min-heap order: earliest arrival first, then file order.
  struct Later {
    bool operator()(const TraceRecord& a, const TraceRecord& b) const {
      return a.arrival != b.arrival ? a.arrival > b.arrival : a.line > b.line;
    }
  };

  LineReader lines_;
  const RowFormat& format_;
  ReaderOptions options_;
  Row row_;
  std::vector<TraceRecord> heap_;
  bool eof_ = false;
  bool emitted_any_ = false;
  Nanos last_emitted_ = 0;
  Nanos max_seen_ = 0;
  Nanos origin_ = 0;  // absolute clocks: the first request becomes time zero
};

std::unique_ptr<TraceReader> RowFormat::open(std::shared_ptr<const TraceInput> input,
                                             const ReaderOptions& options) const {
  return std::make_unique<RowTraceReader>(std::move(input), *this, options);
}

}  // namespace sllm::traces::detail
