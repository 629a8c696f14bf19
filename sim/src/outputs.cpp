#include "sllm/sim/outputs.h"

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

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream out;
  out << std::setprecision(9) << v;
  return out.str();
}

std::string json_distribution(const Distribution& d) {
  std::ostringstream out;
  out << "{\"count\": " << d.count << ", \"mean\": " << json_number(d.mean) << ", \"p50\": " << json_number(d.p50)
      << ", \"p90\": " << json_number(d.p90) << ", \"p99\": " << json_number(d.p99)
      << ", \"max\": " << json_number(d.max) << "}";
  return out.str();
}

constexpr const char* kCsvHeader =
    "id,model,arrival_s,service_start_s,first_token_s,completion_s,input_tokens,output_tokens,server,gpus,"
    "cold_start,load_tier,load_time_s,queueing_s,latency_s,ttft_s,outcome,preemptions,lost_tokens,migrations,"
    "migration_rounds,migration_tokens,migration_pause_s\n";

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

void RequestRecorder::open_csv(const std::string& dir) {
  std::filesystem::create_directories(dir);
  dir_ = dir;
  const std::string tmp = (std::filesystem::path(dir) / "requests.csv.tmp").string();
  csv_ = std::fopen(tmp.c_str(), "wb");
  if (csv_ == nullptr) throw std::runtime_error("cannot open " + tmp + ": " + std::strerror(errno));
  buffer_.reserve(1 << 20);
  append(buffer_, kCsvHeader);
}

void RequestRecorder::record(const RequestState& r, const ClusterState& state) {
  const Nanos arrival = r.spec.arrival;
  switch (r.outcome) {
    case Outcome::kCompleted: {
      ++completed_;
      latency_.push_back(to_seconds(r.completion - arrival));
      ttft_.push_back(to_seconds(r.first_token - arrival));
      queueing_.push_back(to_seconds(r.service_start - arrival));
      if (r.spec.output_tokens > 1) {
        tpot_.push_back(to_seconds(r.completion - r.first_token) / (r.spec.output_tokens - 1));
      }
      if (r.cold_start) {
        ++cold_;
        load_time_.push_back(to_seconds(r.load_time));
      }
      break;
    }
    case Outcome::kTimedOut: ++timed_out_; break;
    case Outcome::kRejected: ++rejected_; break;
    case Outcome::kPending: break;
  }
  if (csv_ == nullptr) return;
  std::vector<char>& b = buffer_;
  append_uint(b, r.spec.id);
  b.push_back(',');
  append(b, state.scenario().models[r.spec.model].name);
  b.push_back(',');
  append_seconds(b, arrival);
  b.push_back(',');
  append_time_or_empty(b, r.service_start);
  b.push_back(',');
  append_time_or_empty(b, r.first_token);
  b.push_back(',');
  append_time_or_empty(b, r.completion);
  b.push_back(',');
  append_uint(b, r.spec.input_tokens);
  b.push_back(',');
  append_uint(b, r.spec.output_tokens);
  b.push_back(',');
  if (r.server != kNone) append_uint(b, r.server);
  b.push_back(',');
  if (r.instance != kNone) {
    const auto& gpus = state.instances[r.instance].gpus;
    for (std::size_t i = 0; i < gpus.size(); ++i) {
      if (i) b.push_back('+');
      append_uint(b, gpus[i]);
    }
  }
  b.push_back(',');
  b.push_back(r.cold_start ? '1' : '0');
  b.push_back(',');
  if (r.cold_start) append(b, to_string(r.tier));
  b.push_back(',');
  if (r.cold_start) append_seconds(b, r.load_time);
  b.push_back(',');
  if (r.service_start >= 0) append_seconds(b, r.service_start - arrival);
  b.push_back(',');
  if (r.completion >= 0) append_seconds(b, r.completion - arrival);
  b.push_back(',');
  if (r.first_token >= 0) append_seconds(b, r.first_token - arrival);
  b.push_back(',');
  append(b, to_string(r.outcome));
  b.push_back(',');
  append_uint(b, r.preemptions);
  b.push_back(',');
  append_uint(b, r.lost_tokens);
  b.push_back(',');
  append_uint(b, r.migrations);
  b.push_back(',');
  append_uint(b, r.migration_rounds);
  b.push_back(',');
  append_uint(b, r.migration_tokens);
  b.push_back(',');
  append_seconds(b, r.migration_pause);
  b.push_back('\n');
  if (b.size() > (1u << 20) - 512) {
    if (std::fwrite(b.data(), 1, b.size(), csv_) != b.size()) throw std::runtime_error("writing requests.csv failed");
    b.clear();
  }
}

void RequestRecorder::finish(RunSummary& s) {
  s.completed = completed_;
  s.timed_out = timed_out_;
  s.rejected = rejected_;
  s.cold_starts = cold_;
  s.latency = summarize(latency_);
  s.ttft = summarize(ttft_);
  s.tpot = summarize(tpot_);
  s.queueing = summarize(queueing_);
  s.load_time = summarize(load_time_);
  s.migration_pause = summarize(migration_pause_);
}

