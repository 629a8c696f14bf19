#include "sllm/sim/outputs.h"

#include <zstd.h>

#include "sllm/core/error.h"
#include "sllm/sim/metrics.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>

namespace sllm {
namespace {

void append(std::vector<char>& buf, std::string_view s) { buf.insert(buf.end(), s.begin(), s.end()); }

void append_uint(std::vector<char>& buf, std::uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) buf.push_back(tmp[--n]);
}

// Exact seconds with nanosecond resolution: integer arithmetic, so output is byte-stable.
void append_seconds(std::vector<char>& buf, Nanos t) {
  if (t < 0) {
    buf.push_back('-');
    t = -t;
  }
  append_uint(buf, static_cast<std::uint64_t>(t / kNanosPerSecond));
  buf.push_back('.');
  const auto frac = static_cast<std::uint64_t>(t % kNanosPerSecond);
  char digits[9];
  std::uint64_t f = frac;
  for (int i = 8; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + f % 10);
    f /= 10;
  }
  buf.insert(buf.end(), digits, digits + 9);
}

void append_time_or_empty(std::vector<char>& buf, Nanos t) {
  if (t >= 0) append_seconds(buf, t);
}

// requests.csv, one column per entry: the header and every row come from this table.
struct RequestColumn {
  std::string_view name;
  void (*write)(std::vector<char>& b, const RequestState& r, const ClusterState& state);
};
void write_gpus(std::vector<char>& b, const RequestState& r, const ClusterState& state) {
  if (r.instance == kNone) return;
  const auto& gpus = state.instances[r.instance].gpus;
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    if (i) b.push_back('+');
    append_uint(b, gpus[i]);
  }
}
void write_since_arrival(std::vector<char>& b, const RequestState& r, Nanos t) {
  if (t >= 0) append_seconds(b, t - r.spec.arrival);
}
#define SLLM_COLUMN(name, body) \
  RequestColumn { name, [](std::vector<char>& b, const RequestState& r, [[maybe_unused]] const ClusterState& state) { body; } }
const RequestColumn kRequestColumns[] = {
    SLLM_COLUMN("id", append_uint(b, r.spec.id)),
    SLLM_COLUMN("model", append(b, state.scenario().models[r.spec.model].name)),
    SLLM_COLUMN("arrival_s", append_seconds(b, r.spec.arrival)),
    SLLM_COLUMN("service_start_s", append_time_or_empty(b, r.service_start)),
    SLLM_COLUMN("first_token_s", append_time_or_empty(b, r.first_token)),
    SLLM_COLUMN("completion_s", append_time_or_empty(b, r.completion)),
    SLLM_COLUMN("input_tokens", append_uint(b, r.spec.input_tokens)),
    SLLM_COLUMN("output_tokens", append_uint(b, r.spec.output_tokens)),
    SLLM_COLUMN("server", if (r.server != kNone) append_uint(b, r.server)),
    SLLM_COLUMN("gpus", write_gpus(b, r, state)),
    SLLM_COLUMN("cold_start", b.push_back(r.cold_start ? '1' : '0')),
    SLLM_COLUMN("load_tier", if (r.cold_start) append(b, to_string(r.tier))),
    SLLM_COLUMN("load_time_s", if (r.cold_start) append_seconds(b, r.load_time)),
    SLLM_COLUMN("queueing_s", write_since_arrival(b, r, r.service_start)),
    SLLM_COLUMN("latency_s", write_since_arrival(b, r, r.completion)),
    SLLM_COLUMN("ttft_s", write_since_arrival(b, r, r.first_token)),
    SLLM_COLUMN("outcome", append(b, to_string(r.outcome))),
    SLLM_COLUMN("preemptions", append_uint(b, r.preemptions)),
    SLLM_COLUMN("lost_tokens", append_uint(b, r.lost_tokens)),
    SLLM_COLUMN("migrations", append_uint(b, r.migrations)),
    SLLM_COLUMN("migration_rounds", append_uint(b, r.migration_rounds)),
    SLLM_COLUMN("migration_tokens", append_uint(b, r.migration_tokens)),
    SLLM_COLUMN("migration_pause_s", append_seconds(b, r.migration_pause)),
};
#undef SLLM_COLUMN

// Does a completed request meet its model's SLO targets?
bool meets_slo(const RequestState& r, const SloTargets& t) {
  if (r.outcome != Outcome::kCompleted) return false;
  if (t.ttft > 0 && r.first_token - r.spec.arrival > t.ttft) return false;
  if (t.latency > 0 && r.completion - r.spec.arrival > t.latency) return false;
  if (t.tpot > 0 && r.spec.output_tokens > 1 &&
      (r.completion - r.first_token) > t.tpot * static_cast<Nanos>(r.spec.output_tokens - 1)) {
    return false;
  }
  return true;
}

}  // namespace

