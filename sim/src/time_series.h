// output.time_series: DIR/timeseries.csv, one row every `interval` of simulated time (the state just
// before that instant; a last row at the end of the run), and two summary tables written at the end:
// DIR/models.csv (per model) and DIR/servers.csv (per server). Rows are taken when the event loop
// passes a row's time (advance_to), never through events of their own, so the run is unchanged.
#pragma once

#include <string>
#include <vector>

#include "run_observer.h"
#include "sllm/sim/scenario.h"

namespace sllm {

class TimeSeriesRecorder final : public RunObserver {
 public:
  TimeSeriesRecorder(const ClusterState& state, const TimeSeriesSpec& spec);

  void on_arrival(const RequestState& r, Nanos now) override;
  void on_request_finished(const RequestState& r, Nanos now) override;
  void on_instance_phase(const Instance& inst, Nanos now) override {
    const GpuPhase next = phase_of(inst);
    if (next != phases_.phase(inst.id)) close_span(inst, next, now);
  }
  void on_instance_ended(const Instance& inst, Nanos now) override { close_span(inst, GpuPhase::kOff, now); }
  void on_load_finished(const Load& load, Nanos now) override;
  void on_flows_changed(const FlowNetwork& flows, Nanos) override { flows_ = &flows; }
  void on_decision(const Decision&, ModelId, Nanos) override {}
  void advance_to(Nanos t) override;
  void finish(Nanos end, const std::string& dir) override;

  // Per model: the TTFT's p-quantile (nearest rank) of its completed requests; 0 when none.
  static double quantile(std::vector<double>& values, double p);

 private:
  struct ModelTotals {
    std::uint64_t arrived = 0, completed = 0, timed_out = 0, rejected = 0, loads = 0, cold_start_requests = 0;
    std::vector<double> ttft;  // seconds, completed requests
  };
  struct ServerTotals {
    std::uint64_t loads[3] = {};  // remote, ssd, dram
    std::uint64_t bytes_loaded = 0;
    double busy_gpu_ns = 0;
  };
  void close_span(const Instance& inst, GpuPhase next, Nanos now);
  void write_row(Nanos t);

  const ClusterState& st_;
  TimeSeriesSpec spec_;
  PhaseTracker phases_;
  const FlowNetwork* flows_ = nullptr;
  std::vector<std::string> link_class_names_;
  std::vector<std::uint32_t> link_class_;    // per link: its class (name without server and GPU numbers)
  std::vector<double> class_capacity_;       // bytes/s per class
  std::vector<double> class_rate_;           // scratch per row
  bool per_model_columns_ = false;
  std::vector<ModelTotals> models_;
  std::vector<ServerTotals> servers_;
  std::uint64_t arrived_ = 0, completed_ = 0, timed_out_ = 0, rejected_ = 0;
  Nanos next_row_ = 0;
  std::string csv_;
};

}  // namespace sllm
