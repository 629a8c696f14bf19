#include "sllm/sim/scenario.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sllm/core/error.h"
#include "sllm/core/hash.h"
#include "sllm/core/loader_modes.h"
#include "sllm/sim/profile.h"
#include "sllm/sim/policy.h"
#include "sllm/core/workload.h"
#include "sllm/sim/cost_model.h"

namespace sllm {
namespace {

constexpr std::int64_t kMaxCount = 1'000'000;

struct GpuPresetRow {
  const char* type;
  const char* memory;
  const char* hbm;
  const char* flops;
};
// NVIDIA datasheets: memory, memory bandwidth, dense FP16 tensor throughput (without sparsity).
constexpr GpuPresetRow kGpuPresets[] = {
    {"A40", "48 GiB", "696 GB/s", "149.7 TFLOP/s"},
    {"A5000", "24 GiB", "768 GB/s", "111.1 TFLOP/s"},
    {"A100-80G", "80 GiB", "2039 GB/s", "312 TFLOP/s"},
    {"H100", "80 GiB", "3350 GB/s", "989.4 TFLOP/s"},
    {"H200", "141 GB", "4800 GB/s", "989.4 TFLOP/s"},
};

GpuSpec read_gpus(const ConfigNode& node, std::uint32_t* count) {
  const std::string type = node.get_string("type");
  GpuSpec gpu;
  gpu.type = type;
  const auto preset = gpu_preset(type);
  if (!preset) {
    for (const char* key : {"memory", "hbm_bandwidth", "fp16_flops"}) {
      if (!node.has(key)) {
        std::string names;
        for (const auto& n : gpu_preset_names()) names += (names.empty() ? "" : ", ") + n;
        node.child("type").fail("'" + type + "' is not a GPU preset (" + names +
                                "): then memory, hbm_bandwidth and fp16_flops must all be given");
      }
    }
  } else {
    gpu = *preset;
  }
  if (node.has("memory")) gpu.memory = node.get_bytes("memory");
  if (node.has("hbm_bandwidth")) gpu.hbm_bandwidth = node.get_bandwidth("hbm_bandwidth");
  if (node.has("fp16_flops")) gpu.fp16_flops = node.get_flops("fp16_flops");
  *count = static_cast<std::uint32_t>(node.get_int("count", {}, 1, 64));
  for (const auto& [v, key] : {std::pair{static_cast<double>(gpu.memory), "memory"},
                               std::pair{gpu.hbm_bandwidth, "hbm_bandwidth"},
                               std::pair{gpu.fp16_flops, "fp16_flops"}}) {
    if (v <= 0) node.child(key).fail("must be positive");
  }
  node.finish();
  return gpu;
}

double positive_bandwidth(const ConfigNode& node, std::string_view key, std::optional<std::string_view> def = {}) {
  const double bw = node.get_bandwidth(key, def);
  if (bw <= 0) node.child(key).fail("bandwidth must be positive");
  return bw;
}

// The loader laws a profile measured replace the configured bandwidths (naming both is an error: one
// source of truth per number).
// A loader model's (docs/loader-model.md) or else the measured laws.
std::optional<LoaderModeProfile> profile_loads(const ClusterSpec& c) {
  if (!c.profile) return std::nullopt;
  return c.profile->loader_laws(c.profile_loader);
}

// Without a configured dram.bandwidth, every GPU's link runs at full rate at once, unless the profile's
// loader model knows what the host side of the links shares.
double default_dram_bandwidth(const ClusterSpec& c, const ServerGroupSpec& g) {
  if (c.profile && c.profile->loader_model && c.profile->loader_model->shared_h2d() > 0) {
    return std::min(c.profile->loader_model->shared_h2d(), g.pcie_bandwidth * g.gpus);
  }
  return g.pcie_bandwidth * g.gpus;
}

// A profiled tier: the measured law replaces the configured bandwidth and the modelled pipeline fill.
void use_ssd_law(ServerGroupSpec& g, const LoadLaw& law) {
  g.ssd_read_bandwidth = law.bandwidth;
  g.ssd_load_fixed = law.overhead;
}
void use_dram_law(ServerGroupSpec& g, const LoadLaw& law) {
  g.pcie_bandwidth = law.bandwidth;
  g.dram_load_fixed = law.overhead;
}

void reject_if_profiled(const ConfigNode& node, std::string_view key, const std::string& profile) {
  if (node.has(key)) node.child(key).fail("given by the profile " + profile + "; remove it here (or the profile)");
}

ServerGroupSpec read_group(const ConfigNode& node, std::size_t index, const ClusterSpec& cluster) {
  const std::optional<LoaderModeProfile> loads = profile_loads(cluster);
  const bool ssd_profiled = loads && loads->ssd, dram_profiled = loads && loads->dram;
  ServerGroupSpec g;
  g.name = node.get_string("name", "group" + std::to_string(index));
  g.count = static_cast<std::uint32_t>(node.get_int("count", g.count, 1, kMaxCount));
  g.gpu = read_gpus(node.child("gpus"), &g.gpus);
  const ConfigNode dram = node.child("dram");
  g.dram_capacity = dram.get_bytes("capacity");
  g.chunk_size = dram.get_bytes("chunk_size", g.chunk_size);
  if (g.chunk_size == 0) dram.child("chunk_size").fail("chunk size must be positive");
  if (dram_profiled) {
    reject_if_profiled(node, "pcie", cluster.profile->source);
    use_dram_law(g, *loads->dram);
  } else {
    g.pcie_bandwidth = positive_bandwidth(node, "pcie");
  }
  // By default the host-memory side never limits: it carries every GPU's PCIe link at full rate.
  g.dram_bandwidth = dram.has("bandwidth") ? positive_bandwidth(dram, "bandwidth") : default_dram_bandwidth(cluster, g);
  dram.finish();
  const ConfigNode ssd = node.child("ssd");
  g.ssd_capacity = ssd.get_bytes("capacity");
  if (ssd_profiled) {
    reject_if_profiled(ssd, "read_bandwidth", cluster.profile->source);
    use_ssd_law(g, *loads->ssd);
  } else {
    g.ssd_read_bandwidth = positive_bandwidth(ssd, "read_bandwidth");
  }
  ssd.finish();
  g.nic_bandwidth = positive_bandwidth(node, "nic");
  node.finish();
  return g;
}

ClusterSpec read_cluster(const ConfigNode& node) {
  ClusterSpec c;
  const ConfigNode store = node.child("remote_store");
  c.remote_store_bandwidth = positive_bandwidth(store, "bandwidth");
  store.finish();
  c.runtime_init = node.get_duration("runtime_init", c.runtime_init);
  if (auto p = node.optional_child("profile")) {
    // `profile: FILE` or `profile: {file: FILE, loader: MODE}` (a loader mode: sllm, safetensors, torch, ...); FILE relative to the config.
    std::string file;
    if (p->is_map()) {
      file = p->get_string("file");
      c.profile_loader = p->get_string("loader", c.profile_loader);
      if (!is_loader_mode(c.profile_loader)) p->child("loader").fail(unknown_loader_mode_message(c.profile_loader));
      p->finish();
    } else {
      file = p->as_string();
    }
    std::filesystem::path path(file);
    if (path.is_relative()) path = std::filesystem::path(node.file()).parent_path() / path;
    try {
      c.profile = std::make_shared<const Profile>(read_profile(path.string()));
    } catch (const InputError& e) {
      p->fail(std::string("cannot use the profile: ") + e.what());
    }
    if (c.profile->has_loader_laws() && !c.profile->loader_laws(c.profile_loader)) {
      p->fail("the profile " + path.string() + " has no loader laws for mode '" + c.profile_loader + "'");
    }
  }
  const ConfigNode servers = node.child("servers");
  const auto groups = servers.elements();
  if (groups.empty()) servers.fail("at least one server group is required");
  for (std::size_t i = 0; i < groups.size(); ++i) c.groups.push_back(read_group(groups[i], i, c));
  node.finish();
  return c;
}

// Sizes the deployment's instances for the cluster; returns why they cannot be placed (empty: they can).
std::string size_instance(DeploymentSpec& d, const ClusterSpec& cluster) {
  std::uint64_t min_memory = std::numeric_limits<std::uint64_t>::max();
  std::uint32_t max_gpus = 0;
  for (const auto& g : cluster.groups) {
    min_memory = std::min(min_memory, g.gpu.memory);
    max_gpus = std::max(max_gpus, g.gpus);
  }
  const double weights = static_cast<double>(d.arch->checkpoint_bytes());
  const double kv_token = static_cast<double>(d.arch->kv_bytes_per_token());
  const double reserve = static_cast<double>(d.kv_reserve_tokens) * kv_token;
  const double usable = static_cast<double>(min_memory) * d.gpu_memory_utilization;
  std::uint32_t g = d.tensor_parallel;
  if (g == 0) {
    g = 1;
    while (g * usable < weights + reserve && g < 1024) g *= 2;
  }
  if (g * usable < weights + reserve) {
    return d.model + " needs " + format_bytes(static_cast<std::uint64_t>(weights + reserve)) +
           " (weights + KV reserve of " + std::to_string(d.kv_reserve_tokens) + " tokens) but " +
           std::to_string(g) + " GPU(s) offer " + format_bytes(static_cast<std::uint64_t>(g * usable));
  }
  if (g > max_gpus) {
    return d.model + " needs " + std::to_string(g) + " GPUs per instance but the largest server has " +
           std::to_string(max_gpus);
  }
  d.gpus_per_instance = g;
  d.kv_token_budget = static_cast<std::uint64_t>((g * usable - weights) / kv_token);
  return {};
}

// One deployed model per checkpoint of every deployment, in order.
void deploy_models(Scenario& s) {
  for (std::uint32_t di = 0; di < s.deployments.size(); ++di) {
    const DeploymentSpec& d = s.deployments[di];
    for (std::uint32_t k = 0; k < d.count; ++k) {
      DeployedModel m;
      m.index = static_cast<std::uint32_t>(s.models.size());
      m.deployment = di;
      m.name = d.model + "/" + std::to_string(k);
      m.arch = d.arch;
      m.checkpoint_bytes = d.arch->checkpoint_bytes();
      s.models.push_back(std::move(m));
    }
  }
}

// `key: NAME` or `key: {name: NAME, params...}`; absent: `def` (a default-constructed choice), errors
// about it located at `parent`.
PolicyChoice read_choice(const ConfigNode& parent, std::string_view key, const PolicyChoice& def) {
  if (auto c = parent.optional_child(key)) {
    if (c->is_map()) {
      const std::string name = c->get_string("name");
      return PolicyChoice{name, *c, c->child("name")};
    }
    return PolicyChoice{c->as_string(), def.params, *c};
  }
  return PolicyChoice{def.name, def.params, parent};
}

template <class Base>
std::unique_ptr<Base> validate_choice(const PolicyChoice& choice) {
  ConfigNode params = choice.params;
  auto policy = Registry<Base>::instance().create(choice.name, params, choice.where);
  params.finish();
  return policy;
}

// A scheduling policy whose system loads with another loader mode than the scenario's needs that mode's
// law in the profile (its loads are costed by it).
void check_loader_mode(const SchedulingPolicy& policy, const PolicyChoice& choice, const ClusterSpec& cluster) {
  const std::string_view mode = policy.loader_mode();
  if (mode.empty() || mode == cluster.profile_loader || cluster.loader_law(mode, false) != nullptr) return;
  const std::string why = cluster.profile ? "the profile " + cluster.profile->source + " has no SSD law for it"
                                          : "the scenario names no profile (cluster.profile) with its laws";
  choice.where.fail("policy '" + choice.name + "' loads checkpoints with loader mode '" + std::string(mode) +
                    "', but " + why);
}

// The initial round-robin placement (ClusterState's) must fit every SSD and DRAM pool: returns where it
// does not (empty: it fits).
std::string placement_problem(const Scenario& s) {
  std::vector<const ServerGroupSpec*> server_group;
  for (const auto& g : s.cluster.groups) server_group.insert(server_group.end(), g.count, &g);
  const auto n = static_cast<std::uint32_t>(server_group.size());
  std::vector<std::uint64_t> ssd(n, 0), dram(n, 0);
  const std::uint32_t replicas = std::min(s.placement.ssd_replicas, n);
  for (std::uint32_t i = 0; i < s.models.size(); ++i) {
    const std::uint64_t bytes = s.models[i].checkpoint_bytes;
    for (std::uint32_t r = 0; r < replicas; ++r) {
      const std::uint32_t k = (i + r) % n;
      if ((ssd[k] += bytes) > server_group[k]->ssd_capacity) {
        return "checkpoint " + s.models[i].name + " does not fit on the SSD of server" + std::to_string(k) + " (" +
               format_bytes(server_group[k]->ssd_capacity) +
               ") in the round-robin placement; lower ssd_replicas or raise the SSD capacity";
      }
    }
    if (s.placement.dram && (dram[i % n] += bytes) > server_group[i % n]->dram_capacity) {
      return "checkpoint " + s.models[i].name + " does not fit in the DRAM pool of server" + std::to_string(i % n) +
             " (" + format_bytes(server_group[i % n]->dram_capacity) + ")";
    }
  }
  return {};
}

}  // namespace

std::optional<GpuSpec> gpu_preset(std::string_view type) {
  for (const auto& row : kGpuPresets) {
    if (type == row.type) {
      return GpuSpec{row.type, parse_bytes(row.memory), parse_bandwidth(row.hbm), parse_flops(row.flops)};
    }
  }
  return std::nullopt;
}

std::vector<std::string> gpu_preset_names() {
  std::vector<std::string> out;
  for (const auto& row : kGpuPresets) out.emplace_back(row.type);
  return out;
}

std::uint32_t ClusterSpec::server_count() const {
  std::uint32_t n = 0;
  for (const auto& g : groups) n += g.count;
  return n;
}

const LoadLaw* ClusterSpec::loader_law(std::string_view mode, bool dram) const {
  if (!profile) return nullptr;
  const auto it = profile->loader.find(std::string(mode));
  if (it == profile->loader.end() || !it->second.ssd) return nullptr;
  return dram && it->second.dram ? &*it->second.dram : &*it->second.ssd;
}

namespace {

// Seeds use all 64 bits (a sweep derives them by hashing), so they are read as unsigned integers.
FaultKind read_fault_kind(const ConfigNode& entry) {
  const std::string kind = entry.get_enum(
      "kind", {"server_crash", "gpu_failure", "link_degradation", "link_outage", "remote_store_outage"});
  if (kind == "server_crash") return FaultKind::kServerCrash;
  if (kind == "gpu_failure") return FaultKind::kGpuFailure;
  if (kind == "link_degradation") return FaultKind::kLinkDegradation;
  if (kind == "link_outage") return FaultKind::kLinkOutage;
  return FaultKind::kRemoteStoreOutage;
}

// `faults: {running: restart|lose, ssd_survives_crash, events: [...], processes: [...]}`. Servers and
// GPUs are checked against the cluster here; link names once the topology exists (the simulator).
FaultSpec read_faults(const ConfigNode& node, const Scenario& s) {
  FaultSpec f;
  f.restart_running = node.get_enum("running", {"restart", "lose"}, "restart") == "restart";
  f.ssd_survives_crash = node.get_bool("ssd_survives_crash", f.ssd_survives_crash);
  const std::uint32_t servers = s.cluster.server_count();
  if (auto events = node.optional_child("events")) {
    for (const ConfigNode& e : events->elements()) {
      FaultEventSpec ev;
      ev.where = e.location();
      ev.kind = read_fault_kind(e);
      ev.at = e.get_duration("at");
      if (ev.at < 0) e.child("at").fail("must be >= 0");
      ev.duration = e.get_duration("duration");
      if (ev.duration <= 0) e.child("duration").fail("must be positive");
      if (ev.at > std::numeric_limits<Nanos>::max() / 2 - ev.duration) e.child("duration").fail("ends past the clock's range");
      if (ev.kind == FaultKind::kServerCrash || ev.kind == FaultKind::kGpuFailure) {
        ev.server = static_cast<std::uint32_t>(e.get_int("server", std::nullopt, 0, std::int64_t{servers} - 1));
      }
      if (ev.kind == FaultKind::kGpuFailure) {
        std::uint32_t first = 0;
        const ServerGroupSpec* group = nullptr;
        for (const ServerGroupSpec& g : s.cluster.groups) {
          if (ev.server < first + g.count) {
            group = &g;
            break;
          }
          first += g.count;
        }
        ev.gpu = static_cast<std::uint32_t>(e.get_int("gpu", std::nullopt, 0, std::int64_t{group->gpus} - 1));
      }
      if (ev.kind == FaultKind::kLinkDegradation || ev.kind == FaultKind::kLinkOutage) ev.link = e.get_string("link");
      if (ev.kind == FaultKind::kLinkDegradation) ev.factor = e.get_double("factor", std::nullopt, 1e-6, 1.0);
      e.finish();
      f.events.push_back(std::move(ev));
    }
  }
  if (auto processes = node.optional_child("processes")) {
    for (const ConfigNode& e : processes->elements()) {
      FaultProcessSpec p;
      p.where = e.location();
      p.kind = read_fault_kind(e);
      p.mtbf = e.get_duration("mtbf");
      if (p.mtbf <= 0) e.child("mtbf").fail("must be positive");
      p.repair = e.get_duration("repair");
      if (p.repair <= 0) e.child("repair").fail("must be positive");
      if (p.kind == FaultKind::kLinkDegradation) p.factor = e.get_double("factor", std::nullopt, 1e-6, 1.0);
      e.finish();
      f.processes.push_back(std::move(p));
    }
  }
  node.finish();
  return f;
}

std::uint64_t read_seed(const ConfigNode& node) {
  const std::string text = node.as_string();
  std::uint64_t seed = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seed);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    node.fail("expected a seed: an integer in [0, 18446744073709551615], got '" + text + "'");
  }
  return seed;
}

