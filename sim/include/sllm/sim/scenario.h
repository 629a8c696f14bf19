// A simulation scenario read from YAML: sections cluster, models, workload, policy, simulation, output.
// Every value goes through ConfigNode (units written out, unknown keys rejected, errors located at
// file:line:column plus key path); docs/config.md is the reference.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/core/config_node.h"
#include "sllm/core/model_arch.h"
#include "sllm/core/loader_modes.h"
#include "sllm/core/units.h"
#include "sllm/core/request.h"

namespace sllm {

struct Profile;  // sllm/sim/profile.h
struct LoadLaw;  // sllm/sim/profile.h

struct GpuSpec {
  std::string type;
  std::uint64_t memory = 0;  // bytes
  double hbm_bandwidth = 0;  // bytes/s
  double fp16_flops = 0;     // dense FP16 tensor FLOP/s
};

// Datasheet values of common GPUs: "A40", "A5000", "A100-80G", "H100", "H200".
std::optional<GpuSpec> gpu_preset(std::string_view type);
std::vector<std::string> gpu_preset_names();

struct ServerGroupSpec {
  std::string name;            // "group0" unless named
  std::uint32_t count = 1;     // servers in the group
  GpuSpec gpu;
  std::uint32_t gpus = 1;      // GPUs per server
  std::uint64_t dram_capacity = 0;      // checkpoint pool in host memory
  std::uint64_t chunk_size = 32ull << 20;  // pipeline chunk
  double dram_bandwidth = 0;            // host memory -> PCIe root (shared by the server's GPUs)
  std::uint64_t ssd_capacity = 0;
  double ssd_read_bandwidth = 0;
  double nic_bandwidth = 0;
  double pcie_bandwidth = 0;            // per GPU, host -> device
  // Fixed part of a load from the SSD / DRAM tier when a profile measured it (it then replaces the
  // modelled pipeline fill); -1: pipeline fill.
  Nanos ssd_load_fixed = -1;
  Nanos dram_load_fixed = -1;
};

struct ClusterSpec {
  std::vector<ServerGroupSpec> groups;
  double remote_store_bandwidth = 0;  // the checkpoint store's link into the switch
  Nanos runtime_init = 0;             // added to every load (process / runtime start-up)
  std::shared_ptr<const Profile> profile;  // cluster.profile, when named
  std::string profile_loader = std::string(kDefaultLoaderMode);  // the loader mode whose measured laws the loads follow
  std::uint32_t server_count() const;
  // A loader mode's law for loads from the SSD (`dram` false) or DRAM in the profile: the DRAM law when
  // asked and measured, else the SSD law; null when there is no profile or it lacks the mode's SSD law.
  // Loads in a mode other than profile_loader follow it (ClusterState::loader_cost).
  const LoadLaw* loader_law(std::string_view mode, bool dram) const;
};

// A pluggable choice: registered name plus its parameter section (possibly an empty map).
struct PolicyChoice {
  std::string name;
  ConfigNode params = ConfigNode::load_string("{}", "<default>");
  ConfigNode where = params;  // the node that named it (errors about the name point there)
};

// `simulation.cost_model`: a registered kind (sllm/sim/cost_model.h) whose parameters are the rest of
// that section (read by the kind: the roofline's efficiencies and step overhead live in its file).
struct CostModelSpec {
  PolicyChoice kind{"roofline"};
  std::shared_ptr<const Profile> profile;  // cluster.profile: measured coefficients over the kind
};

// One model deployed as `count` checkpoints (fine-tunes / replicas of one architecture): a catalog model,
// or one the config describes (docs/config.md).
struct DeploymentSpec {
  std::string model;  // catalog name, or the described model's name
  const ModelArch* arch = nullptr;
  std::shared_ptr<const ModelArch> described;  // a described model (arch points to it); null for catalog models
  std::uint32_t count = 1;
  std::uint32_t tensor_parallel = 0;  // 0: smallest power of two whose memory holds weights + KV reserve
  std::uint32_t max_batch_size = 8;
  double gpu_memory_utilization = 0.9;
  std::uint32_t kv_reserve_tokens = 0;  // 0: the model's max_positions
  std::uint32_t warm_instances = 0;     // instances per checkpoint already loaded at time 0
  // Derived: GPUs per instance and its KV-cache budget in tokens (sized for the smallest GPU memory
  // in the cluster, so an instance fits on any server).
  std::uint32_t gpus_per_instance = 1;
  std::uint64_t kv_token_budget = 0;
};

// A deployed checkpoint: what the workload's model index refers to.
struct DeployedModel {
  std::uint32_t index = 0;
  std::uint32_t deployment = 0;
  std::string name;  // "opt-6.7b/3"
  const ModelArch* arch = nullptr;
  std::uint64_t checkpoint_bytes = 0;
};

struct PlacementSpec {
  std::uint32_t ssd_replicas = 1;  // round-robin: checkpoint i on servers i, i+1, ... (mod servers)
  bool dram = false;               // also in the DRAM pool of its first server (capacity permitting)
};

struct SimulationSpec {
  std::uint64_t seed = 1;
  Nanos request_timeout = 300 * kNanosPerSecond;  // waiting longer than this for service: timed out
  Nanos horizon = 0;                              // 0: run until every request is done
  CostModelSpec cost_model;
};

// Service-level objectives: a request meets them when it completed and each target set (non-zero) holds.
struct SloTargets {
  Nanos ttft = 0;     // arrival -> first token
  Nanos tpot = 0;     // mean time per output token after the first
  Nanos latency = 0;  // arrival -> last token
  bool any() const { return ttft > 0 || tpot > 0 || latency > 0; }
};

struct SloSpec {
  SloTargets global;
  std::vector<SloTargets> per_model;  // by deployed model index: `slo.models.<catalog name>` over global
};

// output.timeline: a Chrome/Perfetto trace-event file (timeline.json); see docs/timeline.md.
struct TimelineSpec {
  bool enabled = false;
  Nanos start = 0;            // only what happens inside [start, end] is written (clipped to it)
  Nanos end = -1;             // -1: the end of the run
  double request_sample = 0.01;  // share of requests drawn, chosen by a hash of the request id
  std::uint64_t max_events = 2'000'000;  // hard bound on the file: later events are counted, not written
};

// output.time_series: timeseries.csv every `interval`, plus the models.csv and servers.csv tables.
struct TimeSeriesSpec {
  static constexpr Nanos kDefaultInterval = 10 * kNanosPerSecond;
  bool enabled = false;
  Nanos interval = kDefaultInterval;
};

struct OutputSpec {
  TimelineSpec timeline;
  TimeSeriesSpec time_series;
  bool requests_csv = true;
  // requests.csv compressed as requests.csv.zst (`output.compress: zstd`); the rows are the same bytes.
  bool compress_zstd = false;
  // Wall time and events/s in summary.json: the only machine-dependent values; off for byte-for-byte
  // comparisons of runs.
  bool timing = true;
};

// faults: hardware faults injected into the run (docs/reliability.md, "Faults in the simulation").
enum class FaultKind : std::uint8_t { kServerCrash, kGpuFailure, kLinkDegradation, kLinkOutage, kRemoteStoreOutage };
const char* to_string(FaultKind kind);

// One timed fault: from `at` for `duration` (then repaired).
struct FaultEventSpec {
  FaultKind kind = FaultKind::kServerCrash;
  Nanos at = 0;
  Nanos duration = 0;
  std::uint32_t server = 0;  // server_crash, gpu_failure
  std::uint32_t gpu = 0;     // gpu_failure
  std::string link;          // link_degradation, link_outage: a topology link's name ("server1.network")
  double factor = 1;         // link_degradation: the link's bandwidth is multiplied by it
  std::string where;         // the entry's location, for errors found once the cluster is built
};

// A stochastic fault process: every target of the kind (each server, each GPU, each link, the remote
// store) alternates exponentially distributed times to failure (mean mtbf) and repair (mean repair).
struct FaultProcessSpec {
  FaultKind kind = FaultKind::kServerCrash;
  Nanos mtbf = 0;
  Nanos repair = 0;
  double factor = 1;         // link_degradation
  std::string where;
};

struct FaultSpec {
  std::vector<FaultEventSpec> events;
  std::vector<FaultProcessSpec> processes;
  bool restart_running = true;     // running requests on a failed server/GPU: restarted (true) or lost
  bool ssd_survives_crash = true;  // a crashed server's SSD cache is kept (its DRAM cache never is)
  bool any() const { return !events.empty() || !processes.empty(); }
};

struct Scenario {
  std::string source;  // config file (or test name)
  // Provenance (Scenario::load): FNV-1a 64 of the config file's text and the overrides applied to it.
  std::uint64_t config_hash = 0;
  std::vector<std::string> overrides;
  ClusterSpec cluster;
  std::vector<DeploymentSpec> deployments;
  std::vector<DeployedModel> models;
  PlacementSpec placement;
  std::string workload_kind;
  // Builds a fresh request stream (a scenario can be run more than once).
  std::function<std::unique_ptr<RequestSource>()> make_source;
  std::uint64_t expected_requests = 0;  // for the progress bar; 0 when unknown
  PolicyChoice scheduler;  // required (policy.name)
  PolicyChoice keep_alive{"fixed"};
  PolicyChoice dram_eviction{"lru"};
  PolicyChoice ssd_eviction{"lru"};
  SimulationSpec simulation;
  SloSpec slo;
  OutputSpec output;
  FaultSpec faults;

