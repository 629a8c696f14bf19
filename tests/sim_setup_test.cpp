// Cluster set-up (issue 19, item 7): Topology::path searched the graph once per pair, so building the
// load geometry was quadratic in servers (10,000 servers: 142 s). Paths must stay exactly those of a
// fewest-hop breadth-first search over out-edges in insertion order (the reference below, Boost's BFS
// as the topology used before), the geometry must match its closed form, and set-up must be fast.
#include <gtest/gtest.h>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/breadth_first_search.hpp>

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "sim_test_util.h"
#include "sllm/sim/cluster.h"
#include "sllm/sim/topology.h"

namespace sllm {
namespace {

using namespace sllm::testing;

// The reference: one Boost breadth-first search per pair over a copy of the topology's links, added in
// link-id order (the order Topology adds them), so ties between equally short paths break the same way.
std::optional<std::vector<LinkId>> reference_path(const Topology& topo, VertexId from, VertexId to) {
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property,
                                      boost::property<boost::edge_index_t, LinkId>>;
  Graph g(topo.node_count());
  for (LinkId l = 0; l < topo.link_count(); ++l) boost::add_edge(topo.link(l).from, topo.link(l).to, l, g);
  constexpr LinkId kNone = std::numeric_limits<LinkId>::max();
  std::vector<LinkId> pred(topo.node_count(), kNone);
  struct Recorder : boost::default_bfs_visitor {
    std::vector<LinkId>* pred;
    void tree_edge(const boost::graph_traits<Graph>::edge_descriptor& e, const Graph& graph) const {
      (*pred)[boost::target(e, graph)] = boost::get(boost::edge_index, graph, e);
    }
  };
  Recorder rec;
  rec.pred = &pred;
  boost::breadth_first_search(g, from, boost::visitor(rec));
  std::vector<LinkId> path;
  if (from == to) return path;
  if (pred[to] == kNone) return std::nullopt;
  for (VertexId v = to; v != from; v = topo.link(pred[v]).from) path.push_back(pred[v]);
  std::reverse(path.begin(), path.end());
  return path;
}

void expect_all_paths_match_reference(const Topology& topo) {
  for (VertexId from = 0; from < topo.node_count(); ++from) {
    for (VertexId to = 0; to < topo.node_count(); ++to) {
      const auto expected = reference_path(topo, from, to);
      if (expected) {
        EXPECT_EQ(topo.path(from, to), *expected) << topo.name(from) << " -> " << topo.name(to);
      } else {
        EXPECT_THROW(topo.path(from, to), std::logic_error) << topo.name(from) << " -> " << topo.name(to);
      }
    }
  }
}

// Two groups of different shapes; bandwidths chosen so that no two links tie for the governing one.
constexpr const char* kHeterogeneous = R"(cluster:
  remote_store: {bandwidth: 40 Gbps}
  runtime_init: 1 s
  servers:
    - name: small
      count: 2
      gpus: {type: A40, count: 2}
      dram: {capacity: 512 GB, bandwidth: 30 GB/s, chunk_size: 16 MiB}
      ssd: {capacity: 2 TB, read_bandwidth: 3 GB/s}
      nic: 10 Gbps
      pcie: 12 GB/s
    - name: big
      count: 3
      gpus: {type: H100, count: 4}
      dram: {capacity: 2 TB, bandwidth: 70 GB/s, chunk_size: 32 MiB}
      ssd: {capacity: 8 TB, read_bandwidth: 7 GB/s}
      nic: 100 Gbps
      pcie: 50 GB/s
models:
  placement: {ssd_replicas: 1}
  deployments:
    - {model: opt-6.7b, count: 1}
workload: {kind: synthetic, requests: 1, rps: 1}
policy: {name: serverlessllm}
)";

TEST(SimSetup, PathsOfAHeterogeneousClusterEqualThePerPairSearch) {
  const Scenario s = scenario_from_yaml(kHeterogeneous);
  const ClusterState st(s);
  ASSERT_EQ(st.servers.size(), 5u);
  expect_all_paths_match_reference(st.topology());
}

// A random directed graph with cycles, equally short alternatives and unreachable pairs: the cached
// search must break ties as the per-pair search does, and still refuse a missing path.
TEST(SimSetup, PathsOfARandomGraphEqualThePerPairSearch) {
  std::mt19937 rng(7);
  for (int round = 0; round < 5; ++round) {
    Topology topo;
    const int nodes = 30;
    for (int v = 0; v < nodes; ++v) topo.add_node(NodeKind::kSwitch, "v" + std::to_string(v));
    std::uniform_int_distribution<int> pick(0, nodes - 1);
    for (int e = 0; e < 60; ++e) {
      const auto a = static_cast<VertexId>(pick(rng));
      const auto b = static_cast<VertexId>(pick(rng));
      if (a != b) topo.add_link(a, b, 1e9 + e, "e" + std::to_string(e));
    }
    expect_all_paths_match_reference(topo);
    // A link added after paths were asked for is seen (the cache is dropped).
    topo.add_link(0, static_cast<VertexId>(nodes - 1), 1e9, "late");
    EXPECT_EQ(topo.path(0, static_cast<VertexId>(nodes - 1)).size(), 1u);
    expect_all_paths_match_reference(topo);
  }
}

// The geometry's closed form: a load of `gpus` GPUs runs at the slowest of its links, per-GPU PCIe
// links counted `gpus` times; the pipeline fill is one chunk through every other link; plus init.
TEST(SimSetup, GeometryOfAHeterogeneousClusterMatchesItsClosedForm) {
  const Scenario s = scenario_from_yaml(kHeterogeneous);
  const ClusterState st(s);
  struct Group {
    double remote, nic, dram, ssd, pcie, chunk;
    std::uint32_t gpus;
  };
  const double gbps = 1e9 / 8;
  const Group small{40 * gbps, 10 * gbps, 30e9, 3e9, 12e9, 16.0 * (1 << 20), 2};
  const Group big{40 * gbps, 100 * gbps, 70e9, 7e9, 50e9, 32.0 * (1 << 20), 4};
  for (ServerId id = 0; id < st.servers.size(); ++id) {
    const Group& g = id < 2 ? small : big;
    ASSERT_EQ(st.servers[id].gpu_vertex.size(), g.gpus);
    for (std::uint32_t n = 1; n <= g.gpus; ++n) {
      const std::vector<std::pair<Tier, std::vector<double>>> tiers = {
          {Tier::kRemote, {g.remote, g.nic, g.nic, g.dram, g.pcie}},
          {Tier::kSsd, {g.ssd, g.dram, g.pcie}},
          {Tier::kDram, {g.dram, g.pcie}},
      };
      for (const auto& [tier, links] : tiers) {
        // Per-byte time: shared links carry every byte, the last (PCIe) link 1/n of them.
        double slowest = 0;
        std::size_t governing = 0;
        for (std::size_t i = 0; i < links.size(); ++i) {
          const double t = (i + 1 == links.size() ? 1.0 / n : 1.0) / links[i];
          if (t > slowest) {
            slowest = t;
            governing = i;
          }
        }
        double fill = 1.0;  // runtime_init
        for (std::size_t i = 0; i < links.size(); ++i) {
          if (i != governing) fill += g.chunk / links[i];
        }
        EXPECT_NEAR(st.tier_bandwidth(id, tier, n), 1.0 / slowest, 1e-6 / slowest)
            << "server " << id << " tier " << to_string(tier) << " gpus " << n;
        EXPECT_NEAR(to_seconds(st.fill_and_init(id, tier, n)), fill, 2e-9)
            << "server " << id << " tier " << to_string(tier) << " gpus " << n;
      }
    }
  }
}

// 10,000 servers took 142 s with a search per pair; near-linear set-up takes well under a second. The
// bound leaves an order of magnitude for a slow or busy machine and still fails the quadratic code.
TEST(SimSetup, TenThousandServersSetUpInSeconds) {
  std::string yaml = kHeterogeneous;
  yaml.replace(yaml.find("count: 3"), 8, "count: 9998");
  const Scenario s = scenario_from_yaml(yaml);
  const auto start = std::chrono::steady_clock::now();
  const ClusterState st(s);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(st.servers.size(), 10000u);
  EXPECT_LT(seconds, 10.0);
  // The last server's remote path: the store's uplink first, its own PCIe link last.
  const Server& last = st.servers.back();
  const auto& path = st.topology().path(st.source_vertex(last.id, Tier::kRemote), last.gpu_vertex[3]);
  ASSERT_EQ(path.size(), 5u);
  EXPECT_EQ(st.topology().link(path.front()).name, "remote_store.uplink");
  EXPECT_EQ(st.topology().link(path.back()).name, "server9999.pcie.gpu3");
}

}  // namespace
}  // namespace sllm
