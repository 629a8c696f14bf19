#include "sllm/traces/mapping.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <stdexcept>

#include "csv.h"
#include "sllm/core/config_node.h"
#include "sllm/core/error.h"

namespace sllm::traces {

namespace {

constexpr std::uint32_t kDropped = UINT32_MAX;
constexpr std::size_t kMaxLengthPairs = std::size_t{1} << 24;  // 16 M pairs = 128 MiB

void load_lengths_csv(const std::string& path, std::vector<std::uint32_t>& inputs,
                      std::vector<std::uint32_t>& outputs) {
  detail::LineReader lines(path);
  detail::CsvFields fields;
  std::string_view line;
  if (!lines.next(line)) throw InputError(path, "empty file: expected the header 'input_tokens,output_tokens'");
  line = detail::strip_bom(line);
  if (line != "input_tokens,output_tokens") {
    throw InputError(path + ":1:1", "expected the header 'input_tokens,output_tokens', found '" +
                                        std::string(line.substr(0, 80)) + "'");
  }
  while (lines.next(line)) {
    if (line.empty()) continue;
    fields.split(line);
    const std::string where = path + ":" + std::to_string(lines.line_number()) + ":";
    if (fields.size() != 2) {
      throw InputError(where + std::to_string(fields.size() > 2 ? fields.columns[2] : fields.end_column),
                       "expected 2 fields (input_tokens,output_tokens), found " + std::to_string(fields.size()));
    }
    std::uint32_t in = 0, out = 0;
    for (std::size_t i = 0; i < 2; ++i) {
      if (!detail::parse_uint32(fields.fields[i], i == 0 ? in : out)) {
        throw InputError(where + std::to_string(fields.columns[i]),
                         std::string(i == 0 ? "input_tokens" : "output_tokens") +
                             ": expected a token count, got '" + std::string(fields.fields[i]) + "'");
      }
    }
    if (inputs.size() == kMaxLengthPairs) {
      throw InputError(path, "more than " + std::to_string(kMaxLengthPairs) + " length pairs; sample the file down");
    }
    inputs.push_back(in);
    outputs.push_back(out);
  }
  if (inputs.empty()) throw InputError(path, "no length pairs after the header");
}

}  // namespace

// Stream of the random generator for token lengths (the reader's 2019 spreading uses its own streams).
constexpr std::uint64_t kLengthsStream = 0x6c656e67746873ULL;  // "lengths"

TraceSource::TraceSource(TraceSourceOptions options)
    : options_(std::move(options)), lengths_rng_(options_.seed, kLengthsStream) {
  const std::string& path = options_.path;
  if (!(options_.rate_scale > 0) || !std::isfinite(options_.rate_scale)) {
    throw InputError(path, "rate scale must be a positive number");
  }
  if (options_.start < 0) throw InputError(path, "window start must be non-negative");
  if (options_.duration && *options_.duration <= 0) throw InputError(path, "window duration must be positive");
  if (options_.mapping == ModelMapping::round_robin && options_.model_count == 0) {
    throw InputError(path, "round-robin mapping needs the number of deployed models");
  }
  if (!options_.input) options_.input = TraceInput::open(path);
  if (options_.format == nullptr) options_.format = &detect_trace_format(*options_.input);
  const TraceFormat& format = *options_.format;
  if (options_.lengths.kind == LengthsKind::trace && !format.has_token_lengths()) {
    throw InputError(path, "the " + std::string(format.name()) +
                               " format has no token-length columns: take lengths from a CSV of (input, output) "
                               "lengths or a preset");
  }
  if (options_.lengths.kind == LengthsKind::csv) {
    load_lengths_csv(options_.lengths.csv_path, csv_inputs_, csv_outputs_);
  }
  if (options_.lengths.kind == LengthsKind::sampler && !options_.lengths.sampler) {
    throw std::logic_error("LengthsKind::sampler without a sampler");
  }

  reader_ = open_trace_reader(options_.input, format, options_.reader);
  if (options_.mapping == ModelMapping::rank) {
    // Popularity within the selected window, so that a window's busiest function gets model 0. A reader
    // that knows its per-function totals saves the counting pass when the window is the whole trace.
    std::vector<std::uint64_t> counts;
    const bool whole_trace = options_.start == 0 && !options_.duration;
    if (const auto* totals = reader_->requests_per_key(); totals != nullptr && whole_trace) {
      counts = *totals;
    } else {
      auto counter = open_trace_reader(options_.input, format, options_.reader);
      TraceRecord r;
      while (counter->next(r)) {
        if (r.arrival < options_.start) continue;
        if (options_.duration && r.arrival - options_.start >= *options_.duration) break;
        if (r.key >= counts.size()) counts.resize(std::size_t{r.key} + 1, 0);
        ++counts[r.key];
      }
    }
    std::vector<std::uint32_t> order(counts.size());
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::uint32_t a, std::uint32_t b) { return counts[a] > counts[b]; });
    rank_of_key_.assign(counts.size(), 0);
    for (std::uint32_t rank = 0; rank < order.size(); ++rank) rank_of_key_[order[rank]] = rank;
  }
}

