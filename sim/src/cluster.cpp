#include "sllm/sim/cluster.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "sllm/core/error.h"
#include "sllm/sim/policy.h"
#include "sllm/sim/profile.h"

namespace sllm {

const char* to_string(Tier t) {
  switch (t) {
    case Tier::kRemote: return "remote";
    case Tier::kSsd: return "ssd";
    case Tier::kDram: return "dram";
    case Tier::kWarm: return "warm";
  }
  return "?";
}

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::kPending: return "running";
    case Outcome::kCompleted: return "completed";
    case Outcome::kTimedOut: return "timed_out";
    case Outcome::kRejected: return "rejected";
    case Outcome::kFailed: return "failed";
  }
  return "?";
}

namespace {
std::unique_ptr<EvictionPolicy> make_eviction(const PolicyChoice& choice) {
  ConfigNode params = choice.params;
  return EvictionRegistry::instance().create(choice.name, params, params);
}
}  // namespace

ClusterState::ClusterState(const Scenario& scenario) : scenario_(&scenario) {
  const ClusterSpec& spec = scenario.cluster;
  remote_store_ = topology_.add_node(NodeKind::kRemoteStore, "remote_store");
  switch_ = topology_.add_node(NodeKind::kSwitch, "switch");
  topology_.add_link(remote_store_, switch_, spec.remote_store_bandwidth, "remote_store.uplink");
  for (const ServerGroupSpec& group : spec.groups) {
    for (std::uint32_t k = 0; k < group.count; ++k) {
      Server s;
      s.id = static_cast<ServerId>(servers.size());
      s.spec = &group;
      const std::string name = "server" + std::to_string(s.id);
      s.nic = topology_.add_node(NodeKind::kNic, name + ".nic");
      s.dram = topology_.add_node(NodeKind::kDram, name + ".dram");
      // The host side of the PCIe links: its own vertex so the DRAM bandwidth is one shared link.
      s.bus = topology_.add_node(NodeKind::kSwitch, name + ".pcie_root");
      s.ssd = topology_.add_node(NodeKind::kSsd, name + ".ssd");
      topology_.add_link(switch_, s.nic, group.nic_bandwidth, name + ".network");
      topology_.add_link(s.nic, s.dram, group.nic_bandwidth, name + ".nic_to_dram");
      topology_.add_link(s.ssd, s.dram, group.ssd_read_bandwidth, name + ".ssd_read");
      topology_.add_link(s.dram, s.bus, group.dram_bandwidth, name + ".dram_read");
      for (std::uint32_t g = 0; g < group.gpus; ++g) {
        const VertexId v = topology_.add_node(NodeKind::kGpu, name + ".gpu" + std::to_string(g));
        topology_.add_link(s.bus, v, group.pcie_bandwidth, name + ".pcie.gpu" + std::to_string(g));
        s.gpu_vertex.push_back(v);
      }
      gpu_accounting.add_server(group.gpus);
      s.dram_cache = ResidencyCache(group.dram_capacity, make_eviction(scenario.dram_eviction));
      s.ssd_cache = ResidencyCache(group.ssd_capacity, make_eviction(scenario.ssd_eviction));
      servers.push_back(std::move(s));
    }
  }
  compute_geometry();
  models.resize(scenario.models.size());
  for (std::size_t i = 0; i < models.size(); ++i) {
    const DeployedModel& dm = scenario.models[i];
    models[i].deployed = &dm;
    models[i].deployment = &scenario.deployments[dm.deployment];
    models[i].gpus_per_instance = models[i].deployment->gpus_per_instance;
    models[i].kv_token_budget = models[i].deployment->kv_token_budget;
  }
  // Initial placement, round-robin: checkpoint i on the SSDs of servers i, i+1, ..., and optionally in
  // the DRAM pool of server i.
  const auto n = static_cast<std::uint32_t>(servers.size());
  const std::uint32_t replicas = std::min(scenario.placement.ssd_replicas, n);
  for (std::uint32_t i = 0; i < models.size(); ++i) {
    const std::uint64_t bytes = scenario.models[i].checkpoint_bytes;
    for (std::uint32_t r = 0; r < replicas; ++r) {
      Server& s = servers[(i + r) % n];
      // Scenario::from_config checked that the placement fits.
      s.ssd_cache.insert(i, bytes, 0);
    }
    if (scenario.placement.dram) {
      Server& s = servers[i % n];
      s.dram_cache.insert(i, bytes, 0);
    }
  }
}

