// The cluster's physical topology as a Boost.Graph: vertices are places data sits or passes (remote
// checkpoint store, switches, server NICs, DRAM pools, SSDs, GPUs), edges are directed links with a
// bandwidth. Transfers follow the fewest-hop path between two vertices; the path's links are what
// FlowNetwork shares among concurrent flows.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sllm/core/units.h"

namespace sllm {

using VertexId = std::uint32_t;
using LinkId = std::uint32_t;

enum class NodeKind : std::uint8_t { kRemoteStore, kSwitch, kNic, kDram, kSsd, kGpu };

struct LinkInfo {
  VertexId from = 0;
  VertexId to = 0;
  double bandwidth = 0;  // bytes per second
  std::string name;      // "server3.pcie.gpu1"
};

class Topology {
 public:
  Topology();
  ~Topology();
  Topology(Topology&&) noexcept;
  Topology& operator=(Topology&&) noexcept;

  VertexId add_node(NodeKind kind, std::string name);
  // Directed link; add two for a full-duplex connection. Bandwidth must be positive and finite.
  // Adding a link forgets cached paths (references from path() become invalid).
  LinkId add_link(VertexId from, VertexId to, double bytes_per_second, std::string name);

  std::size_t node_count() const;
  std::size_t link_count() const;
  const LinkInfo& link(LinkId id) const;
  NodeKind kind(VertexId v) const;
  const std::string& name(VertexId v) const;

  // Links of the fewest-hop path from -> to (empty when from == to). Throws std::logic_error when no
  // path exists. One breadth-first tree per source vertex is built on first use and each answered path
  // is cached, so set-up is near-linear in servers (every server asks from the same few sources). The
  // caches make this const method unsafe to call from several threads at once: each simulation (and each
  // sweep worker's simulation) owns its topology.
  const std::vector<LinkId>& path(VertexId from, VertexId to) const;
  // The smallest link bandwidth on the path: the rate a lone transfer gets (infinite when from == to).
  double bottleneck(VertexId from, VertexId to) const;

 private:
  struct Impl;  // boost::adjacency_list and the path cache, kept out of this header
  std::unique_ptr<Impl> impl_;
};

}  // namespace sllm