Distribution summarize(std::vector<double>& values) {
  Distribution d;
  d.count = values.size();
  if (values.empty()) return d;
  double sum = 0;
  for (double v : values) sum += v;  // in recording order: deterministic
  d.mean = sum / static_cast<double>(values.size());
  // Exact nearest-rank percentiles by selection (O(n)): the value at rank ceil(p n). Selecting in
  // increasing rank order lets each search start where the previous one ended.
  const auto index = [&](double p) {
    const auto k = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
    return std::clamp<std::size_t>(k, 1, values.size()) - 1;
  };
  auto begin = values.begin();
  for (auto [p, out] : {std::pair{0.50, &d.p50}, std::pair{0.90, &d.p90}, std::pair{0.99, &d.p99}}) {
    const auto nth = values.begin() + static_cast<std::ptrdiff_t>(index(p));
    std::nth_element(begin, nth, values.end());
    *out = *nth;
    begin = nth;
  }
  d.max = *std::max_element(begin, values.end());
  return d;
}

RequestRecorder::~RequestRecorder() {
  if (csv_ != nullptr) std::fclose(csv_);
}

void RequestRecorder::open_csv(const std::string& dir, bool zstd) {
  std::filesystem::create_directories(dir);
  dir_ = dir;
  name_ = zstd ? "requests.csv.zst" : "requests.csv";
  const std::string tmp = (std::filesystem::path(dir) / (name_ + ".tmp")).string();
  csv_ = std::fopen(tmp.c_str(), "wb");
  if (csv_ == nullptr) throw std::runtime_error("cannot open " + tmp + ": " + std::strerror(errno));
  if (zstd) {
    zstd_ = std::shared_ptr<void>(ZSTD_createCCtx(), [](void* c) { ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(c)); });
    if (zstd_ == nullptr) throw std::runtime_error("zstd: cannot create a compression context");
    compressed_.resize(ZSTD_CStreamOutSize());
  }
  buffer_.reserve(1 << 20);
  for (const RequestColumn& c : kRequestColumns) {
    if (&c != kRequestColumns) buffer_.push_back(',');
    append(buffer_, c.name);
  }
  buffer_.push_back('\n');
}

void RequestRecorder::write_out(bool last) {
  const auto fail = [&] { throw std::runtime_error("writing " + name_ + " failed: " + std::string(std::strerror(errno))); };
  if (zstd_ == nullptr) {
    if (!buffer_.empty() && std::fwrite(buffer_.data(), 1, buffer_.size(), csv_) != buffer_.size()) fail();
    buffer_.clear();
    return;
  }
  auto* cctx = static_cast<ZSTD_CCtx*>(zstd_.get());
  ZSTD_inBuffer in{buffer_.data(), buffer_.size(), 0};
  for (;;) {
    ZSTD_outBuffer out{compressed_.data(), compressed_.size(), 0};
    const std::size_t left = ZSTD_compressStream2(cctx, &out, &in, last ? ZSTD_e_end : ZSTD_e_continue);
    if (ZSTD_isError(left)) throw std::runtime_error("zstd: " + std::string(ZSTD_getErrorName(left)));
    if (out.pos > 0 && std::fwrite(compressed_.data(), 1, out.pos, csv_) != out.pos) fail();
    if (last ? left == 0 : in.pos == in.size) break;
  }
  buffer_.clear();
}

constexpr std::uint64_t kMaxRequestsCsvBytes = 16ull << 30;

std::string read_requests_csv(const std::string& dir) {
  const std::filesystem::path plain = std::filesystem::path(dir) / "requests.csv";
  const std::filesystem::path packed = std::filesystem::path(dir) / "requests.csv.zst";
  const bool has_plain = std::filesystem::exists(plain), has_packed = std::filesystem::exists(packed);
  if (has_plain == has_packed) {
    throw InputError(dir, has_plain ? "holds both requests.csv and requests.csv.zst"
                                    : "holds no requests.csv or requests.csv.zst");
  }
  // A whole file in memory: this is for tests and tools comparing runs, not for multi-GB outputs.
  const std::string text = read_file_limited((has_plain ? plain : packed).string(), kMaxRequestsCsvBytes, "requests.csv");
  if (has_plain) return text;
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), &ZSTD_freeDCtx);
  std::string out;
  std::vector<char> chunk(ZSTD_DStreamOutSize());
  ZSTD_inBuffer in{text.data(), text.size(), 0};
  std::size_t left = 0;
  for (;;) {
    ZSTD_outBuffer o{chunk.data(), chunk.size(), 0};
    left = ZSTD_decompressStream(dctx.get(), &o, &in);
    if (ZSTD_isError(left)) throw InputError(packed.string(), "not a valid zstd stream: " + std::string(ZSTD_getErrorName(left)));
    out.append(chunk.data(), o.pos);
    if (in.pos == in.size && o.pos < o.size) break;  // all input read and nothing more held back
  }
  if (left != 0) throw InputError(packed.string(), "truncated zstd stream");
  return out;
}