VertexId ClusterState::source_vertex(ServerId server, Tier tier) const {
  switch (tier) {
    case Tier::kRemote: return remote_store_;
    case Tier::kSsd: return servers[server].ssd;
    case Tier::kDram: return servers[server].dram;
    case Tier::kWarm: break;
  }
  throw std::logic_error("no source vertex for a warm instance");
}

bool ClusterState::holds(ServerId server, ModelId model, Tier tier) const {
  switch (tier) {
    case Tier::kRemote: return true;
    case Tier::kSsd: return servers[server].ssd_cache.contains(model);
    case Tier::kDram: return servers[server].dram_cache.contains(model);
    case Tier::kWarm: return false;
  }
  return false;
}

Tier ClusterState::best_tier(ServerId server, ModelId model) const {
  if (holds(server, model, Tier::kDram)) return Tier::kDram;
  if (holds(server, model, Tier::kSsd)) return Tier::kSsd;
  return Tier::kRemote;
}

namespace {
// Seconds to move `bytes` split evenly over `gpus` GPUs of `server`, every link on its own: the
// largest bytes-through-link / bandwidth. Also reports the governing link (for the pipeline fill).
double transfer_seconds(const ClusterState& st, ServerId server, Tier tier, std::uint32_t gpus, double bytes,
                        LinkId* governing) {
  const Topology& topo = st.topology();
  const VertexId src = st.source_vertex(server, tier);
  // Links shared by all GPU paths carry all bytes; per-GPU links carry bytes / gpus.
  const auto& path0 = topo.path(src, st.servers[server].gpu_vertex[0]);
  double worst = 0;
  *governing = path0.empty() ? 0 : path0.front();
  for (LinkId l : path0) {
    const LinkInfo& info = topo.link(l);
    const bool per_gpu = topo.kind(info.to) == NodeKind::kGpu;
    const double through = per_gpu ? bytes / gpus : bytes;
    const double t = through / info.bandwidth;
    if (t > worst) {
      worst = t;
      *governing = l;
    }
  }
  return worst;
}
}  // namespace

const ClusterState::LoadGeometry& ClusterState::geometry(ServerId server, Tier tier, std::uint32_t gpus) const {
  const std::size_t per_tier = servers[server].gpu_vertex.size() + 1;
  return geometry_[server][static_cast<std::size_t>(tier) * per_tier + gpus];
}

double ClusterState::tier_bandwidth(ServerId server, Tier tier, std::uint32_t gpus) const {
  return 1.0 / geometry(server, tier, gpus).seconds_per_byte;
}

Nanos ClusterState::fill_and_init(ServerId server, Tier tier, std::uint32_t gpus) const {
  return geometry(server, tier, gpus).fill_and_init;
}

ClusterState::LoaderCost ClusterState::loader_cost(ServerId server, Tier tier, std::uint32_t gpus,
                                                   std::uint64_t bytes, const LoadOptions& options) const {
  const ClusterSpec& cluster = scenario_->cluster;
  if (options.loader.empty() || options.loader == cluster.profile_loader) {
    return {std::numeric_limits<double>::infinity(), fill_and_init(server, tier, gpus) + options.extra_startup};
  }
  const LoadLaw* law = cluster.loader_law(options.loader, tier == Tier::kDram);
  if (law == nullptr) {
    throw std::logic_error("a load in loader mode '" + std::string(options.loader) + "' without a law in the profile");
  }
  const Nanos after = law->overhead + cluster.runtime_init + options.extra_startup;
  if (tier == Tier::kRemote) {
    return {std::numeric_limits<double>::infinity(), from_seconds(static_cast<double>(bytes) / law->bandwidth) + after};
  }
  return {law->bandwidth, after};
}

Nanos ClusterState::estimate_load(ServerId server, ModelId model, Tier tier, std::uint32_t gpus) const {
  const LoadGeometry& g = geometry(server, tier, gpus);
  const double bytes = static_cast<double>(models[model].deployed->checkpoint_bytes);
  return from_seconds(bytes * g.seconds_per_byte) + g.fill_and_init;
}

