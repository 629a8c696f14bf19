#include "sllm/traces/readers.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "csv.h"
#include "sllm/core/error.h"
#include "sllm/core/random.h"

namespace sllm::traces {

using detail::CsvFields;
using detail::FieldError;
using detail::strip_bom;

namespace {

constexpr std::array<std::pair<TraceFormat, std::string_view>, 5> kFormatNames{{
    {TraceFormat::azure_llm, "azure-llm"},
    {TraceFormat::azure_functions_2019, "azure-functions-2019"},
    {TraceFormat::azure_functions_2021, "azure-functions-2021"},
    {TraceFormat::burstgpt, "burstgpt"},
    {TraceFormat::canonical, "canonical"},
}};

// Header columns of the row formats (the 2019 format's minute columns are checked separately).
const std::vector<std::string_view>& header_of(TraceFormat format) {
  static const std::vector<std::string_view> azure_llm{"TIMESTAMP", "ContextTokens", "GeneratedTokens"};
  static const std::vector<std::string_view> functions_2019{"HashOwner", "HashApp", "HashFunction", "Trigger"};
  static const std::vector<std::string_view> functions_2021{"app", "func", "end_timestamp", "duration"};
  static const std::vector<std::string_view> burstgpt{"Timestamp",    "Model",        "Request tokens",
                                                      "Response tokens", "Total tokens", "Log Type"};
  static const std::vector<std::string_view> canonical{"id", "arrival_s", "model", "input_tokens",
                                                       "output_tokens"};
  switch (format) {
    case TraceFormat::azure_llm: return azure_llm;
    case TraceFormat::azure_functions_2019: return functions_2019;
    case TraceFormat::azure_functions_2021: return functions_2021;
    case TraceFormat::burstgpt: return burstgpt;
    case TraceFormat::canonical: return canonical;
  }
  throw std::logic_error("unknown trace format");
}

// The header line's named columns, comma-separated.
std::string named_columns(TraceFormat format) {
  std::string s;
  for (std::string_view c : header_of(format)) s += (s.empty() ? "" : ",") + std::string(c);
  return s;
}

// The header as error messages show it (the 2019 format's minute columns abbreviated).
std::string joined_header(TraceFormat format) {
  std::string s = named_columns(format);
  if (format == TraceFormat::azure_functions_2019) s += ",1,2,...,1440";
  return s;
}

std::string location(const std::string& path, std::uint64_t line, std::uint32_t column) {
  return path + ":" + std::to_string(line) + ":" + std::to_string(column);
}

// Reads the header line and checks the first `columns.size()` names; InputError at the first mismatch.
void check_header(detail::LineReader& lines, CsvFields& fields, TraceFormat format, bool exact_count) {
  std::string_view line;
  if (!lines.next(line)) {
    throw InputError(lines.path(), "empty file: expected the " + std::string(trace_format_name(format)) +
                                       " header '" + joined_header(format) + "'");
  }
  fields.split(strip_bom(line));
  const auto& expected = header_of(format);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (i >= fields.size() || fields.fields[i] != expected[i]) {
      const std::uint32_t col = i < fields.size() ? fields.columns[i] : fields.end_column;
      throw InputError(location(lines.path(), 1, col),
                       "expected header column " + std::to_string(i + 1) + " '" + std::string(expected[i]) +
                           "' of the " + std::string(trace_format_name(format)) + " format ('" +
                           joined_header(format) + "'), found '" +
                           std::string(i < fields.size() ? fields.fields[i] : "") + "'");
    }
  }
  if (exact_count && fields.size() != expected.size()) {
    throw InputError(location(lines.path(), 1, fields.columns[expected.size()]),
                     "unexpected extra header column '" + std::string(fields.fields[expected.size()]) +
                         "' (the " + std::string(trace_format_name(format)) + " format has " +
                         std::to_string(expected.size()) + " columns)");
  }
}

// String keys (function and model names) to dense indices in order of first appearance.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Reader of the formats with one request per row. Rows may be out of order by up to the reorder window:
// they wait in a min-heap until a row that much later has been read.
class RowTraceReader final : public TraceReader {
 public:
  RowTraceReader(const std::string& path, TraceFormat format, const ReaderOptions& options)
      : TraceReader(path), lines_(path), format_(format), options_(options) {
    // Newer BurstGPT releases append columns (Session ID, Elapsed time): accepted and ignored.
    const bool extra_columns_allowed = format_ == TraceFormat::burstgpt;
    check_header(lines_, fields_, format_, !extra_columns_allowed);
    columns_ = fields_.size();
  }

