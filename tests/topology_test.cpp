// Topology: fewest-hop paths and bottlenecks on a small two-server cluster, checked by hand.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "sllm/sim/topology.h"

namespace sllm {
namespace {

// remote store -> switch -> server NIC -> DRAM -> GPUs, and SSD -> DRAM, for two servers.
struct SmallCluster {
  Topology topo;
  VertexId store, sw, nic[2], dram[2], ssd[2], gpu[2][2];
  LinkId store_sw, sw_nic[2], nic_dram[2], ssd_dram[2], dram_gpu[2][2];

  SmallCluster() {
    store = topo.add_node(NodeKind::kRemoteStore, "store");
    sw = topo.add_node(NodeKind::kSwitch, "switch");
    store_sw = topo.add_link(store, sw, 5e9, "store.uplink");
    for (int s = 0; s < 2; ++s) {
      const std::string p = "server" + std::to_string(s);
      nic[s] = topo.add_node(NodeKind::kNic, p + ".nic");
      dram[s] = topo.add_node(NodeKind::kDram, p + ".dram");
      ssd[s] = topo.add_node(NodeKind::kSsd, p + ".ssd");
      sw_nic[s] = topo.add_link(sw, nic[s], 1.25e9, p + ".net");
      nic_dram[s] = topo.add_link(nic[s], dram[s], 100e9, p + ".nic_dram");
      ssd_dram[s] = topo.add_link(ssd[s], dram[s], 6e9, p + ".ssd");
      for (int g = 0; g < 2; ++g) {
        gpu[s][g] = topo.add_node(NodeKind::kGpu, p + ".gpu" + std::to_string(g));
        dram_gpu[s][g] = topo.add_link(dram[s], gpu[s][g], 25e9, p + ".pcie.gpu" + std::to_string(g));
      }
    }
  }
};

TEST(Topology, CountsAndProperties) {
  SmallCluster c;
  EXPECT_EQ(c.topo.node_count(), 2u + 2 * 5);
  EXPECT_EQ(c.topo.link_count(), 1u + 2 * 5);
  EXPECT_EQ(c.topo.kind(c.gpu[1][0]), NodeKind::kGpu);
  EXPECT_EQ(c.topo.name(c.ssd[1]), "server1.ssd");
  EXPECT_EQ(c.topo.link(c.ssd_dram[0]).from, c.ssd[0]);
  EXPECT_EQ(c.topo.link(c.ssd_dram[0]).to, c.dram[0]);
  EXPECT_EQ(c.topo.link(c.ssd_dram[0]).bandwidth, 6e9);
  EXPECT_EQ(c.topo.link(c.dram_gpu[1][1]).name, "server1.pcie.gpu1");
}

TEST(Topology, PathAndBottleneck) {
  SmallCluster c;
  const std::vector<LinkId> remote = {c.store_sw, c.sw_nic[1], c.nic_dram[1], c.dram_gpu[1][0]};
  EXPECT_EQ(c.topo.path(c.store, c.gpu[1][0]), remote);
  EXPECT_EQ(c.topo.bottleneck(c.store, c.gpu[1][0]), 1.25e9);  // the 10 Gbps NIC

  const std::vector<LinkId> local = {c.ssd_dram[0], c.dram_gpu[0][1]};
  EXPECT_EQ(c.topo.path(c.ssd[0], c.gpu[0][1]), local);
  EXPECT_EQ(c.topo.bottleneck(c.ssd[0], c.gpu[0][1]), 6e9);

  EXPECT_TRUE(c.topo.path(c.dram[0], c.dram[0]).empty());
  // The cache hands back the same vector for the same pair.
  EXPECT_EQ(&c.topo.path(c.store, c.gpu[1][0]), &c.topo.path(c.store, c.gpu[1][0]));
}

TEST(Topology, FewestHopsWins) {
  SmallCluster c;
  EXPECT_EQ(c.topo.path(c.store, c.dram[0]).size(), 3u);
  // A direct (slower) link is one hop: path choice counts hops, not bandwidth.
  const LinkId direct = c.topo.add_link(c.store, c.dram[0], 1e9, "store.direct0");
  EXPECT_EQ(c.topo.path(c.store, c.dram[0]), std::vector<LinkId>{direct});
  EXPECT_EQ(c.topo.bottleneck(c.store, c.dram[0]), 1e9);
}

TEST(Topology, NoPathThrows) {
  SmallCluster c;
  // Links are directed: nothing leads from a GPU back to the store, or between servers' SSDs.
  EXPECT_THROW(c.topo.path(c.gpu[0][0], c.store), std::logic_error);
  EXPECT_THROW(c.topo.path(c.ssd[0], c.ssd[1]), std::logic_error);
  EXPECT_THROW(c.topo.bottleneck(c.dram[1], c.gpu[0][0]), std::logic_error);
  EXPECT_THROW(c.topo.path(c.store, 999), std::logic_error);
  EXPECT_THROW(c.topo.add_link(c.store, c.sw, 0, "zero"), std::logic_error);
}

TEST(Topology, MoveKeepsGraph) {
  SmallCluster c;
  Topology moved = std::move(c.topo);
  EXPECT_EQ(moved.bottleneck(c.store, c.gpu[0][1]), 1.25e9);
}

}  // namespace
}  // namespace sllm