void RequestRecorder::record(const RequestState& r, const ClusterState& state) {
  const Nanos arrival = r.spec.arrival;
  const double timeout = to_seconds(state.scenario().simulation.request_timeout);
  switch (r.outcome) {
    case Outcome::kCompleted: {
      ++completed_;
      latency_.push_back(to_seconds(r.completion - arrival));
      ttft_.push_back(to_seconds(r.first_token - arrival));
      latency_censored_.push_back(latency_.back());
      ttft_censored_.push_back(ttft_.back());
      queueing_.push_back(to_seconds(r.service_start - arrival));
      if (r.spec.output_tokens > 1) {
        tpot_.push_back(to_seconds(r.completion - r.first_token) / (r.spec.output_tokens - 1));
      }
      if (r.cold_start) {
        ++cold_;
        load_time_.push_back(to_seconds(r.load_time));
      }
      if (meets_slo(r, state.scenario().slo.per_model[r.spec.model])) ++slo_met_;
      break;
    }
    case Outcome::kTimedOut:
      ++timed_out_;
      latency_censored_.push_back(timeout);
      ttft_censored_.push_back(timeout);
      break;
    case Outcome::kRejected:
      ++rejected_;
      latency_censored_.push_back(timeout);
      ttft_censored_.push_back(timeout);
      break;
    case Outcome::kFailed:
      ++failed_;
      latency_censored_.push_back(timeout);
      ttft_censored_.push_back(timeout);
      break;
    case Outcome::kPending: break;
  }
  if (csv_ == nullptr) return;
  std::vector<char>& b = buffer_;
  for (const RequestColumn& c : kRequestColumns) {
    if (&c != kRequestColumns) b.push_back(',');
    c.write(b, r, state);
  }
  b.push_back('\n');
  if (b.size() > (1u << 20) - 512) write_out(false);
}

void RequestRecorder::finish(RunSummary& s, const Scenario& scenario) {
  s.completed = completed_;
  s.timed_out = timed_out_;
  s.rejected = rejected_;
  s.failed = failed_;
  s.cold_starts = cold_;
  s.latency = summarize(latency_);
  s.ttft = summarize(ttft_);
  s.tpot = summarize(tpot_);
  s.queueing = summarize(queueing_);
  s.load_time = summarize(load_time_);
  s.migration_pause = summarize(migration_pause_);
  s.latency_censored = summarize(latency_censored_);
  s.ttft_censored = summarize(ttft_censored_);
  s.request_timeout = scenario.simulation.request_timeout;
  s.slo_met = slo_met_;
  s.slo_targets_set = scenario.slo.global.any();
  for (const SloTargets& t : scenario.slo.per_model) s.slo_targets_set = s.slo_targets_set || t.any();
}

void RequestRecorder::commit() {
  if (csv_ == nullptr) return;
  write_out(true);
  if (std::fclose(csv_) != 0) throw std::runtime_error("closing " + name_ + " failed");
  csv_ = nullptr;
  std::filesystem::rename(std::filesystem::path(dir_) / (name_ + ".tmp"), std::filesystem::path(dir_) / name_);
}

double RunSummary::slo_attainment() const {
  return arrived > 0 ? static_cast<double>(slo_met) / static_cast<double>(arrived) : 0.0;
}

double RunSummary::goodput() const {
  const double span = to_seconds(makespan);
  return span > 0 ? static_cast<double>(slo_met) / span : 0.0;
}

namespace {

std::string json_value(const Metric& m, const RunSummary& s) {
  if (m.kind == Metric::Kind::kText) return json_quoted(metric_text(m, s));
  if (m.kind == Metric::Kind::kReal && !std::isfinite(m.real(s))) return "null";
  return metric_text(m, s);
}

// Key `depth` of a metric's JSON path ("" past its end).
std::string_view path_part(std::string_view path, std::size_t depth) {
  for (std::size_t d = 0; d < depth; ++d) {
    const std::size_t dot = path.find('.');
    if (dot == std::string_view::npos) return {};
    path.remove_prefix(dot + 1);
  }
  return path.substr(0, path.find('.'));
}

bool is_leaf(std::string_view path, std::size_t depth) { return path_part(path, depth + 1).empty(); }

// Writes metrics [begin, end), which share their first `depth` keys, as the members of one object:
// top-level members one per line, nested objects on the line of their key.
void write_members(std::ostringstream& o, const std::vector<const Metric*>& ms, std::size_t begin, std::size_t end,
                   std::size_t depth, const RunSummary& s) {
  bool first = true;
  for (std::size_t i = begin; i < end;) {
    const std::string_view key = path_part(ms[i]->json, depth);
    std::size_t j = i + 1;
    while (j < end && path_part(ms[j]->json, depth) == key) ++j;
    if (!first) o << (depth == 0 ? ",\n" : ", ");
    if (depth == 0) o << "  ";
    o << '"' << key << "\": ";
    if (j == i + 1 && is_leaf(ms[i]->json, depth)) {
      o << json_value(*ms[i], s);
    } else {
      o << '{';
      write_members(o, ms, i, j, depth + 1, s);
      o << '}';
    }
    first = false;
    i = j;
  }
}

}  // namespace