Nanos ClusterState::estimate_load(ServerId server, ModelId model, Tier tier, std::uint32_t gpus,
                                  const LoadOptions& options) const {
  const std::uint64_t bytes = models[model].deployed->checkpoint_bytes;
  const LoaderCost cost = loader_cost(server, tier, gpus, bytes, options);
  const double per_byte = std::max(geometry(server, tier, gpus).seconds_per_byte, 1.0 / cost.rate_cap);
  return from_seconds(static_cast<double>(bytes) * per_byte) + cost.after_transfer;
}

Nanos ClusterState::estimate_load_shared(ServerId server, ModelId model, Tier tier, std::uint32_t gpus,
                                        const FlowNetwork& flows, const LoadOptions& options) const {
  if (flows.active_count() == 0) return estimate_load(server, model, tier, gpus, options);
  const LoadGeometry& g = geometry(server, tier, gpus);
  const std::size_t per_tier = servers[server].gpu_vertex.size() + 1;
  SharedRate& rate = shared_rate_[server][static_cast<std::size_t>(tier) * per_tier + gpus];
  if (rate.version != flows.version()) {
    // As transfer_seconds() per byte, each link's bandwidth cut to this load's fair share of it.
    double worst = g.seconds_per_byte;
    for (const PathLink& link : load_paths_[server][static_cast<std::size_t>(tier)]) {
      const std::size_t others = flows.flows_crossing(link.id);
      if (others == 0) continue;
      const double mine = link.per_gpu ? 1.0 : static_cast<double>(gpus);
      const double share = link.bandwidth * mine / (mine + static_cast<double>(others));  // bytes/s for this load
      const double through = link.per_gpu ? 1.0 / gpus : 1.0;
      worst = std::max(worst, through / share);
    }
    rate = SharedRate{flows.version(), worst};
  }
  const std::uint64_t bytes = models[model].deployed->checkpoint_bytes;
  const LoaderCost cost = loader_cost(server, tier, gpus, bytes, options);
  const double per_byte = std::max(rate.seconds_per_byte, 1.0 / cost.rate_cap);
  return from_seconds(static_cast<double>(bytes) * per_byte) + cost.after_transfer;
}

void ClusterState::compute_geometry() {
  geometry_.resize(servers.size());
  load_paths_.resize(servers.size());
  shared_rate_.resize(servers.size());
  for (const Server& s : servers) {
    for (Tier tier : {Tier::kRemote, Tier::kSsd, Tier::kDram}) {
      auto& links = load_paths_[s.id][static_cast<std::size_t>(tier)];
      for (LinkId l : topology_.path(source_vertex(s.id, tier), s.gpu_vertex[0])) {
        const LinkInfo& info = topology_.link(l);
        links.push_back({l, info.bandwidth, topology_.kind(info.to) == NodeKind::kGpu});
      }
    }
    const auto gpus = static_cast<std::uint32_t>(s.gpu_vertex.size());
    auto& table = geometry_[s.id];
    table.resize(3 * (gpus + 1));
    shared_rate_[s.id].assign(3 * (gpus + 1), SharedRate{});
    for (Tier tier : {Tier::kRemote, Tier::kSsd, Tier::kDram}) {
      for (std::uint32_t g = 1; g <= gpus; ++g) {
        LinkId governing = 0;
        const double per_byte = transfer_seconds(*this, s.id, tier, g, 1.0, &governing);
        // One chunk passes through every stage but the governing one before the pipeline runs at its pace.
        double fill = 0;
        for (LinkId l : topology_.path(source_vertex(s.id, tier), s.gpu_vertex[0])) {
          if (l != governing) fill += static_cast<double>(s.spec->chunk_size) / topology_.link(l).bandwidth;
        }
        // A profile's measured fixed part of a load (cluster.profile) replaces the modelled fill.
        const Nanos measured = tier == Tier::kSsd ? s.spec->ssd_load_fixed : tier == Tier::kDram ? s.spec->dram_load_fixed : -1;
        if (measured >= 0) fill = to_seconds(measured);
        table[static_cast<std::size_t>(tier) * (gpus + 1) + g] =
            LoadGeometry{per_byte, from_seconds(fill) + scenario_->cluster.runtime_init};
      }
    }
  }
}

}  // namespace sllm
