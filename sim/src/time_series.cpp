#include "time_series.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "sllm/core/files.h"

namespace sllm {

namespace {

template <class... Args>
void put(std::string& out, const char* fmt, Args... args) {
  char buf[256];
  const int n = std::snprintf(buf, sizeof buf, fmt, args...);
  out.append(buf, static_cast<std::size_t>(std::min<int>(n, sizeof buf - 1)));
}

// "server3.pcie.gpu1" -> "pcie.gpu": links of one kind across servers and GPUs share a class.
std::string link_class(const std::string& name) {
  std::string c = name;
  if (c.rfind("server", 0) == 0) {
    const auto dot = c.find('.');
    if (dot != std::string::npos) c.erase(0, dot + 1);
  }
  while (!c.empty() && c.back() >= '0' && c.back() <= '9') c.pop_back();
  return c;
}

// Per-model columns only while the table stays readable.
constexpr std::size_t kMaxModelColumns = 16;

}  // namespace

TimeSeriesRecorder::TimeSeriesRecorder(const ClusterState& state, const TimeSeriesSpec& spec)
    : st_(state), spec_(spec), models_(state.models.size()), servers_(state.servers.size()) {
  const Topology& topo = state.topology();
  for (LinkId l = 0; l < topo.link_count(); ++l) {
    const std::string c = link_class(topo.link(l).name);
    auto it = std::find(link_class_names_.begin(), link_class_names_.end(), c);
    if (it == link_class_names_.end()) {
      link_class_names_.push_back(c);
      class_capacity_.push_back(0);
      it = link_class_names_.end() - 1;
    }
    const auto k = static_cast<std::uint32_t>(it - link_class_names_.begin());
    link_class_.push_back(k);
    class_capacity_[k] += topo.link(l).bandwidth;
  }
  class_rate_.assign(link_class_names_.size(), 0.0);
  per_model_columns_ = state.models.size() <= kMaxModelColumns;
  csv_ = "time_s,arrived,completed,timed_out,rejected,queued,running,gpus_allocated,gpus_busy,"
         "loads_remote,loads_ssd,loads_dram";
  if (per_model_columns_) {
    for (const ModelRuntime& m : state.models) csv_ += ",queued:" + m.deployed->name;
  }
  for (const std::string& c : link_class_names_) csv_ += ",util:" + c;
  csv_ += '\n';
}

void TimeSeriesRecorder::on_arrival(const RequestState& r, Nanos) {
  ++arrived_;
  ++models_[r.spec.model].arrived;
}

void TimeSeriesRecorder::on_request_finished(const RequestState& r, Nanos) {
  ModelTotals& m = models_[r.spec.model];
  switch (r.outcome) {
    case Outcome::kCompleted:
      ++completed_;
      ++m.completed;
      m.ttft.push_back(to_seconds(r.first_token - r.spec.arrival));
      if (r.cold_start) ++m.cold_start_requests;
      break;
    case Outcome::kTimedOut:
      ++timed_out_;
      ++m.timed_out;
      break;
    case Outcome::kRejected:
      ++rejected_;
      ++m.rejected;
      break;
    case Outcome::kFailed: break;  // lost to a fault: in summary.json (requests.failed), not a column here
    case Outcome::kPending: break;
  }
}

void TimeSeriesRecorder::on_load_finished(const Load& load, Nanos) {
  ++models_[load.model].loads;
  ServerTotals& s = servers_[load.server];
  if (load.tier != Tier::kWarm) ++s.loads[static_cast<int>(load.tier)];
  s.bytes_loaded += load.bytes;
}

void TimeSeriesRecorder::close_span(const Instance& inst, GpuPhase next, Nanos now) {
  const PhaseTracker::Span span = phases_.change(inst, next, now);
  if (is_busy(span.phase)) {
    servers_[inst.server].busy_gpu_ns += static_cast<double>(span.end - span.start) * static_cast<double>(inst.gpus.size());
  }
}

void TimeSeriesRecorder::advance_to(Nanos t) {
  while (next_row_ < t) {
    write_row(next_row_);
    next_row_ += spec_.interval;
  }
}

void TimeSeriesRecorder::write_row(Nanos t) {
  std::uint64_t queued = 0, running = 0;
  for (const ModelRuntime& m : st_.models) {
    queued += m.queued_live;
    running += m.in_service;
  }
  std::uint32_t busy = 0;
  std::uint32_t loads[3] = {};
  for (const Instance& inst : st_.instances) {
    if (!inst.alive()) continue;
    if (inst.busy) busy += static_cast<std::uint32_t>(inst.gpus.size());
    if (inst.state == InstanceState::kLoading && inst.load != kNone) ++loads[static_cast<int>(inst.loaded_from)];
  }
  const GpuAccounting& gpus = st_.gpu_accounting;
  const std::uint32_t allocated = gpus.total() - gpus.free_total() - gpus.down_total();  // out of service: not held
  put(csv_, "%.3f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%u,%u,%u,%u,%u",
      to_seconds(t), arrived_, completed_, timed_out_, rejected_, queued, running, allocated, busy, loads[0], loads[1],
      loads[2]);
  if (per_model_columns_) {
    for (const ModelRuntime& m : st_.models) put(csv_, ",%u", m.queued_live);
  }
  std::fill(class_rate_.begin(), class_rate_.end(), 0.0);
  if (flows_ != nullptr) {
    for (LinkId l = 0; l < link_class_.size(); ++l) class_rate_[link_class_[l]] += flows_->link_rate(l);
  }
  for (std::size_t k = 0; k < class_rate_.size(); ++k) {
    put(csv_, ",%.4f", class_capacity_[k] > 0 ? class_rate_[k] / class_capacity_[k] : 0.0);
  }
  csv_ += '\n';
}

double TimeSeriesRecorder::quantile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
  const std::size_t k = std::min(values.size() - 1, rank == 0 ? 0 : rank - 1);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

void TimeSeriesRecorder::finish(Nanos end, const std::string& dir) {
  advance_to(end + 1);  // rows up to and including `end`
  if ((end % spec_.interval) != 0) write_row(end);  // the state at the end of the run
  for (const Instance& inst : st_.instances) {
    if (inst.alive()) close_span(inst, GpuPhase::kOff, end);
  }
  write_file_atomically(dir, "timeseries.csv", csv_);

  std::string models = "model,arrived,completed,timed_out,rejected,loads,cold_start_requests,ttft_p50_s,ttft_p99_s\n";
  for (std::size_t i = 0; i < models_.size(); ++i) {
    ModelTotals& m = models_[i];
    const double p50 = quantile(m.ttft, 0.50);
    const double p99 = quantile(m.ttft, 0.99);
    models += st_.models[i].deployed->name;
    put(models, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.6f,%.6f\n", m.arrived,
        m.completed, m.timed_out, m.rejected, m.loads, m.cold_start_requests, p50, p99);
  }
  write_file_atomically(dir, "models.csv", models);

  std::string servers = "server,gpus,loads_remote,loads_ssd,loads_dram,bytes_loaded,gpu_busy_share\n";
  for (std::size_t s = 0; s < servers_.size(); ++s) {
    const ServerTotals& t = servers_[s];
    const double span = static_cast<double>(end) * st_.gpu_accounting.total(static_cast<ServerId>(s));
    put(servers, "%zu,%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.6f\n", s,
        st_.gpu_accounting.total(static_cast<ServerId>(s)), t.loads[0], t.loads[1], t.loads[2], t.bytes_loaded,
        span > 0 ? t.busy_gpu_ns / span : 0.0);
  }
  write_file_atomically(dir, "servers.csv", servers);
}

}  // namespace sllm
