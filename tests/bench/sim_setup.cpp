// Cluster set-up benchmark (issue 19, item 7): the time to build ClusterState (topology, caches, load
// geometry) for 1,000, 10,000 and 100,000 servers of 4 A40 GPUs. Target: 10,000 servers in under 2 s
// (a search per pair took 142 s). Baseline measured in the same run: building the same Topology alone
// (nodes and links, no paths), the floor of any set-up; the ratio should stay roughly constant in the
// server count if set-up is near-linear.
//   bench_sim_setup [max_servers]   (default 100000)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sllm/core/config_node.h"
#include "sllm/sim/cluster.h"
#include "sllm/sim/scenario.h"
#include "sllm/sim/topology.h"

namespace {

std::string scenario_yaml(std::uint64_t servers) {
  return R"(cluster:
  remote_store: {bandwidth: 100 Gbps}
  runtime_init: 0.5 s
  servers:
    - count: )" + std::to_string(servers) + R"(
      gpus: {type: A40, count: 4}
      dram: {capacity: 512 GB}
      ssd: {capacity: 2 TB, read_bandwidth: 6 GB/s}
      nic: 25 Gbps
      pcie: 25 GB/s
models:
  placement: {ssd_replicas: 2}
  deployments:
    - {model: opt-6.7b, count: 200, max_batch_size: 8}
workload: {kind: synthetic, requests: 1, rps: 1}
policy: {name: serverlessllm}
)";
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The same nodes and links ClusterState adds, names included, and nothing else.
double topology_only_seconds(std::uint64_t servers) {
  const auto start = std::chrono::steady_clock::now();
  sllm::Topology topo;
  const auto store = topo.add_node(sllm::NodeKind::kRemoteStore, "remote_store");
  const auto sw = topo.add_node(sllm::NodeKind::kSwitch, "switch");
  topo.add_link(store, sw, 12.5e9, "remote_store.uplink");
  for (std::uint64_t s = 0; s < servers; ++s) {
    const std::string name = "server" + std::to_string(s);
    const auto nic = topo.add_node(sllm::NodeKind::kNic, name + ".nic");
    const auto dram = topo.add_node(sllm::NodeKind::kDram, name + ".dram");
    const auto bus = topo.add_node(sllm::NodeKind::kSwitch, name + ".pcie_root");
    const auto ssd = topo.add_node(sllm::NodeKind::kSsd, name + ".ssd");
    topo.add_link(sw, nic, 3.125e9, name + ".network");
    topo.add_link(nic, dram, 3.125e9, name + ".nic_to_dram");
    topo.add_link(ssd, dram, 6e9, name + ".ssd_read");
    topo.add_link(dram, bus, 25e9, name + ".dram_read");
    for (int g = 0; g < 4; ++g) {
      const auto v = topo.add_node(sllm::NodeKind::kGpu, name + ".gpu" + std::to_string(g));
      topo.add_link(bus, v, 25e9, name + ".pcie.gpu" + std::to_string(g));
    }
  }
  return seconds_since(start);
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t max_servers = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  std::printf("%10s %12s %14s %8s\n", "servers", "setup_s", "topology_s", "ratio");
  for (std::uint64_t servers = 1000; servers <= max_servers; servers *= 10) {
    const sllm::Scenario scenario = sllm::Scenario::from_config(sllm::ConfigNode::load_string(scenario_yaml(servers), "bench"));
    const auto start = std::chrono::steady_clock::now();
    const sllm::ClusterState state(scenario);
    const double setup = seconds_since(start);
    const double baseline = topology_only_seconds(servers);
    std::printf("%10llu %12.3f %14.3f %8.2f\n", static_cast<unsigned long long>(servers), setup, baseline, setup / baseline);
    if (servers == 10000 && setup >= 2.0) std::printf("  above the 2 s target for 10,000 servers\n");
  }
  return 0;
}