TraceSource::~TraceSource() = default;

std::uint64_t TraceSource::skipped_rows() const { return reader_->skipped_rows(); }
const std::string& TraceSource::first_skip_reason() const { return reader_->first_skip_reason(); }

std::uint32_t TraceSource::model_of(const TraceRecord& r) {
  const std::uint32_t models = options_.model_count;
  std::uint32_t index = 0;
  switch (options_.mapping) {
    case ModelMapping::round_robin:
      return static_cast<std::uint32_t>((rows_seen_ - 1) % models);
    case ModelMapping::trace:
      if (models != 0 && r.key >= models) {
        throw InputError(options_.path + ":" + std::to_string(r.line),
                         "model index " + std::to_string(r.key) + " is out of range: the scenario deploys " +
                             std::to_string(models) + " models");
      }
      return r.key;
    case ModelMapping::rank:
      if (r.key >= rank_of_key_.size()) throw std::logic_error("trace changed between the counting pass and replay");
      index = rank_of_key_[r.key];
      break;
    case ModelMapping::first_seen:
      index = r.key;
      break;
  }
  if (models == 0 || index < models) return index;
  return options_.extra_functions == ExtraFunctions::wrap ? index % models : kDropped;
}

void TraceSource::attach_lengths(const TraceRecord& r, RequestSpec& out) {
  switch (options_.lengths.kind) {
    case LengthsKind::trace:
      out.input_tokens = r.input_tokens;
      out.output_tokens = r.output_tokens;
      return;
    case LengthsKind::csv: {
      const std::size_t n = csv_inputs_.size();
      std::size_t i = 0;
      if (options_.lengths.order == LengthsOrder::cycle) {
        i = static_cast<std::size_t>(csv_cursor_++ % n);
      } else {
        i = static_cast<std::size_t>(lengths_rng_.uniform_int(0, n - 1));
      }
      out.input_tokens = csv_inputs_[i];
      out.output_tokens = csv_outputs_[i];
      return;
    }
    case LengthsKind::sampler: {
      const TokenLengths l = options_.lengths.sampler->sample(lengths_rng_);
      out.input_tokens = l.input;
      out.output_tokens = l.output;
      return;
    }
    case LengthsKind::none:
      out.input_tokens = 0;
      out.output_tokens = 0;
      return;
  }
}

Nanos TraceSource::replayed_arrival(Nanos offset, const TraceRecord& r) const {
  const double scaled = static_cast<double>(offset) / options_.rate_scale;
  // Checked before converting: a double beyond int64 converts to garbage (llround's result is
  // unspecified), which is how a long trace at rate_scale 1e-6 used to write nonsense arrivals.
  const bool too_late = options_.rate_scale == 1.0 ? offset > kMaxReplayedArrival
                                                    : !(scaled <= static_cast<double>(kMaxReplayedArrival));
  if (too_late) {
    char what[256];
    std::snprintf(what, sizeof what,
                  "arrival %.9g s after the window start, divided by rate_scale %g, is %.6g s: beyond the "
                  "simulator's clock (at most 2^62 ns, about 146 years); raise rate_scale or shorten the window",
                  to_seconds(offset), options_.rate_scale, scaled * 1e-9);
    throw InputError(options_.path + ":" + std::to_string(r.line), what);
  }
  return options_.rate_scale == 1.0 ? offset : static_cast<Nanos>(std::llround(scaled));
}

bool TraceSource::next(RequestSpec& out) {
  if (done_) return false;
  TraceRecord r;
  while (reader_->next(r)) {
    if (r.arrival < options_.start) continue;
    const Nanos offset = r.arrival - options_.start;
    if (options_.duration && offset >= *options_.duration) break;  // sorted: nothing later is inside
    ++rows_seen_;
    const std::uint32_t model = model_of(r);
    if (model == kDropped) {
      ++dropped_;
      continue;
    }
    out.arrival = replayed_arrival(offset, r);
    out.id = next_id_++;
    out.model = model;
    attach_lengths(r, out);
    return true;
  }
  done_ = true;
  if (report_skips_ && skipped_rows() > 0) {
    std::fprintf(stderr, "trace %s: skipped %llu bad rows (first: %s)\n", options_.path.c_str(),
                 static_cast<unsigned long long>(skipped_rows()), first_skip_reason().c_str());
  }
  return false;
}

