// Flow network: finish times and rates against values computed by hand from max-min fairness.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "sllm/sim/flow_network.h"

namespace sllm {
namespace {

constexpr double GB = 1e9;
constexpr Nanos s = kNanosPerSecond;

// Independent links with the given bandwidths (bytes/s); link i runs from node 2i to node 2i+1.
Topology links(const std::vector<double>& bandwidths) {
  Topology t;
  for (double bw : bandwidths) {
    const VertexId a = t.add_node(NodeKind::kSwitch, "a");
    const VertexId b = t.add_node(NodeKind::kSwitch, "b");
    t.add_link(a, b, bw, "link");
  }
  return t;
}

// Completes the next flow, checking that it is `expected` at `time`.
void expect_next(FlowNetwork& net, FlowId expected, Nanos time) {
  const auto next = net.next_completion();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->second, expected);
  EXPECT_EQ(next->first, time);
  net.complete(next->second, next->first);
}

TEST(FlowNetwork, LoneFlowRunsAtItsBottleneck) {
  const Topology topo = links({25 * GB, 10 * GB, 40 * GB});
  FlowNetwork net(topo);
  const std::vector<LinkId> path = {0, 1, 2};
  const FlowId f = net.start(path, 13 * GB, 0, std::numeric_limits<double>::infinity(), 77);
  EXPECT_EQ(net.rate(f), 10 * GB);
  EXPECT_EQ(net.tag(f), 77u);
  EXPECT_DOUBLE_EQ(net.remaining(f, s / 2), 8 * GB);
  expect_next(net, f, 1300 * kNanosPerMilli);
  EXPECT_FALSE(net.active(f));
  EXPECT_EQ(net.active_count(), 0u);
  EXPECT_FALSE(net.next_completion().has_value());
}

TEST(FlowNetwork, FinishTimeRoundsUpToWholeNanoseconds) {
  const Topology topo = links({3});
  FlowNetwork net(topo);
  const std::vector<LinkId> path = {0};
  const FlowId f = net.start(path, 1, 10);  // 1 byte at 3 B/s: 333333333.3 ns
  expect_next(net, f, 10 + 333333334);
}

TEST(FlowNetwork, TwoFlowsShareALink) {
  // 10 GB/s link, 10 GB and 20 GB: both at 5 GB/s until 2 s; then the second alone at 10 GB/s for
  // its remaining 10 GB: done at 3 s.
  const Topology topo = links({10 * GB});
  FlowNetwork net(topo);
  const std::vector<LinkId> path = {0};
  const FlowId a = net.start(path, 10 * GB, 0);
  const FlowId b = net.start(path, 20 * GB, 0);
  EXPECT_EQ(net.rate(a), 5 * GB);
  EXPECT_EQ(net.rate(b), 5 * GB);
  expect_next(net, a, 2 * s);
  EXPECT_EQ(net.rate(b), 10 * GB);
  EXPECT_DOUBLE_EQ(net.remaining(b, 2 * s), 10 * GB);
  expect_next(net, b, 3 * s);
}

TEST(FlowNetwork, EqualFinishTimesGoToTheEarlierStartedFlow) {
  const Topology topo = links({10 * GB});
  FlowNetwork net(topo);
  const std::vector<LinkId> path = {0};
  const FlowId a = net.start(path, 10 * GB, 0);
  const FlowId b = net.start(path, 10 * GB, 0);
  expect_next(net, a, 2 * s);
  expect_next(net, b, 2 * s);  // its remaining is zero once a is gone
}

TEST(FlowNetwork, ClassicMaxMinWithThreeLinks) {
  // Links X = 10, Y = 3, Z = 6 GB/s. Flows: f1 on X; f2 on X,Y; f3 on Y,Z; f4 on Z.
  // Fair shares: X 10/2 = 5, Y 3/2 = 1.5, Z 6/2 = 3 -> Y binds: f2 = f3 = 1.5.
  // Then X has 8.5 left for f1 alone, Z has 4.5 left for f4 alone.
  const Topology topo = links({10 * GB, 3 * GB, 6 * GB});
  FlowNetwork net(topo);
  const LinkId X = 0, Y = 1, Z = 2;
  const std::vector<LinkId> p1 = {X}, p2 = {X, Y}, p3 = {Y, Z}, p4 = {Z};
  const FlowId f1 = net.start(p1, 17 * GB, 0);
  const FlowId f2 = net.start(p2, 4.5 * GB, 0);
  const FlowId f3 = net.start(p3, 9 * GB, 0);
  const FlowId f4 = net.start(p4, 21 * GB, 0);
  EXPECT_DOUBLE_EQ(net.rate(f1), 8.5 * GB);
  EXPECT_DOUBLE_EQ(net.rate(f2), 1.5 * GB);
  EXPECT_DOUBLE_EQ(net.rate(f3), 1.5 * GB);
  EXPECT_DOUBLE_EQ(net.rate(f4), 4.5 * GB);
  // f1: 17 / 8.5 = 2 s. Nothing else changes (f2 is held by Y).
  expect_next(net, f1, 2 * s);
  EXPECT_DOUBLE_EQ(net.rate(f2), 1.5 * GB);
  EXPECT_DOUBLE_EQ(net.rate(f4), 4.5 * GB);
  // f2: 4.5 / 1.5 = 3 s. Then f3 has Y alone (3) and Z shared (3 each): f3 = f4 = 3.
  expect_next(net, f2, 3 * s);
  EXPECT_DOUBLE_EQ(net.rate(f3), 3 * GB);
  EXPECT_DOUBLE_EQ(net.rate(f4), 3 * GB);
  // f3 at 3 s has 9 - 4.5 = 4.5 GB left: 1.5 s more. f4 has 21 - 13.5 = 7.5 GB left.
  expect_next(net, f3, 4500 * kNanosPerMilli);
  // f4 at 4.5 s: 7.5 - 4.5 = 3 GB left, alone on Z at 6 GB/s: 0.5 s more.
  EXPECT_DOUBLE_EQ(net.rate(f4), 6 * GB);
  expect_next(net, f4, 5 * s);
}

TEST(FlowNetwork, RateCapLeavesTheRestToOthers) {
  // 10 GB/s link; a capped at 2 GB/s, b takes the other 8. a: 4 GB in 2 s. b: 24 GB, 16 sent by 2 s,
  // then 8 GB at 10 GB/s: 0.8 s more.
  const Topology topo = links({10 * GB});
  FlowNetwork net(topo);
  const std::vector<LinkId> path = {0};
  const FlowId a = net.start(path, 4 * GB, 0, 2 * GB);
  const FlowId b = net.start(path, 24 * GB, 0);
  EXPECT_DOUBLE_EQ(net.rate(a), 2 * GB);
  EXPECT_DOUBLE_EQ(net.rate(b), 8 * GB);
  expect_next(net, a, 2 * s);
  expect_next(net, b, 2800 * kNanosPerMilli);
}

TEST(FlowNetwork, CapBelowLinkForLoneFlowAndEmptyPath) {
  const Topology topo = links({10 * GB});
  FlowNetwork net(topo);
  const std::vector<LinkId> path = {0};
  const FlowId a = net.start(path, 3 * GB, 0, 1 * GB);
  EXPECT_EQ(net.rate(a), 1 * GB);
  const FlowId local = net.start(std::span<const LinkId>{}, 1 * GB, 0, 4 * GB);  // only its own cap
  EXPECT_EQ(net.rate(local), 4 * GB);
  expect_next(net, local, 250 * kNanosPerMilli);
  expect_next(net, a, 3 * s);
}

TEST(FlowNetwork, CancellationFreesBandwidth) {
  // Two 10 GB flows on 10 GB/s; b cancelled at 1 s with 5 GB unsent; a then has 5 GB at 10 GB/s.
  const Topology topo = links({10 * GB});
  FlowNetwork net(topo);
  const std::vector<LinkId> path = {0};
  const FlowId a = net.start(path, 10 * GB, 0);
  const FlowId b = net.start(path, 10 * GB, 0);
  EXPECT_DOUBLE_EQ(net.cancel(b, 1 * s), 5 * GB);
  EXPECT_FALSE(net.active(b));
  EXPECT_EQ(net.rate(a), 10 * GB);
  expect_next(net, a, 1500 * kNanosPerMilli);
}

TEST(FlowNetwork, FlowStartedMidway) {
  // a alone from 0 (10 GB at 10 GB/s); b (10 GB) joins at 0.5 s when a has 5 GB left: both at 5 GB/s,
  // a done at 1.5 s; b then has 5 GB left at 10 GB/s: done at 2 s.
  const Topology topo = links({10 * GB});
  FlowNetwork net(topo);
  const std::vector<LinkId> path = {0};
  const FlowId a = net.start(path, 10 * GB, 0);
  EXPECT_EQ(net.next_completion()->first, 1 * s);
  const FlowId b = net.start(path, 10 * GB, s / 2);
  EXPECT_DOUBLE_EQ(net.remaining(a, s / 2), 5 * GB);
  expect_next(net, a, 1500 * kNanosPerMilli);
  expect_next(net, b, 2 * s);
}

TEST(FlowNetwork, DisjointFlowsDoNotInteract) {
  const Topology topo = links({10 * GB, 4 * GB});
  FlowNetwork net(topo);
  const std::vector<LinkId> p0 = {0}, p1 = {1};
  const FlowId a = net.start(p0, 10 * GB, 0);
  const FlowId b = net.start(p1, 2 * GB, 0);
  EXPECT_EQ(net.rate(a), 10 * GB);
  EXPECT_EQ(net.rate(b), 4 * GB);
  expect_next(net, b, s / 2);
  expect_next(net, a, s);
}

TEST(FlowNetwork, IdsAreReusedAndMisuseThrows) {
  const Topology topo = links({10 * GB});
  FlowNetwork net(topo);
  const std::vector<LinkId> path = {0};
  const FlowId a = net.start(path, 10 * GB, 0);
  EXPECT_THROW(net.complete(a, s / 2), std::logic_error);  // not its completion time
  net.complete(a, s);
  EXPECT_THROW(net.rate(a), std::logic_error);
  EXPECT_THROW(net.cancel(a, s), std::logic_error);
  EXPECT_THROW(net.start(path, 1, s / 2), std::logic_error);  // time went backwards
  const std::vector<LinkId> bad = {5};
  EXPECT_THROW(net.start(bad, 1, s), std::logic_error);
  const FlowId b = net.start(path, 1 * GB, s, std::numeric_limits<double>::infinity(), 9);
  EXPECT_EQ(b, a);  // slot reused
  EXPECT_EQ(net.tag(b), 9u);
}

TEST(FlowNetwork, ManyFlowsConserveLinkCapacity) {
  // Invariant: on every link the rates sum to at most its capacity, and every flow is held by a
  // saturated link or its cap (max-min optimality), for an irregular set of paths.
  const Topology topo = links({10 * GB, 7 * GB, 3 * GB, 12 * GB, 1 * GB});
  FlowNetwork net(topo);
  std::vector<std::vector<LinkId>> paths = {{0}, {0, 1}, {1, 2}, {2, 3}, {3}, {3, 4}, {0, 3}, {1}, {4}, {0, 1, 2, 3}};
  std::vector<FlowId> ids;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    ids.push_back(net.start(paths[i], 100 * GB, 0, i == 4 ? 2 * GB : std::numeric_limits<double>::infinity()));
  }
  std::vector<double> used(5, 0);
  for (std::size_t i = 0; i < paths.size(); ++i) {
    for (LinkId l : paths[i]) used[l] += net.rate(ids[i]);
  }
  for (LinkId l = 0; l < 5; ++l) EXPECT_LE(used[l], topo.link(l).bandwidth * (1 + 1e-12)) << l;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const double r = net.rate(ids[i]);
    bool held = (i == 4 && r == 2 * GB);
    for (LinkId l : paths[i]) {
      if (used[l] < topo.link(l).bandwidth * (1 - 1e-12)) continue;
      // Saturated link where this flow has the largest rate: it cannot grow without taking from a
      // flow that is no richer.
      double max_on_link = 0;
      for (std::size_t j = 0; j < paths.size(); ++j) {
        for (LinkId m : paths[j]) {
          if (m == l) max_on_link = std::max(max_on_link, net.rate(ids[j]));
        }
      }
      if (r >= max_on_link * (1 - 1e-12)) held = true;
    }
    EXPECT_TRUE(held) << "flow " << i << " at " << r;
  }
}

}  // namespace
}  // namespace sllm