  TraceFormat format() const override { return format_; }

  bool next(TraceRecord& out) override {
    for (;;) {
      if (!heap_.empty() && (eof_ || heap_.front().arrival <= max_seen_ - options_.reorder_window)) {
        std::pop_heap(heap_.begin(), heap_.end(), Later{});
        out = heap_.back();
        heap_.pop_back();
        if (!emitted_any_ && format_ == TraceFormat::azure_llm) origin_ = out.arrival;
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
      fields_.split(line);
      TraceRecord record;
      record.line = lines_.line_number();
      std::size_t time_field = 0;
      try {
        parse_row(record, time_field);
        if (emitted_any_ && record.arrival < last_emitted_) {
          throw FieldError{time_field, "row is " + format_duration(last_emitted_ - record.arrival) +
                                           " earlier than a row already replayed; rows must be in time order "
                                           "to within the reorder window (" +
                                           format_duration(options_.reorder_window) + ")"};
        }
      } catch (const FieldError& e) {
        const bool has_field = e.field < fields_.size();
        const std::uint32_t col = has_field ? fields_.columns[e.field] : fields_.end_column;
        const auto& names = header_of(format_);
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

  void expect_fields(std::size_t n) const {
    if (fields_.size() < n) {
      throw FieldError{fields_.size(), "missing: expected " + std::to_string(n) + " comma-separated fields, found " +
                                           std::to_string(fields_.size())};
    }
    if (fields_.size() > n) {
      throw FieldError{n, "unexpected extra field: expected " + std::to_string(n) + " fields, found " +
                              std::to_string(fields_.size())};
    }
  }
  std::uint32_t tokens(std::size_t i) const {
    std::uint32_t v = 0;
    if (!detail::parse_uint32(fields_.fields[i], v)) {
      throw FieldError{i, "expected a token count (integer 0..4294967295), got '" + std::string(fields_.fields[i]) + "'"};
    }
    return v;
  }
  Nanos seconds(std::size_t i) const {
    Nanos v = 0;
    if (!detail::parse_seconds(fields_.fields[i], v)) {
      throw FieldError{i, "expected non-negative seconds such as '12.25', got '" + std::string(fields_.fields[i]) + "'"};
    }
    return v;
  }
  std::string_view name(std::size_t i) const {
    if (fields_.fields[i].empty()) throw FieldError{i, "expected a non-empty name"};
    return fields_.fields[i];
  }
  std::uint32_t intern(std::string_view key) {
    if (auto it = keys_.find(key); it != keys_.end()) return it->second;
    const auto id = static_cast<std::uint32_t>(keys_.size());
    keys_.emplace(std::string(key), id);
    return id;
  }

  void parse_row(TraceRecord& r, std::size_t& time_field) {
    const auto& f = fields_.fields;
    switch (format_) {
      case TraceFormat::azure_llm:
        expect_fields(3);
        if (!detail::parse_datetime(f[0], r.arrival)) {
          throw FieldError{0, "expected a time such as '2023-11-16 18:15:46.6805900', got '" + std::string(f[0]) + "'"};
        }
        r.input_tokens = tokens(1);
        r.output_tokens = tokens(2);
        time_field = 0;
        return;
      case TraceFormat::azure_functions_2021: {
        expect_fields(4);
        name(0);
        name(1);
        const Nanos end = seconds(2);
        const Nanos duration = seconds(3);
        // Durations are rounded to milliseconds, so an invocation that began at the trace's first instant
        // can come out a fraction of a millisecond before zero: clamp it.
        r.arrival = std::max<Nanos>(0, end - duration);
        // The key is "app,func": both columns side by side in the line.
        r.key = intern(std::string_view(f[0].data(), static_cast<std::size_t>(f[1].data() + f[1].size() - f[0].data())));
        time_field = 2;
        return;
      }
      case TraceFormat::burstgpt: {
        expect_fields(columns_);
        r.arrival = seconds(0);
        const std::string_view model = name(1);
        r.input_tokens = tokens(2);
        r.output_tokens = tokens(3);
        std::uint64_t total = 0;
        if (!detail::parse_uint64(f[4], total)) {
          throw FieldError{4, "expected a token count, got '" + std::string(f[4]) + "'"};
        }
        r.key = intern(model);
        time_field = 0;
        return;
      }
      case TraceFormat::canonical: {
        expect_fields(5);
        std::uint64_t id = 0;
        if (!detail::parse_uint64(f[0], id)) {
          throw FieldError{0, "expected a request id (non-negative integer), got '" + std::string(f[0]) + "'"};
        }
        r.arrival = seconds(1);
        if (!detail::parse_uint32(f[2], r.key)) {
          throw FieldError{2, "expected a model index (non-negative integer), got '" + std::string(f[2]) + "'"};
        }
        r.input_tokens = tokens(3);
        r.output_tokens = tokens(4);
        time_field = 1;
        return;
      }
      case TraceFormat::azure_functions_2019: break;
    }
    throw std::logic_error("RowTraceReader used for a per-function format");
  }

  detail::LineReader lines_;
  CsvFields fields_;
  std::size_t columns_ = 0;  // in the header
  TraceFormat format_;
  ReaderOptions options_;
  std::vector<TraceRecord> heap_;
  bool eof_ = false;
  bool emitted_any_ = false;
  Nanos last_emitted_ = 0;
  Nanos max_seen_ = 0;
  Nanos origin_ = 0;  // Azure LLM timestamps are absolute: the first request becomes time zero
  std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> keys_;
};

// Azure Functions 2019: one row per function, one column per minute. The file is scanned once to
// validate it and note where each row's counts start; then a k-way merge over per-function cursors
// yields arrivals in time order. Each cursor reads its row through a small window of the file, so
// memory is O(functions), never O(file).
class FunctionMinutesReader final : public TraceReader {
 public:
  FunctionMinutesReader(const std::string& path, const ReaderOptions& options)
      : TraceReader(path), options_(options) {
    scan();
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw InputError(path, std::string("cannot open trace file: ") + std::strerror(errno));
    slabs_.resize(cursors_.size() * kSlabBytes);
    heap_.reserve(cursors_.size());
    for (std::uint32_t f = 0; f < cursors_.size(); ++f) {
      Nanos t = 0;
      if (advance(f, t)) heap_.emplace_back(t, f);
    }
    std::make_heap(heap_.begin(), heap_.end(), std::greater<>{});
  }
  ~FunctionMinutesReader() override {
    if (fd_ >= 0) ::close(fd_);
  }
  FunctionMinutesReader(const FunctionMinutesReader&) = delete;
  FunctionMinutesReader& operator=(const FunctionMinutesReader&) = delete;

  TraceFormat format() const override { return TraceFormat::azure_functions_2019; }
  const std::vector<std::uint64_t>* requests_per_key() const override { return &totals_; }

  bool next(TraceRecord& out) override {
    if (heap_.empty()) return false;
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
    const auto [t, f] = heap_.back();
    out = TraceRecord{};
    out.arrival = t;
    out.key = f;
    out.line = cursors_[f].line;
    Nanos next_t = 0;
    if (advance(f, next_t)) {
      heap_.back() = {next_t, f};
      std::push_heap(heap_.begin(), heap_.end(), std::greater<>{});
    } else {
      heap_.pop_back();
    }
    return true;
  }

 private:
  static constexpr std::size_t kSlabBytes = 256;
  static constexpr std::size_t kMaxCountChars = 20;  // longer count fields are rejected by scan()
  static constexpr Nanos kMinute = 60 * kNanosPerSecond;

  struct Cursor {
    std::uint64_t next = 0;        // file offset of the next count field
    std::uint64_t row_end = 0;     // file offset just past the row's last field
    std::uint64_t slab_start = 0;  // file offset of the slab's first byte
    std::uint32_t slab_len = 0;
    std::uint32_t next_minute = 0;  // index of the minute `next` belongs to
    std::uint32_t minute = 0;       // minute of the current arrivals
    std::uint32_t count = 0;        // arrivals in that minute
    std::uint32_t index = 0;        // current arrival within the minute
    Rng rng{0};
    double position = 0;  // poisson: last order statistic in [0, 1); uniform: the comb's phase
    std::uint64_t line = 0;
  };

  void scan() {
    detail::LineReader lines(path_);
    CsvFields fields;
    check_header(lines, fields, TraceFormat::azure_functions_2019, false);
    const std::size_t columns = fields.size();
    if (columns < 5) {
      throw InputError(location(path_, 1, fields.end_column), "expected minute columns '1', '2', ... after 'Trigger'");
    }
    for (std::size_t i = 4; i < columns; ++i) {
      if (fields.fields[i] != std::to_string(i - 3)) {
        throw InputError(location(path_, 1, fields.columns[i]),
                         "expected minute column '" + std::to_string(i - 3) + "', found '" +
                             std::string(fields.fields[i]) + "'");
      }
    }
    minutes_ = static_cast<std::uint32_t>(columns - 4);
    std::string_view line;
    while (lines.next(line)) {
      if (line.empty()) continue;
      fields.split(line);
      const std::uint64_t line_no = lines.line_number();
      auto fail = [&](std::size_t i, const std::string& what) {
        const std::uint32_t col = i < fields.size() ? fields.columns[i] : fields.end_column;
        const std::string name = i < 4 ? std::string(header_of(TraceFormat::azure_functions_2019)[i])
                                       : "minute " + std::to_string(i - 3);
        bad_row(options_.skip_bad_rows, location(path_, line_no, col), name + ": " + what);
      };
      if (fields.size() != columns) {
        fail(std::min(fields.size(), columns), "expected " + std::to_string(columns) + " fields (4 names and " +
                                                   std::to_string(minutes_) + " minutes), found " +
                                                   std::to_string(fields.size()));
        continue;
      }
      bool ok = true;
      std::uint64_t total = 0;
      for (std::size_t i = 0; i < 3 && ok; ++i) {
        if (fields.fields[i].empty()) {
          fail(i, "expected a non-empty hash");
          ok = false;
        }
      }
      for (std::size_t i = 4; i < columns && ok; ++i) {
        std::uint32_t n = 0;
        const std::string_view text = fields.fields[i];
        // Cursors re-read these bytes raw, so they must be bare digits (no quotes), short enough for a slab.
        if (line[fields.columns[i] - 1] == '"' || text.size() > kMaxCountChars || !detail::parse_uint32(text, n)) {
          fail(i, "expected an invocation count (integer 0..4294967295), got '" + std::string(text) + "'");
          ok = false;
        }
        total += n;
      }
      if (!ok) continue;
      Cursor c;
      c.next = lines.line_offset() + fields.columns[4] - 1;
      c.row_end = lines.line_offset() + line.size();
      c.line = line_no;
      cursors_.push_back(c);
      totals_.push_back(total);
    }
  }

  // Reads the next minute's count from the cursor's row; false past the last minute.
  bool read_count(Cursor& c, char* slab, std::uint32_t& out) {
    if (c.next >= c.row_end) return false;
    const std::uint64_t slab_end = c.slab_start + c.slab_len;
    if (c.next < c.slab_start || (c.next + kMaxCountChars + 1 > slab_end && slab_end < c.row_end)) {
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kSlabBytes, c.row_end - c.next));
      std::size_t got = 0;
      while (got < want) {
        const ssize_t r = ::pread(fd_, slab + got, want - got, static_cast<off_t>(c.next + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) throw std::runtime_error(path_ + ": read failed (was the file changed while reading?)");
        got += static_cast<std::size_t>(r);
      }
      c.slab_start = c.next;
      c.slab_len = static_cast<std::uint32_t>(want);
    }
    const char* p = slab + (c.next - c.slab_start);
    const char* end = slab + c.slab_len;
    std::uint64_t v = 0;
    while (p < end && *p != ',') v = v * 10 + static_cast<std::uint64_t>(*p++ - '0');
    c.next = c.slab_start + static_cast<std::uint64_t>(p - slab) + 1;  // past the comma (or past row_end)
    ++c.next_minute;
    out = static_cast<std::uint32_t>(v);
    return true;
  }

  // Moves function f's cursor to its next arrival and sets t; false when the function has no more.
  bool advance(std::uint32_t f, Nanos& t) {
    Cursor& c = cursors_[f];
    if (c.index + 1 < c.count) {
      ++c.index;
    } else {
      std::uint32_t n = 0;
      do {
        if (!read_count(c, slabs_.data() + std::size_t{f} * kSlabBytes, n)) return false;
      } while (n == 0);
      c.minute = c.next_minute - 1;
      c.count = n;
      c.index = 0;
      // One stream per (function, minute): arrivals do not depend on the order cursors are visited.
      c.rng = Rng(options_.seed, (std::uint64_t{f} << 32) | c.minute);
      c.position = options_.spread == MinuteSpread::uniform ? c.rng.uniform() : 0.0;
    }
    double fraction = 0;
    if (options_.spread == MinuteSpread::uniform) {
      fraction = (c.index + c.position) / c.count;
    } else {
      // Ascending order statistics of `count` uniforms, one at a time: the minimum of the m remaining is
      // 1 - (1 - previous) * U^(1/m) (the sequential method of Lurie and Hartley, 1972).
      c.position = 1.0 - (1.0 - c.position) * std::pow(c.rng.uniform_pos(), 1.0 / (c.count - c.index));
      fraction = c.position;
    }
    const Nanos within = std::min<Nanos>(std::llround(fraction * static_cast<double>(kMinute)), kMinute - 1);
    t = static_cast<Nanos>(c.minute) * kMinute + within;
    return true;
  }

  ReaderOptions options_;
  std::uint32_t minutes_ = 0;
  int fd_ = -1;
  std::vector<Cursor> cursors_;
  std::vector<std::uint64_t> totals_;  // invocations per function (row sums)
  std::vector<char> slabs_;
  std::vector<std::pair<Nanos, std::uint32_t>> heap_;  // (next arrival, function): min-heap
};

}  // namespace

void TraceReader::bad_row(bool skip, const std::string& where, const std::string& what) {
  if (!skip) throw InputError(where, what);
  if (skipped_rows_++ == 0) first_skip_reason_ = where + ": " + what;
}

std::string_view trace_format_name(TraceFormat format) {
  for (const auto& [f, name] : kFormatNames) {
    if (f == format) return name;
  }
  throw std::logic_error("unknown trace format");
}

TraceFormat parse_trace_format(std::string_view name) {
  std::string names;
  for (const auto& [f, n] : kFormatNames) {
    if (n == name) return f;
    names += (names.empty() ? "'" : ", '") + std::string(n) + "'";
  }
  throw std::invalid_argument("unknown trace format '" + std::string(name) + "' (expected one of " + names + ")");
}

bool format_has_token_lengths(TraceFormat format) {
  return format == TraceFormat::azure_llm || format == TraceFormat::burstgpt || format == TraceFormat::canonical;
}

TraceFormat detect_trace_format(const std::string& path) {
  detail::LineReader lines(path);
  std::string_view line;
  if (!lines.next(line)) throw InputError(path, "empty file: no header line to recognise the trace format from");
  line = strip_bom(line);
  for (const auto& [format, name] : kFormatNames) {
    const std::string header = named_columns(format);
    const bool prefix_only = format == TraceFormat::azure_functions_2019 || format == TraceFormat::burstgpt;
    if (line == header || (prefix_only && line.substr(0, header.size() + 1) == header + ",")) {
      return format;
    }
  }
  std::string known;
  for (const auto& [format, name] : kFormatNames) known += "\n  " + std::string(name) + ": " + joined_header(format);
  throw InputError(path + ":1:1", "unrecognised header '" + std::string(line.substr(0, 120)) +
                                      "'; give the format explicitly, or expect one of:" + known);
}

std::unique_ptr<TraceReader> open_trace_reader(const std::string& path, TraceFormat format,
                                               const ReaderOptions& options) {
  if (options.reorder_window < 0) throw InputError(path, "reorder window must be non-negative");
  if (format == TraceFormat::azure_functions_2019) return std::make_unique<FunctionMinutesReader>(path, options);
  return std::make_unique<RowTraceReader>(path, format, options);
}

CanonicalCsvWriter::CanonicalCsvWriter(std::string path) : path_(std::move(path)) {
  temp_path_ = path_ + ".tmp." + std::to_string(::getpid());
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (file_ == nullptr) throw InputError(path_, std::string("cannot create output file: ") + std::strerror(errno));
  buffer_ = "id,arrival_s,model,input_tokens,output_tokens\n";
}

CanonicalCsvWriter::~CanonicalCsvWriter() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(temp_path_.c_str());
  }
}

void CanonicalCsvWriter::write(const RequestSpec& r) {
  char buf[24];
  auto put = [&](std::uint64_t v) {
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    buffer_.append(buf, res.ptr);
  };
  put(r.id);
  buffer_.push_back(',');
  detail::append_seconds(buffer_, r.arrival);
  buffer_.push_back(',');
  put(r.model);
  buffer_.push_back(',');
  put(r.input_tokens);
  buffer_.push_back(',');
  put(r.output_tokens);
  buffer_.push_back('\n');
  if (buffer_.size() >= (std::size_t{1} << 20)) flush_buffer();
}

void CanonicalCsvWriter::flush_buffer() {
  if (!buffer_.empty() && std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
    throw std::runtime_error(temp_path_ + ": write failed: " + std::strerror(errno));
  }
  buffer_.clear();
}

void CanonicalCsvWriter::commit() {
  flush_buffer();
  std::FILE* f = file_;
  file_ = nullptr;
  if (std::fclose(f) != 0) {
    std::remove(temp_path_.c_str());
    throw std::runtime_error(temp_path_ + ": write failed: " + std::strerror(errno));
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    std::remove(temp_path_.c_str());
    throw std::runtime_error("cannot rename " + temp_path_ + " to " + path_ + ": " + std::strerror(errno));
  }
}

}  // namespace sllm::traces