SloTargets read_slo_targets(const ConfigNode& node, const SloTargets& defaults) {
  SloTargets t = defaults;
  const auto target = [&](const char* key, Nanos& out) {
    if (!node.has(key)) return;
    out = node.get_duration(key);
    if (out <= 0) node.child(key).fail("an SLO target must be positive (leave the key out for no target)");
  };
  target("ttft", t.ttft);
  target("tpot", t.tpot);
  target("latency", t.latency);
  return t;
}

// `slo: {ttft, tpot, latency, models: {<catalog model>: {ttft, tpot, latency}}}`; per-model targets
// replace the global ones key by key for every checkpoint of that model.
SloSpec read_slo(const ConfigNode& root, const Scenario& s) {
  SloSpec slo;
  const auto node = root.optional_child("slo");
  if (node) slo.global = read_slo_targets(*node, {});
  slo.per_model.assign(s.models.size(), slo.global);
  if (!node) return slo;
  if (auto models = node->optional_child("models")) {
    for (const std::string& name : models->keys()) {
      const ConfigNode entry = models->child(name);
      bool deployed = false;
      for (const DeployedModel& m : s.models) {
        if (s.deployments[m.deployment].model != name) continue;
        slo.per_model[m.index] = read_slo_targets(entry, slo.global);
        deployed = true;
      }
      if (!deployed) entry.fail("no deployment of model '" + name + "' (keys of slo.models are deployed catalog names)");
      entry.finish();
    }
    models->finish();
  }
  node->finish();
  return slo;
}

