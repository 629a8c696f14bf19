// Topology as a boost::adjacency_list. Out-edges are kept in insertion order (vecS), so the
// breadth-first search, and therefore the chosen path among equally short ones, is deterministic.
#include "sllm/sim/topology.h"

#include <boost/graph/adjacency_list.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace sllm {
namespace {

struct VertexProps {
  NodeKind kind = NodeKind::kSwitch;
  std::string name;
};
struct EdgeProps {
  LinkId link = 0;
};
using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, VertexProps, EdgeProps>;

constexpr std::uint32_t kNoLink = std::numeric_limits<std::uint32_t>::max();

// The breadth-first tree from one source: for each vertex reached (but the source), the link it was
// first reached through, sorted by vertex for lookup. Its size is what the source reaches, not the
// whole graph: a server's SSD or DRAM reaches only that server's few vertices.
using BfsTree = std::vector<std::pair<VertexId, LinkId>>;

}  // namespace

struct Topology::Impl {
  Graph graph;
  std::vector<LinkInfo> links;
  // Node-based map: references handed out by path() stay valid while other pairs are added.
  mutable std::unordered_map<std::uint64_t, std::vector<LinkId>> path_cache;
  // One BFS per source, not per pair: set-up asks for a path from the remote store to every server's
  // GPUs, and a search per pair made set-up quadratic in servers.
  mutable std::unordered_map<VertexId, BfsTree> trees;
  // BFS scratch kept across searches; only the entries a search touched are reset, so a search costs
  // what it reaches, not the graph's size.
  mutable std::vector<std::uint32_t> pred_link;
  mutable std::vector<VertexId> queue;

  // Same order as boost::breadth_first_search over vecS out-edges (insertion order): a vertex's
  // predecessor is the first out-edge, in that order, that reaches it. Paths are thus unchanged.
  const BfsTree& tree(VertexId from) const {
    if (auto it = trees.find(from); it != trees.end()) return it->second;
    pred_link.resize(boost::num_vertices(graph), kNoLink);
    queue.assign(1, from);
    pred_link[from] = kNoLink - 1;  // marks the source reached; never read as a link
    for (std::size_t head = 0; head < queue.size(); ++head) {
      for (auto [e, end] = boost::out_edges(queue[head], graph); e != end; ++e) {
        const VertexId t = static_cast<VertexId>(boost::target(*e, graph));
        if (pred_link[t] != kNoLink) continue;
        pred_link[t] = graph[*e].link;
        queue.push_back(t);
      }
    }
    BfsTree tree;
    tree.reserve(queue.size() - 1);
    for (std::size_t i = 1; i < queue.size(); ++i) tree.emplace_back(queue[i], pred_link[queue[i]]);
    for (VertexId v : queue) pred_link[v] = kNoLink;
    std::sort(tree.begin(), tree.end());
    return trees.emplace(from, std::move(tree)).first->second;
  }

  void check_vertex(VertexId v, const char* what) const {
    if (v >= boost::num_vertices(graph)) {
      throw std::logic_error(std::string("Topology: ") + what + " vertex " + std::to_string(v) +
                             " does not exist (" + std::to_string(boost::num_vertices(graph)) + " nodes)");
    }
  }
};

Topology::Topology() : impl_(std::make_unique<Impl>()) {}
Topology::~Topology() = default;
Topology::Topology(Topology&&) noexcept = default;
Topology& Topology::operator=(Topology&&) noexcept = default;

VertexId Topology::add_node(NodeKind kind, std::string name) {
  return static_cast<VertexId>(boost::add_vertex(VertexProps{kind, std::move(name)}, impl_->graph));
}

LinkId Topology::add_link(VertexId from, VertexId to, double bytes_per_second, std::string name) {
  impl_->check_vertex(from, "link source");
  impl_->check_vertex(to, "link target");
  if (!(bytes_per_second > 0) || !std::isfinite(bytes_per_second)) {
    throw std::logic_error("Topology: link '" + name + "' needs a positive finite bandwidth");
  }
  const auto id = static_cast<LinkId>(impl_->links.size());
  boost::add_edge(from, to, EdgeProps{id}, impl_->graph);
  impl_->links.push_back(LinkInfo{from, to, bytes_per_second, std::move(name)});
  impl_->path_cache.clear();  // a new link can shorten cached paths
  impl_->trees.clear();
  return id;
}

std::size_t Topology::node_count() const { return boost::num_vertices(impl_->graph); }
std::size_t Topology::link_count() const { return impl_->links.size(); }

const LinkInfo& Topology::link(LinkId id) const {
  if (id >= impl_->links.size()) throw std::logic_error("Topology: no link " + std::to_string(id));
  return impl_->links[id];
}

NodeKind Topology::kind(VertexId v) const {
  impl_->check_vertex(v, "queried");
  return impl_->graph[v].kind;
}

const std::string& Topology::name(VertexId v) const {
  impl_->check_vertex(v, "queried");
  return impl_->graph[v].name;
}

const std::vector<LinkId>& Topology::path(VertexId from, VertexId to) const {
  const std::uint64_t key = (std::uint64_t{from} << 32) | to;
  if (auto it = impl_->path_cache.find(key); it != impl_->path_cache.end()) return it->second;
  impl_->check_vertex(from, "path source");
  impl_->check_vertex(to, "path target");

  std::vector<LinkId> links;
  if (from != to) {
    const BfsTree& tree = impl_->tree(from);
    auto pred = [&tree](VertexId v) {
      auto it = std::lower_bound(tree.begin(), tree.end(), std::pair<VertexId, LinkId>{v, 0});
      return it != tree.end() && it->first == v ? it->second : kNoLink;
    };
    if (pred(to) == kNoLink) {
      const Graph& g = impl_->graph;
      throw std::logic_error("Topology: no path from '" + g[from].name + "' to '" + g[to].name + "'");
    }
    for (VertexId v = to; v != from;) {
      const LinkId l = pred(v);
      links.push_back(l);
      v = impl_->links[l].from;
    }
    std::reverse(links.begin(), links.end());
  }
  return impl_->path_cache.emplace(key, std::move(links)).first->second;
}

double Topology::bottleneck(VertexId from, VertexId to) const {
  double slowest = std::numeric_limits<double>::infinity();
  for (LinkId l : path(from, to)) slowest = std::min(slowest, impl_->links[l].bandwidth);
  return slowest;
}

}  // namespace sllm