std::string RunSummary::to_json(bool timing) const {
  std::vector<const Metric*> shown;
  for (const Metric& m : metrics()) {
    if (!m.timing || timing) shown.push_back(&m);
  }
  std::ostringstream o;
  o << "{\n";
  write_members(o, shown, 0, shown.size(), 0, *this);
  o << "\n}\n";
  return o.str();
}

void RunSummary::print_table(std::ostream& out) const {
  const auto v = [&](std::string_view name) { return metric_value(name, *this); };
  const auto n = [&](std::string_view name) { return metric_text(metric(name), *this); };
  const auto row = [&](const char* label, std::string_view base) {
    const std::string b(base);
    out << "  " << std::left << std::setw(26) << label << std::right << std::fixed << std::setprecision(3);
    for (const char* stat : {"_mean_s", "_p50_s", "_p90_s", "_p99_s", "_max_s"}) out << std::setw(10) << v(b + stat);
    out << "\n";
  };
  out << "policy " << policy << ", " << n("servers") << " servers, " << n("gpus") << " GPUs, " << n("models")
      << " models, seed " << seed << "\n";
  out << "requests: " << n("arrived") << " arrived, " << n("completed") << " completed, " << n("timed_out")
      << " timed out, " << n("rejected") << " rejected, " << n("running") << " running\n";
  out << std::fixed << std::setprecision(1) << "SLO attainment: " << 100 * v("slo_attainment") << "% of arrived ("
      << n("slo_met") << (slo_targets_set ? " met every target" : " completed; no SLO target set") << "); goodput "
      << std::setprecision(3) << v("goodput_rps") << " req/s\n";
  out << "cold starts: " << n("cold_starts") << " (" << std::setprecision(1) << 100 * v("cold_start_ratio")
      << "% of completed); loads: " << n("loads") << " (remote " << n("loads_remote") << ", ssd " << n("loads_ssd")
      << ", dram " << n("loads_dram") << ")\n";
  if (preemptions > 0 || migrations_started > 0 || prewarms > 0) {
    out << "preemptions: " << n("preemptions") << " (" << n("lost_tokens") << " tokens lost); migrations: "
        << n("migrations_started") << " started, " << n("migrations_completed") << " completed, "
        << n("migrations_dropped") << " dropped; pre-warms: " << n("prewarms") << "\n";
  }
  if (faults > 0) {  // a request lost to a fault counts in the (*) rows as a timed-out one does
    out << "faults: " << n("faults") << " (" << n("fault_restarts") << " requests restarted, " << n("failed")
        << " lost, " << n("loads_failed") << " loads failed); servers down " << std::setprecision(1)
        << v("server_down_s") << " s; GPU availability " << std::setprecision(3) << 100 * v("gpu_availability")
        << "%\n";
  }
  out << "  seconds                         mean       p50       p90       p99       max\n";
  row("latency, all arrived (*)", "latency_all_censored");
  row("ttft, all arrived (*)", "ttft_all_censored");
  row("latency, completed", "latency_completed");
  row("ttft, completed", "ttft_completed");
  row("tpot, completed", "tpot_completed");
  row("queueing, completed", "queueing_completed");
  out << std::setprecision(0) << "  (*) a timed-out" << (faults > 0 ? ", rejected or failed" : " or rejected")
      << " request counts as the request timeout ("
      << v("request_timeout_s") << " s)\n";
  out << std::setprecision(1) << "GPU utilisation: allocated " << 100 * v("gpu_allocated") << "%, busy "
      << 100 * v("gpu_busy") << "%; makespan " << v("makespan_s") << " s\n";
  out << n("events") << " events in " << std::setprecision(3) << wall_seconds << " s wall (" << std::setprecision(0)
      << (wall_seconds > 0 ? static_cast<double>(events) / wall_seconds : 0.0) << " events/s)\n";
  out.unsetf(std::ios::floatfield);
}

}  // namespace sllm