void RequestRecorder::commit() {
  if (csv_ == nullptr) return;
  if (!buffer_.empty() && std::fwrite(buffer_.data(), 1, buffer_.size(), csv_) != buffer_.size()) {
    throw std::runtime_error("writing requests.csv failed");
  }
  buffer_.clear();
  if (std::fclose(csv_) != 0) throw std::runtime_error("closing requests.csv failed");
  csv_ = nullptr;
  std::filesystem::rename(std::filesystem::path(dir_) / "requests.csv.tmp", std::filesystem::path(dir_) / "requests.csv");
}

std::string RunSummary::to_json(bool timing) const {
  std::ostringstream o;
  char fp[17];
  std::snprintf(fp, sizeof fp, "%016llx", static_cast<unsigned long long>(fingerprint));
  const double served = static_cast<double>(completed);
  o << "{\n"
    << "  \"policy\": \"" << policy << "\",\n"
    << "  \"seed\": " << seed << ",\n"
    << "  \"cluster\": {\"servers\": " << servers << ", \"gpus\": " << gpus << ", \"models\": " << models << "},\n"
    << "  \"requests\": {\"arrived\": " << arrived << ", \"completed\": " << completed << ", \"timed_out\": "
    << timed_out << ", \"rejected\": " << rejected << ", \"running\": " << running << "},\n"
    << "  \"cold_starts\": " << cold_starts << ",\n"
    << "  \"cold_start_ratio\": " << json_number(served > 0 ? static_cast<double>(cold_starts) / served : 0) << ",\n"
    << "  \"loads\": {\"total\": " << loads << ", \"remote\": " << loads_by_tier[0] << ", \"ssd\": " << loads_by_tier[1]
    << ", \"dram\": " << loads_by_tier[2] << "},\n"
    << "  \"preemptions\": " << preemptions << ",\n"
    << "  \"lost_tokens\": " << lost_tokens << ",\n"
    << "  \"migrations\": {\"started\": " << migrations_started << ", \"completed\": " << migrations_completed
    << ", \"dropped\": " << migrations_dropped << ", \"rounds\": " << migration_rounds
    << ", \"tokens_sent\": " << migration_tokens << ", \"pause_s\": " << json_distribution(migration_pause)
    << "},\n"
    << "  \"prewarms\": " << prewarms << ",\n"
    << "  \"latency_s\": " << json_distribution(latency) << ",\n"
    << "  \"ttft_s\": " << json_distribution(ttft) << ",\n"
    << "  \"tpot_s\": " << json_distribution(tpot) << ",\n"
    << "  \"queueing_s\": " << json_distribution(queueing) << ",\n"
    << "  \"cold_start_load_time_s\": " << json_distribution(load_time) << ",\n"
    << "  \"gpu_utilisation\": {\"allocated\": " << json_number(gpu_allocated_fraction)
    << ", \"busy\": " << json_number(gpu_busy_fraction) << "},\n"
    << "  \"makespan_s\": " << json_number(to_seconds(makespan)) << ",\n"
    << "  \"events\": " << events << ",\n";
  if (timing) {
    o << "  \"wall_time_s\": " << json_number(wall_seconds) << ",\n"
      << "  \"events_per_s\": " << json_number(wall_seconds > 0 ? static_cast<double>(events) / wall_seconds : 0)
      << ",\n";
  }
  o << "  \"fingerprint\": \"" << fp << "\"\n"
    << "}\n";
  return o.str();
}

void RunSummary::print_table(std::ostream& out) const {
  const auto row = [&](const char* name, const Distribution& d) {
    out << "  " << std::left << std::setw(14) << name << std::right << std::fixed << std::setprecision(3)
        << std::setw(10) << d.mean << std::setw(10) << d.p50 << std::setw(10) << d.p90 << std::setw(10) << d.p99
        << std::setw(10) << d.max << "\n";
  };
  out << "policy " << policy << ", " << servers << " servers, " << gpus << " GPUs, " << models << " models, seed "
      << seed << "\n";
  out << "requests: " << arrived << " arrived, " << completed << " completed, " << timed_out << " timed out, "
      << rejected << " rejected, " << running << " running\n";
  out << "cold starts: " << cold_starts << " (" << std::fixed << std::setprecision(1)
      << (completed ? 100.0 * static_cast<double>(cold_starts) / static_cast<double>(completed) : 0.0)
      << "% of completed); loads: " << loads << " (remote " << loads_by_tier[0] << ", ssd " << loads_by_tier[1]
      << ", dram " << loads_by_tier[2] << ")\n";
  if (preemptions > 0 || migrations_started > 0 || prewarms > 0) {
    out << "preemptions: " << preemptions << " (" << lost_tokens << " tokens lost); migrations: "
        << migrations_started << " started, " << migrations_completed << " completed, " << migrations_dropped
        << " dropped; pre-warms: " << prewarms << "\n";
  }
  out << "  seconds           mean       p50       p90       p99       max\n";
  row("latency", latency);
  row("ttft", ttft);
  row("tpot", tpot);
  row("queueing", queueing);
  out << std::setprecision(1) << "GPU utilisation: allocated " << 100 * gpu_allocated_fraction << "%, busy "
      << 100 * gpu_busy_fraction << "%; makespan " << std::setprecision(1) << to_seconds(makespan) << " s\n";
  out << events << " events in " << std::setprecision(3) << wall_seconds << " s wall ("
      << std::setprecision(0) << (wall_seconds > 0 ? static_cast<double>(events) / wall_seconds : 0.0)
      << " events/s)\n";
  out.unsetf(std::ios::floatfield);
}

}  // namespace sllm