// A deployment names a catalog model, or describes one under a name of its own: `arch:` (the fields of a
// catalog entry) or `hf_config:` (a Hugging Face config.json, relative to this file; `dtype:` overrides
// its torch_dtype). The described architecture is owned by the deployment.
const ModelArch* deployment_model(const ConfigNode& e, DeploymentSpec& d) {
  const bool has_arch = e.has("arch"), has_hf = e.has("hf_config");
  if (!has_arch && !has_hf) return &ModelCatalog::builtin().get(d.model, e.child("model").location());
  if (has_arch && has_hf) e.fail("give either arch or hf_config, not both");
  if (ModelCatalog::builtin().find(d.model)) {
    e.child("model").fail("'" + d.model + "' is a catalog model: give the described model a name of its own");
  }
  if (has_arch) {
    d.described = std::make_shared<const ModelArch>(ModelCatalog::parse(d.model, e.child("arch")));
    return d.described.get();
  }
  const ConfigNode hf = e.child("hf_config");
  std::filesystem::path path = hf.as_string();
  if (path.is_relative()) path = std::filesystem::path(e.file()).parent_path() / path;
  DType dtype = DType::kF16;
  const bool has_dtype = e.has("dtype");
  if (has_dtype) parse_dtype(e.get_enum("dtype", {"float16", "bfloat16", "float32"}), &dtype);
  try {
    d.described = std::make_shared<const ModelArch>(import_hf_config(path.string(), d.model, has_dtype ? &dtype : nullptr));
  } catch (const InputError& err) {
    throw InputError(hf.location(), err.what());
  }
  return d.described.get();
}

}  // namespace

