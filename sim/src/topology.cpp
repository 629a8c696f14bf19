// Topology as a boost::adjacency_list. Out-edges are kept in insertion order (vecS), so the
// breadth-first search, and therefore the chosen path among equally short ones, is deterministic.
#include "sllm/sim/topology.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/visitors.hpp>

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
using EdgeDesc = boost::graph_traits<Graph>::edge_descriptor;

// Records, for each vertex reached, the edge it was first reached through.
class PredecessorRecorder : public boost::default_bfs_visitor {
 public:
  explicit PredecessorRecorder(std::vector<std::uint32_t>* pred_link) : pred_link_(pred_link) {}
  void tree_edge(const EdgeDesc& e, const Graph& g) const { (*pred_link_)[boost::target(e, g)] = g[e].link; }

 private:
  std::vector<std::uint32_t>* pred_link_;
};

constexpr std::uint32_t kNoLink = std::numeric_limits<std::uint32_t>::max();

}  // namespace

struct Topology::Impl {
  Graph graph;
  std::vector<LinkInfo> links;
  // Node-based map: references handed out by path() stay valid while other pairs are added.
  mutable std::unordered_map<std::uint64_t, std::vector<LinkId>> path_cache;
  mutable std::vector<std::uint32_t> pred_link;  // BFS scratch

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
    const Graph& g = impl_->graph;
    auto& pred = impl_->pred_link;
    pred.assign(boost::num_vertices(g), kNoLink);
    boost::breadth_first_search(g, from, boost::visitor(PredecessorRecorder(&pred)));
    if (pred[to] == kNoLink) {
      throw std::logic_error("Topology: no path from '" + g[from].name + "' to '" + g[to].name + "'");
    }
    for (VertexId v = to; v != from; v = impl_->links[pred[v]].from) links.push_back(pred[v]);
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
