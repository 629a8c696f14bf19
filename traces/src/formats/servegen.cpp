// Alibaba ServeGen (Xiang et al., NSDI 2026; github.com/alibaba/ServeGen): a client's arrival description,
// `data/<category>/<model>/chunk-<client>-trace.csv`. No header; one row per time window:
//   window start (s), rate (req/s), cv, pattern (Gamma | Weibull | empty), shape, scale
// A window lasts until the next row's start (the last one as long as the one before it). Arrivals follow
// ServeGen's own generator (servegen/construct.py): ceil(rate x window) inter-arrival times drawn from the
// pattern, scaled so that they sum to the window, accumulated from its start, keeping those before its
// end. An empty pattern is a window without requests. Token lengths are in the client's separate
// chunk-<client>-dataset.json, which this reader does not read: replay takes a `lengths` source.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

#include "row_format.h"
#include "sllm/core/error.h"
#include "sllm/core/random.h"

namespace sllm::traces::detail {
namespace {

enum Column : std::size_t { kStart, kRate, kCv, kPattern, kShape, kScale, kColumns };
const std::vector<std::string_view> kColumnNames{"start", "rate", "cv", "pattern", "shape", "scale"};

enum class Pattern { none, gamma, weibull };

// A request count of one window above this is taken for corruption (about 16,700 req/s for 600 s).
constexpr double kMaxRequestsPerWindow = 1.0e7;

struct Window {
  Nanos start = 0;
  double rate = 0, shape = 0, scale = 0;
  Pattern pattern = Pattern::none;
  std::uint64_t line = 0;
  std::array<std::uint32_t, kColumns> columns{};  // where each field starts, for errors found later
};

bool parse_number(std::string_view text, double& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size() && std::isfinite(out) && out >= 0;
}

// Parses one row; FieldError naming the column otherwise.
Window parse_window(const CsvFields& f) {
  if (f.size() != kColumns) {
    throw FieldError{kColumns,
                     "expected 6 comma-separated fields (start, rate, cv, pattern, shape, scale), found " +
                         std::to_string(f.size()),
                     f.end_column};
  }
  Window w;
  if (!parse_seconds(f.fields[kStart], w.start)) {
    throw FieldError{kStart, "expected non-negative seconds, got '" + std::string(f.fields[kStart]) + "'"};
  }
  double cv = 0;
  for (auto [column, out] : {std::pair{kRate, &w.rate}, std::pair{kCv, &cv}, std::pair{kShape, &w.shape},
                             std::pair{kScale, &w.scale}}) {
    if (!parse_number(f.fields[column], *out)) {
      throw FieldError{column, "expected a non-negative number, got '" + std::string(f.fields[column]) + "'"};
    }
  }
  const std::string_view pattern = f.fields[kPattern];
  if (pattern == "Gamma") {
    w.pattern = Pattern::gamma;
  } else if (pattern == "Weibull") {
    w.pattern = Pattern::weibull;
  } else if (!pattern.empty()) {
    throw FieldError{kPattern, "expected Gamma, Weibull or empty, got '" + std::string(pattern) + "'"};
  }
  if (w.pattern != Pattern::none && (w.shape <= 0 || w.scale <= 0)) {
    throw FieldError{w.shape <= 0 ? kShape : kScale, "expected a positive " + std::string(w.shape <= 0 ? "shape" : "scale") +
                                                         " for the " + std::string(pattern) + " pattern"};
  }
  return w;
}

class ServeGenReader final : public TraceReader {
 public:
  ServeGenReader(std::shared_ptr<const TraceInput> input, const ReaderOptions& options)
      : TraceReader(input->path()), lines_(std::move(input)), options_(options) {
    has_next_ = read_window(next_);
  }

  bool next(TraceRecord& out) override {
    for (;;) {
      while (remaining_ > 0) {
        --remaining_;
        elapsed_s_ += draw(rng_) * factor_;
        // Compared before rounding to the nanosecond, as ServeGen compares: heavy-tailed patterns draw
        // many near-zero gaps, whose arrivals would otherwise round onto the window's end.
        if (elapsed_s_ >= window_s_) {
          remaining_ = 0;
          break;
        }
        const Nanos offset = std::min(static_cast<Nanos>(std::llround(elapsed_s_ * 1e9)), window_ns_ - 1);
        out = TraceRecord{};
        out.arrival = current_.start + offset;
        out.line = current_.line;
        return true;
      }
      if (!has_next_) return false;
      start_window();
    }
  }

 private:
  double draw(Rng& rng) const {
    return current_.pattern == Pattern::gamma ? rng.gamma(current_.shape, current_.scale)
                                              : current_.scale * std::pow(-std::log(rng.uniform_pos()), 1.0 / current_.shape);
  }

