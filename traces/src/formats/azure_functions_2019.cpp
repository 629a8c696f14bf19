// Azure Functions 2019 (Shahrad et al., "Serverless in the Wild"): one row per function, one column of
// invocation counts per minute.
#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>

#include "row_format.h"
#include "sllm/core/error.h"
#include "sllm/core/random.h"

namespace sllm::traces::detail {
namespace {

const std::vector<std::string_view> kNamedColumns{"HashOwner", "HashApp", "HashFunction", "Trigger"};

// Azure Functions 2019: one row per function, one column per minute. The file is scanned once to
// validate it and note where each row's counts start; then a k-way merge over per-function cursors
// yields arrivals in time order. Each cursor reads its row through a small window of the file, so
// memory is O(functions), never O(file).
class FunctionMinutesReader final : public TraceReader {
 public:
  FunctionMinutesReader(std::shared_ptr<const TraceInput> input, const TraceFormat& format,
                        const ReaderOptions& options)
      : TraceReader(input->path()), input_(std::move(input)), format_(format), options_(options) {
    scan();
    slabs_.resize(cursors_.size() * kSlabBytes);
    heap_.reserve(cursors_.size());
    for (std::uint32_t f = 0; f < cursors_.size(); ++f) {
      Nanos t = 0;
      if (advance(f, t)) heap_.emplace_back(t, f);
    }
    std::make_heap(heap_.begin(), heap_.end(), std::greater<>{});
  }
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
  // A function-minute above this many invocations (about 167,000 a second from one function) is taken
  // for a corrupt cell: replaying 4e9 of them would run for hours before anyone noticed.
  static constexpr std::uint32_t kMaxInvocationsPerMinute = 10'000'000;
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
    LineReader lines(input_);
    CsvFields fields;
    check_header(lines, fields, format_, kNamedColumns, false);
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
        const std::string name = i < 4 ? std::string(kNamedColumns[i])
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
        if (line[fields.columns[i] - 1] == '"' || text.size() > kMaxCountChars || !parse_uint32(text, n)) {
          fail(i, "expected an invocation count (integer 0..4294967295), got '" + std::string(text) + "'");
          ok = false;
        } else if (n > kMaxInvocationsPerMinute) {
          fail(i, "invocation count " + std::string(text) + " is above the limit of " +
                      std::to_string(kMaxInvocationsPerMinute) +
                      " per function-minute (docs/traces.md); is the cell corrupt?");
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
        const std::size_t r = input_->read_at(slab + got, want - got, c.next + got);
        if (r == 0) throw std::runtime_error(path_ + ": read failed (was the file changed while reading?)");
        got += r;
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

  std::shared_ptr<const TraceInput> input_;
  const TraceFormat& format_;
  ReaderOptions options_;
  std::uint32_t minutes_ = 0;
  std::vector<Cursor> cursors_;
  std::vector<std::uint64_t> totals_;  // invocations per function (row sums)
  std::vector<char> slabs_;
  std::vector<std::pair<Nanos, std::uint32_t>> heap_;  // (next arrival, function): min-heap
};

class AzureFunctions2019Format final : public TraceFormat {
 public:
  std::string_view name() const override { return "azure-functions-2019"; }
  std::string_view summary() const override {
    return "Azure Functions 2019: HashOwner, HashApp, HashFunction, Trigger, invocations in minutes 1..N";
  }
  std::string header() const override { return join_columns(kNamedColumns) + ",1,2,...,1440"; }
  bool matches_header(std::string_view first_line) const override {
    const std::string named = join_columns(kNamedColumns) + ",";
    return first_line.substr(0, named.size()) == named;
  }
  bool has_token_lengths() const override { return false; }
  std::unique_ptr<TraceReader> open(std::shared_ptr<const TraceInput> input,
                                    const ReaderOptions& options) const override {
    return std::make_unique<FunctionMinutesReader>(std::move(input), *this, options);
  }
};

SLLM_REGISTER_TRACE_FORMAT(AzureFunctions2019Format);

}  // namespace
}  // namespace sllm::traces::detail