TraceSourceOptions trace_source_options(const ConfigNode& workload, std::uint32_t model_count, std::uint64_t seed,
                                        bool lengths_optional) {
  TraceSourceOptions o;
  workload.get_enum("kind", {"trace"});
  o.model_count = model_count;
  o.seed = seed;
  o.reader.seed = seed;

  const auto relative_to_config = [&](const ConfigNode& node) {
    std::filesystem::path p(node.as_string());
    if (p.is_relative()) p = std::filesystem::path(workload.file()).parent_path() / p;
    // Refused here, not by the filesystem: a longer path made std::filesystem throw (exit status 1).
    if (p.string().size() >= PATH_MAX) {
      node.fail("path of " + std::to_string(p.string().size()) + " characters is longer than the system's limit (PATH_MAX " +
                std::to_string(PATH_MAX) + ")");
    }
    // Not only regular files: a pipe or /dev/stdin is read once (input.h). The error_code forms turn the
    // remaining system errors (a component over NAME_MAX, a permission) into this message.
    std::error_code ec;
    const bool exists = std::filesystem::exists(p, ec);
    if (ec || !exists || std::filesystem::is_directory(p, ec)) {
      node.fail("file '" + p.string() + "' not found" + (ec ? " (" + ec.message() + ")" : "") +
                " (paths are relative to the config file's directory)");
    }
    return p.string();
  };
  o.path = relative_to_config(workload.child("path"));

  const ConfigNode format_node = workload.has("format") ? workload.child("format") : workload.child("path");
  const std::string format = workload.has("format") ? format_node.as_string() : "auto";
  if (format != "auto") {
    try {
      o.format = &trace_format(format);
    } catch (const std::invalid_argument& e) {
      format_node.fail(std::string(e.what()) + " or 'auto'");
    }
  }
  o.input = TraceInput::open(o.path);
  if (o.format == nullptr) o.format = &detect_trace_format(*o.input);

  o.mapping = o.format->keys_are_model_indices() ? ModelMapping::trace : ModelMapping::rank;
  const auto parse_mapping = [](const ConfigNode& node) {
    const std::string by = node.as_enum({"rank", "first-seen", "round-robin", "trace"});
    if (by == "first-seen") return ModelMapping::first_seen;
    if (by == "round-robin") return ModelMapping::round_robin;
    if (by == "trace") return ModelMapping::trace;
    return ModelMapping::rank;
  };
  if (auto m = workload.optional_child("mapping")) {
    if (m->is_map()) {
      if (auto by = m->optional_child("by")) o.mapping = parse_mapping(*by);
      o.extra_functions = m->get_enum("extra_functions", {"wrap", "drop"}, "wrap") == "drop" ? ExtraFunctions::drop
                                                                                           : ExtraFunctions::wrap;
      m->finish();
    } else {
      o.mapping = parse_mapping(*m);
    }
  }

  if (auto l = workload.optional_child("lengths")) {
    if (l->is_scalar() && l->as_string() == "trace") {
      o.lengths.kind = LengthsKind::trace;
    } else if (l->is_map() && l->has("kind") && l->child("kind").is_scalar() &&
               l->child("kind").as_string() == "csv") {
      l->get_enum("kind", {"csv"});
      o.lengths.kind = LengthsKind::csv;
      o.lengths.csv_path = relative_to_config(l->child("path"));
      o.lengths.order = l->get_enum("order", {"sample", "cycle"}, "sample") == "cycle" ? LengthsOrder::cycle
                                                                                     : LengthsOrder::sample;
      l->finish();
    } else {
      // Presets and fixed/uniform lengths: the same forms as the synthetic workload's `lengths`.
      o.lengths.kind = LengthsKind::sampler;
      o.lengths.sampler = make_token_lengths(*l);
    }
  }
  if (o.lengths.kind == LengthsKind::trace && !o.format->has_token_lengths()) {
    if (lengths_optional && !workload.has("lengths")) {
      o.lengths.kind = LengthsKind::none;
    } else {
      workload.fail("the " + std::string(o.format->name()) +
                    " format has no token-length columns: set lengths to a preset (gsm8k, sharegpt), "
                    "{kind: fixed, ...} or {kind: csv, path: FILE}");
    }
  }

  o.rate_scale = workload.get_double("rate_scale", 1.0, 1e-6, 1e6);
  o.start = workload.get_duration("start", "0 s");
  if (auto d = workload.optional_child("duration")) {
    o.duration = d->as_duration();
    if (*o.duration <= 0) d->fail("duration must be positive");
  }
  o.reader.skip_bad_rows = workload.get_bool("skip_bad_rows", false);
  o.reader.spread = workload.get_enum("spread", {"poisson", "uniform"}, "poisson") == "uniform"
                        ? MinuteSpread::uniform
                        : MinuteSpread::poisson;
  o.reader.reorder_window = workload.get_duration("reorder_window", "60 s");
  if (o.mapping == ModelMapping::round_robin && model_count == 0) {
    workload.fail("round-robin mapping needs at least one deployed model");
  }
  workload.finish();
  return o;
}

std::unique_ptr<RequestSource> make_trace_source(const ConfigNode& workload, std::uint32_t model_count,
                                                 std::uint64_t seed) {
  auto source = std::make_unique<TraceSource>(trace_source_options(workload, model_count, seed));
  source->report_skips_at_end(true);
  return source;
}

}  // namespace sllm::traces
