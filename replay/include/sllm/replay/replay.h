// `sllmsim replay`: a scenario (the same YAML as `sllmsim run`) run for real on this host, and its
// comparison with a simulation of the same scenario (docs/replay.md).
//
// The host is the scenario's one server: its GPUs (or CPU engines in CPU mode) are the server's GPUs,
// checkpoints in the sllm format on the local disk are its SSD tier, the loader's DRAM chunk pool is its
// DRAM tier, and each instance is a real engine doing continuous batching up to max_batch_size. The
// scheduling, keep-alive and eviction policies are the registered objects the simulator runs (created
// from the scenario's policy sections), asked through a ClusterView over the real cluster's state and
// deciding in real time; their decisions are carried out by the real loader and engines.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "sllm/sim/outputs.h"
#include "sllm/sim/scenario.h"

namespace sllm::replay {

struct ReplayOptions {
  std::string output_dir;      // requests.csv, summary.json, decisions.csv, loads.csv
  std::string checkpoint_dir;  // one checkpoint per deployed model (synthesised when missing)
  std::string device = "cpu";  // device backend of the server's GPUs: "cpu" or "cuda" (GPU g = cuda:g)
  std::string loader_mode;     // empty: the scenario's cluster.profile loader (sllm by default)
  bool verify = false;         // check chunk checksums while loading
  int io_threads = 4;
  int synth_threads = 0;       // 0: hardware threads
  std::ostream* log = nullptr; // progress lines
};

// The checkpoint directory of a deployed model ("opt-2.7b/1" -> DIR/opt-2.7b_1).
std::string checkpoint_path(const std::string& dir, const DeployedModel& model);

// Synthesises the checkpoint of every deployed model that `dir` lacks: random weights of the catalog
// shapes, a distinct seed per checkpoint, one partition per GPU of an instance, checksum chunks that
// divide the server's chunk size.
void prepare_checkpoints(const Scenario& scenario, const std::string& dir, int threads, std::ostream* log);

// Runs the scenario's workload for real in wall-clock time. Throws InputError for a scenario the real
// host cannot run (more than one server, instances over several GPUs, warm instances, a remote tier).
// Checks request conservation as the simulator does.
RunSummary run_replay(const Scenario& scenario, const ReplayOptions& options);

// Simulates `scenario` (its cluster.profile is the host's calibration) into `sim_dir` and prints the
// real run in `real_dir` beside it: TTFT and end-to-end latency mean/p50/p90/p99, cold starts, loads per
// tier, keep-alive unloads, the per-request relative error distribution and the SSD loads' measured
// noise. Returns true when every quantity meets the targets (10%; 5% for counts).
bool compare(const Scenario& scenario, const std::string& real_dir, const std::string& sim_dir, std::ostream& out);

}  // namespace sllm::replay
