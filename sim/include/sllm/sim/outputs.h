// Run outputs: one requests.csv row per finished request (written as requests finish, to a temporary
// name renamed at the end), summary statistics (exact percentiles by selection), summary.json and the
// table printed on stdout. The last two, and a sweep's results.csv, are written from one metric table
// (sllm/sim/metrics.h).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "sllm/core/files.h"
#include "sllm/sim/cluster.h"

namespace sllm {

struct Distribution {
  std::uint64_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;  // seconds
};
// Exact nearest-rank percentiles (the value at rank ceil(p * n)) by selection; reorders `values`.
Distribution summarize(std::vector<double>& values);

struct RunSummary {
  std::uint64_t arrived = 0, completed = 0, timed_out = 0, rejected = 0, running = 0;
  std::uint64_t failed = 0;             // lost to a fault while running (faults.running: lose)
  std::uint64_t cold_starts = 0;        // served requests that waited for a load
  std::uint64_t loads = 0;              // instance loads started
  std::uint64_t loads_by_tier[3] = {};  // remote, ssd, dram
  std::uint64_t loads_replaced = 0;      // abandoned for a faster start elsewhere (policy replace_load)
  std::uint64_t preemptions = 0;        // requests restarted from scratch
  std::uint64_t lost_tokens = 0;        // output tokens discarded by preemption
  // Live migrations, counted per inference (request): started, resumed at the destination, dropped
  // because the inference finished at the source first; rounds and tokens sent of the completed ones.
  std::uint64_t migrations_started = 0, migrations_completed = 0, migrations_dropped = 0;
  std::uint64_t migration_rounds = 0, migration_tokens = 0;
  Distribution migration_pause;          // handoff pause per completed migration
  std::uint64_t prewarms = 0;            // loads started by keep-alive pre-warming
  // Faults (scenario `faults:`): onsets, requests restarted from scratch by a fault, loads abandoned
  // because of one, server-seconds down, and the share of GPU-time in service over the makespan.
  std::uint64_t faults = 0, fault_restarts = 0, loads_failed = 0;
  double server_down_seconds = 0;
  double gpu_availability = 1;
  // Idle instances unloaded because their keep-alive expired (not a summary.json metric; `sllmsim
  // replay compare` reads it).
  std::uint64_t keep_alive_unloads = 0;
  // Over completed requests.
  Distribution latency, ttft, tpot, queueing, load_time;
  // Over every request that finished (completed, timed out, rejected or failed), a timed-out, failed or rejected request
  // counted at the request timeout: a lower bound of what its user saw, so that dropping requests can
  // never make a system look faster (the headline numbers).
  Distribution latency_censored, ttft_censored;
  Nanos request_timeout = 0;            // the scenario's, the censoring value
  // Service-level objectives (scenario `slo:`): requests that completed within every target set; with no
  // target set every completed request meets them.
  std::uint64_t slo_met = 0;
  bool slo_targets_set = false;
  double gpu_allocated_fraction = 0;    // GPU-time held by instances (incl. loading and keep-alive)
  double gpu_busy_fraction = 0;         // GPU-time with requests in service
  Nanos makespan = 0;                   // last request event
  std::uint64_t events = 0;
  double wall_seconds = 0;
  std::uint64_t fingerprint = 0;
  std::uint64_t seed = 0;
  std::string policy;
  std::uint32_t servers = 0, gpus = 0, models = 0;
  // Provenance: what produced the run (sllm/core/build_info.h) from which config and overrides.
  std::string version, build_id;
  std::uint64_t config_hash = 0;
  std::vector<std::string> overrides;

  double slo_attainment() const;   // slo_met / arrived
  double goodput() const;          // slo_met per second of makespan

  std::string to_json(bool timing = true) const;
  void print_table(std::ostream& out) const;
};

// The text of DIR's requests.csv, or of DIR/requests.csv.zst decompressed (output.compress: zstd).
// InputError when DIR has neither, or both (an earlier run's file would be taken for this one's).
std::string read_requests_csv(const std::string& dir);

// Accumulates per-request results; streams requests.csv when a directory is given.
class RequestRecorder {
 public:
  RequestRecorder() = default;
  ~RequestRecorder();
  RequestRecorder(const RequestRecorder&) = delete;
  RequestRecorder& operator=(const RequestRecorder&) = delete;

  // Opens DIR/requests.csv.tmp (creates DIR); with `zstd`, DIR/requests.csv.zst.tmp, the same bytes
  // compressed as one zstd frame.
  void open_csv(const std::string& dir, bool zstd = false);
  // Adds a finished request: its outcome, latencies, SLO check (the scenario's targets) and CSV row.
  void record(const RequestState& r, const ClusterState& state);
  // One completed live migration's handoff pause (summarised into RunSummary::migration_pause).
  void record_migration_pause(Nanos pause) { migration_pause_.push_back(to_seconds(pause)); }
  // Fills the distributions and counts of `summary` from what was recorded.
  void finish(RunSummary& summary, const Scenario& scenario);
  // Renames requests.csv.tmp to requests.csv (or the .zst file to requests.csv.zst).
  void commit();

 private:
  void write_out(bool last);  // writes buffer_ (compressed when asked) and clears it
  std::FILE* csv_ = nullptr;
  std::string dir_;
  std::string name_;  // requests.csv or requests.csv.zst
  std::vector<char> buffer_;
  std::shared_ptr<void> zstd_;  // the compression context when compressing (ZSTD_CCtx)
  std::vector<char> compressed_;
  std::vector<double> latency_, ttft_, tpot_, queueing_, load_time_;
  std::vector<double> latency_censored_, ttft_censored_;
  std::vector<double> migration_pause_;
  std::uint64_t completed_ = 0, timed_out_ = 0, rejected_ = 0, failed_ = 0, cold_ = 0, slo_met_ = 0;

};

}  // namespace sllm
