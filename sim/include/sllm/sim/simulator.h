// The discrete-event cluster simulator. Request lifecycle: arrival -> a warm instance of its model with
// room, else the scheduling policy places a new instance (cold start: the per-server FIFO loading queue,
// flows over the topology, pipeline fill, runtime init) -> admission into the instance's batch
// (continuous batching under max batch size and a KV-cache token budget) -> prefill -> decode ->
// completion. Requests not admitted within simulation.request_timeout time out (event cancellation);
// idle instances are unloaded by the keep-alive policy. Same scenario and seed => identical outputs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "sllm/sim/outputs.h"
#include "sllm/sim/scenario.h"

namespace sllm {

struct RunOptions {
  std::string output_dir;   // empty: no files
  bool progress = false;    // progress bar on stderr
  // Replaces the scenario's workload (tests).
  std::function<std::unique_ptr<RequestSource>()> source;
};

class Simulator {
 public:
  explicit Simulator(const Scenario& scenario);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Runs to the end (or the horizon), writes outputs (replacing those of an earlier run in the same
  // directory), checks request conservation (throws std::logic_error when arrived != completed + timed
  // out + rejected + running). Once per Simulator.
  RunSummary run(const RunOptions& options = {});

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// A run of a user's config in which no request arrived (a trace window or mapping that selects nothing)
// would otherwise "succeed" with all-zero results: throws InputError naming `config`.
void check_requests_arrived(const RunSummary& summary, const Scenario& scenario, const std::string& config);

}  // namespace sllm