  // Makes the pending window current and, when it has requests, prepares its arrivals.
  void start_window() {
    const Nanos previous_length = has_current_ ? next_.start - current_.start : 0;
    current_ = next_;
    has_current_ = true;
    ++window_index_;
    has_next_ = read_window(next_);
    window_ns_ = has_next_ ? next_.start - current_.start : window_index_ > 1 ? previous_length : kDefaultWindow;
    remaining_ = 0;
    if (current_.pattern == Pattern::none || current_.rate == 0) return;
    const double window_s = static_cast<double>(window_ns_) / 1e9;
    window_s_ = window_s;
    const double count = std::ceil(current_.rate * window_s);
    if (count > kMaxRequestsPerWindow) {
      bad_row(options_.skip_bad_rows, location(path_, current_.line, current_.columns[kRate]),
              "rate: " + std::to_string(static_cast<std::uint64_t>(count)) +
                  " requests in one window is above the limit of 10000000");
      return;
    }
    remaining_ = static_cast<std::uint64_t>(count);
    // ServeGen scales the draws to fill the window exactly; two passes over one seeded stream give the sum
    // first without holding the draws.
    rng_ = Rng(options_.seed, window_index_);
    Rng sum_rng = rng_;
    double sum = 0;
    for (std::uint64_t i = 0; i < remaining_; ++i) sum += draw(sum_rng);
    if (!std::isfinite(sum) || sum <= 0) {  // extreme shape or scale: draws overflow or all underflow to 0
      remaining_ = 0;
      bad_row(options_.skip_bad_rows, location(path_, current_.line, current_.columns[kShape]),
              "shape: the pattern's shape and scale give no usable inter-arrival times");
      return;
    }
    factor_ = window_s / sum;
    elapsed_s_ = 0;
  }

  // The next valid row (skipping bad ones when asked); false at the end.
  bool read_window(Window& w) {
    std::string_view line;
    while (lines_.next(line)) {
      if (line.empty()) continue;
      fields_.split(strip_bom(line));
      try {
        w = parse_window(fields_);
        if (read_any_ && w.start <= last_start_) {
          throw FieldError{kStart, "window starts must increase (previous window starts at " +
                                       format_duration(last_start_) + ")"};
        }
      } catch (const FieldError& e) {
        const std::uint32_t col = e.column != 0               ? e.column
                                  : e.field < fields_.size() ? fields_.columns[e.field]
                                                             : fields_.end_column;
        const std::string name = e.field < kColumnNames.size() ? std::string(kColumnNames[e.field]) : "row";
        bad_row(options_.skip_bad_rows, location(path_, lines_.line_number(), col), name + ": " + e.what);
        continue;
      }
      w.line = lines_.line_number();
      for (std::size_t i = 0; i < kColumns; ++i) w.columns[i] = fields_.columns[i];
      read_any_ = true;
      last_start_ = w.start;
      return true;
    }
    return false;
  }

  // ServeGen's data uses 600 s windows; a file of a single row has no neighbour to measure from.
  static constexpr Nanos kDefaultWindow = 600 * kNanosPerSecond;

  LineReader lines_;
  ReaderOptions options_;
  CsvFields fields_;
  Window current_, next_;
  bool has_current_ = false, has_next_ = false, read_any_ = false;
  Nanos last_start_ = 0;
  std::uint64_t window_index_ = 0;
  Nanos window_ns_ = 0;
  double window_s_ = 0;
  std::uint64_t remaining_ = 0;
  double factor_ = 0, elapsed_s_ = 0;
  Rng rng_{0};
};

class ServeGenFormat final : public TraceFormat {
 public:
  std::string_view name() const override { return "servegen"; }
  std::string_view summary() const override {
    return "Alibaba ServeGen client windows (chunk-N-trace.csv): start, rate, cv, Gamma|Weibull, shape, scale";
  }
  std::string header() const override { return "no header; rows of " + join_columns(kColumnNames); }
  // No header: the first row itself must parse as a window.
  bool matches_header(std::string_view first_line) const override {
    CsvFields f;
    f.split(first_line);
    try {
      parse_window(f);
      return true;
    } catch (const FieldError&) {
      return false;
    }
  }
  bool has_token_lengths() const override { return false; }
  std::unique_ptr<TraceReader> open(std::shared_ptr<const TraceInput> input,
                                    const ReaderOptions& options) const override {
    return std::make_unique<ServeGenReader>(std::move(input), options);
  }
};

SLLM_REGISTER_TRACE_FORMAT(ServeGenFormat);

}  // namespace
}  // namespace sllm::traces::detail