Scenario Scenario::from_config(const ConfigNode& root, std::optional<std::uint64_t> seed) {
  Scenario s;
  s.source = root.location();
  s.cluster = read_cluster(root.child("cluster"));

  // simulation (first: the workload needs the seed)
  SimulationSpec& sim_spec = s.simulation;  // default-constructed: its initialisers are the defaults
  if (auto sim = root.optional_child("simulation")) {
    if (sim->has("seed")) sim_spec.seed = read_seed(sim->child("seed"));
    sim_spec.request_timeout = sim->get_duration("request_timeout", sim_spec.request_timeout);
    if (sim_spec.request_timeout <= 0) sim->child("request_timeout").fail("must be positive");
    sim_spec.horizon = sim->get_duration("horizon", sim_spec.horizon);
    if (auto cm = sim->optional_child("cost_model")) {
      // The kind's name, then the section (with `kind` marked read) as the kind's parameters.
      PolicyChoice& kind = sim_spec.cost_model.kind;
      kind.name = cm->get_string("kind", kind.name);
      kind.where = cm->has("kind") ? cm->child("kind") : *cm;
      kind.params = *cm;
    }
    sim->finish();
  }
  validate_choice<CostModel>(sim_spec.cost_model.kind);
  sim_spec.cost_model.profile = s.cluster.profile;
  if (seed) s.simulation.seed = *seed;

  // models
  const ConfigNode models = root.child("models");
  std::optional<ConfigNode> placement_node = models.optional_child("placement");
  if (placement_node) {
    s.placement.ssd_replicas =
        static_cast<std::uint32_t>(placement_node->get_int("ssd_replicas", s.placement.ssd_replicas, 0, kMaxCount));
    s.placement.dram = placement_node->get_bool("dram", s.placement.dram);
    placement_node->finish();
  }
  const ConfigNode deployments = models.child("deployments");
  const auto entries = deployments.elements();
  if (entries.empty()) deployments.fail("at least one deployment is required");
  for (const ConfigNode& e : entries) {
    DeploymentSpec d;
    d.model = e.get_string("model");
    d.arch = deployment_model(e, d);
    d.count = static_cast<std::uint32_t>(e.get_int("count", d.count, 1, kMaxCount));
    d.tensor_parallel = static_cast<std::uint32_t>(e.get_int("tensor_parallel", d.tensor_parallel, 0, 64));
    d.max_batch_size = static_cast<std::uint32_t>(e.get_int("max_batch_size", d.max_batch_size, 1, 4096));
    d.gpu_memory_utilization = e.get_double("gpu_memory_utilization", d.gpu_memory_utilization, 0.05, 1.0);
    // Absent: the model's max_positions (what 0 means in DeploymentSpec); given, at least 1.
    d.kv_reserve_tokens =
        static_cast<std::uint32_t>(e.get_int("kv_reserve_tokens", d.arch->max_positions, 1, 1 << 24));
    d.warm_instances = static_cast<std::uint32_t>(e.get_int("warm_instances", d.warm_instances, 0, 1024));
    if (const std::string why = size_instance(d, s.cluster); !why.empty()) e.fail(why);
    e.finish();
    s.deployments.push_back(d);
  }
  models.finish();
  deploy_models(s);
  if (const std::string why = placement_problem(s); !why.empty()) (placement_node ? *placement_node : models).fail(why);

  // workload
  const ConfigNode workload = root.child("workload");
  s.workload_kind = workload.get_string("kind");
  const ConfigNode empty = ConfigNode::load_string("{}", "<workload>");
  const auto kind = WorkloadRegistry::instance().create(s.workload_kind, empty, workload.child("kind"));
  Workload built = kind->build(workload, static_cast<std::uint32_t>(s.models.size()), s.simulation.seed);
  s.make_source = std::move(built.make_source);
  s.expected_requests = built.expected_requests;

  // policy
  const ConfigNode policy = root.child("policy");
  const std::string name = policy.get_string("name");
  // The choices of `s` are still default-constructed: their initialisers are the defaults.
  s.keep_alive = read_choice(policy, "keep_alive", s.keep_alive);
  if (auto ev = policy.optional_child("eviction")) {
    s.dram_eviction = read_choice(*ev, "dram", s.dram_eviction);
    s.ssd_eviction = read_choice(*ev, "ssd", s.ssd_eviction);
    ev->finish();
  } else {
    s.dram_eviction.where = s.ssd_eviction.where = policy;
  }
  s.scheduler = PolicyChoice{name, policy, policy.child("name")};
  check_loader_mode(*validate_choice<SchedulingPolicy>(s.scheduler), s.scheduler, s.cluster);
  validate_choice<KeepAlivePolicy>(s.keep_alive);
  validate_choice<EvictionPolicy>(s.dram_eviction);
  validate_choice<EvictionPolicy>(s.ssd_eviction);

  s.slo = read_slo(root, s);
  if (auto faults = root.optional_child("faults")) s.faults = read_faults(*faults, s);

  if (auto out = root.optional_child("output")) {
    s.output.requests_csv = out->get_bool("requests_csv", s.output.requests_csv);
    s.output.compress_zstd = out->get_enum("compress", {"none", "zstd"}, "none") == "zstd";
    s.output.timing = out->get_bool("timing", s.output.timing);
    // A timeline or time-series section turns that output on unless it says `enabled: false`.
    if (auto tl = out->optional_child("timeline")) {
      TimelineSpec& t = s.output.timeline;
      t.enabled = tl->get_bool("enabled", true);
      t.start = tl->get_duration("start", t.start);
      t.end = tl->get_duration("end", t.end);
      if (t.start < 0) tl->fail("start must be >= 0");
      if (t.end >= 0 && t.end <= t.start) tl->fail("end must be after start");
      t.request_sample = tl->get_double("request_sample", t.request_sample, 0.0, 1.0);
      t.max_events = static_cast<std::uint64_t>(
          tl->get_int("max_events", static_cast<std::int64_t>(t.max_events), 1, 1'000'000'000));
      tl->finish();
    }
    if (auto ts = out->optional_child("time_series")) {
      TimeSeriesSpec& t = s.output.time_series;
      t.enabled = ts->get_bool("enabled", true);
      t.interval = ts->get_duration("interval", TimeSeriesSpec::kDefaultInterval);
      if (t.interval <= 0) ts->fail("interval must be positive");
      ts->finish();
    }
    out->finish();
  }
  root.finish();
  return s;
}

const char* to_string(FaultKind kind) {
  switch (kind) {
    case FaultKind::kServerCrash: return "server_crash";
    case FaultKind::kGpuFailure: return "gpu_failure";
    case FaultKind::kLinkDegradation: return "link_degradation";
    case FaultKind::kLinkOutage: return "link_outage";
    case FaultKind::kRemoteStoreOutage: return "remote_store_outage";
  }
  return "?";
}

Scenario Scenario::from_parts(std::string source, ClusterSpec cluster, std::vector<DeploymentSpec> deployments,
                              PlacementSpec placement) {
  Scenario s;
  s.source = std::move(source);
  if (cluster.groups.empty()) throw InputError(s.source, "at least one server group is required");
  if (deployments.empty()) throw InputError(s.source, "at least one deployment is required");
  const std::optional<LoaderModeProfile> loads = profile_loads(cluster);
  if (cluster.profile && cluster.profile->has_loader_laws() && !loads) {
    throw InputError(s.source, "the profile " + cluster.profile->source + " has no loader laws for mode '" +
                                   cluster.profile_loader + "'");
  }
  for (ServerGroupSpec& g : cluster.groups) {
    if (loads && loads->ssd) use_ssd_law(g, *loads->ssd);
    if (loads && loads->dram) use_dram_law(g, *loads->dram);
    if (g.dram_bandwidth == 0) g.dram_bandwidth = default_dram_bandwidth(cluster, g);
  }
  s.cluster = std::move(cluster);
  s.simulation.cost_model.profile = s.cluster.profile;
  s.placement = placement;
  for (DeploymentSpec& d : deployments) {
    if (!d.arch) d.arch = &ModelCatalog::builtin().get(d.model, s.source);
    if (d.kv_reserve_tokens == 0) d.kv_reserve_tokens = d.arch->max_positions;
    if (const std::string why = size_instance(d, s.cluster); !why.empty()) throw InputError(s.source, why);
  }
  s.deployments = std::move(deployments);
  deploy_models(s);
  if (const std::string why = placement_problem(s); !why.empty()) throw InputError(s.source, why);
  return s;
}

namespace {

// `root` (read from `text`) with the overrides applied, and the provenance of the run.
Scenario from_root(ConfigNode root, const std::string& text, const std::vector<std::string>& overrides,
                   std::optional<std::uint64_t> seed) {
  for (const std::string& o : overrides) root.apply_override(o);
  Scenario s = Scenario::from_config(root, seed);
  s.config_hash = fnv1a64(text);
  s.overrides = overrides;
  return s;
}

}  // namespace

Scenario Scenario::load(const std::string& path, const std::vector<std::string>& overrides,
                        std::optional<std::uint64_t> seed) {
  ConfigNode root = ConfigNode::load_file(path);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return from_root(std::move(root), text.str(), overrides, seed);
}

Scenario Scenario::load_text(const std::string& text, const std::string& name,
                             const std::vector<std::string>& overrides, std::optional<std::uint64_t> seed) {
  return from_root(ConfigNode::load_string(text, name), text, overrides, seed);
}

}  // namespace sllm