  // Reads and validates the whole config (policies are instantiated once to check their parameters).
  // `seed`, when given, replaces simulation.seed (the CLI's --seed).
  static Scenario from_config(const ConfigNode& root, std::optional<std::uint64_t> seed = {});
  static Scenario load(const std::string& path, const std::vector<std::string>& overrides = {},
                       std::optional<std::uint64_t> seed = {});
  // The same from a config's text (YAML, or JSON, which is YAML too) that has no file; `name` stands for
  // the file in errors, and relative paths in it are relative to the working directory.
  static Scenario load_text(const std::string& text, const std::string& name,
                            const std::vector<std::string>& overrides = {}, std::optional<std::uint64_t> seed = {});

  // A scenario built in code, for tools that ask the simulator's models about single operations
  // (`calibrate validate`) instead of running a workload; the same derivations as from_config:
  // - `cluster`'s groups as given, except that a profile (cluster.profile) with loader laws for
  //   cluster.profile_loader must have them and they replace a group's SSD read and PCIe bandwidths and
  //   the fixed parts of those loads (unprofiled tiers keep the given bandwidths); a dram_bandwidth of 0
  //   carries every GPU's PCIe link at full rate;
  // - each deployment's architecture (from the catalog by name when arch is null), KV reserve (0: the
  //   model's max_positions) and instance size, then one deployed model per checkpoint; the placement
  //   must fit;
  // - the default cost model on the cluster's profile, and the default keep-alive and eviction policies.
  // There is no workload (make_source is empty) and no scheduler: set both before running it. Throws
  // InputError at `source` where from_config would reject the equivalent config.
  static Scenario from_parts(std::string source, ClusterSpec cluster, std::vector<DeploymentSpec> deployments,
                             PlacementSpec placement = {});
};

}  // namespace sllm
