// Flow network: finish times and rates against values computed by hand from max-min fairness.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
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

// Whole nanoseconds to move `bytes` at `rate`, rounded up (the contract of next_completion()).
Nanos duration_ns(double bytes, double rate) { return static_cast<Nanos>(std::ceil(bytes / rate * 1e9)); }

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

// Max-min optimality, checked independently of the algorithm: rates are feasible on every link, and
// every flow is either at its cap or crosses a saturated link on which no flow has a higher rate
// (so it cannot grow without taking from a flow that is no richer).
void expect_max_min_fair(const Topology& topo, const FlowNetwork& net, const std::vector<std::vector<LinkId>>& paths,
                         const std::vector<FlowId>& ids, const std::vector<double>& caps) {
  std::vector<double> used(topo.link_count(), 0);
  std::vector<double> max_on_link(topo.link_count(), 0);
  for (std::size_t i = 0; i < paths.size(); ++i) {
    for (LinkId l : paths[i]) {
      used[l] += net.rate(ids[i]);
      max_on_link[l] = std::max(max_on_link[l], net.rate(ids[i]));
    }
  }
  for (LinkId l = 0; l < topo.link_count(); ++l) EXPECT_LE(used[l], topo.link(l).bandwidth * (1 + 1e-12)) << l;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const double r = net.rate(ids[i]);
    bool held = r >= caps[i] * (1 - 1e-12);
    for (LinkId l : paths[i]) {
      if (used[l] >= topo.link(l).bandwidth * (1 - 1e-12) && r >= max_on_link[l] * (1 - 1e-12)) held = true;
    }
    EXPECT_TRUE(held) << "flow " << i << " at " << r;
  }
}

TEST(FlowNetwork, ManyFlowsAreMaxMinFair) {
  const Topology topo = links({10 * GB, 7 * GB, 3 * GB, 12 * GB, 1 * GB});
  FlowNetwork net(topo);
  const std::vector<std::vector<LinkId>> paths = {{0}, {0, 1}, {1, 2}, {2, 3}, {3}, {3, 4}, {0, 3}, {1}, {4}, {0, 1, 2, 3}};
  std::vector<double> caps;
  std::vector<FlowId> ids;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    caps.push_back(i == 4 ? 2 * GB : std::numeric_limits<double>::infinity());
    ids.push_back(net.start(paths[i], 100 * GB, 0, caps.back()));
  }
  expect_max_min_fair(topo, net, paths, ids, caps);
}

TEST(FlowNetwork, LargeComponentWithCaps) {
  // 30 flows on one 100 GB/s link: 10 capped at 1, 10 at 2, 10 uncapped. The capped ones get their caps
  // (30 in all); the other 70 is split evenly: 7 each.
  const Topology topo = links({100 * GB});
  FlowNetwork net(topo);
  const std::vector<LinkId> path = {0};
  std::vector<FlowId> ids;
  for (int i = 0; i < 30; ++i) {
    const double cap = i % 3 == 0 ? 1 * GB : i % 3 == 1 ? 2 * GB : std::numeric_limits<double>::infinity();
    ids.push_back(net.start(path, 10 * GB, 0, cap));
  }
  for (int i = 0; i < 30; ++i) EXPECT_DOUBLE_EQ(net.rate(ids[i]), (i % 3 == 0 ? 1 : i % 3 == 1 ? 2 : 7) * GB) << i;
  // The uncapped ones finish first (10 GB at 7 GB/s), the earliest started first.
  const auto next = net.next_completion();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->second, ids[2]);
  EXPECT_EQ(next->first, duration_ns(10 * GB, 7 * GB));
}

TEST(FlowNetwork, LargeComponentThroughASharedStore) {
  // Remote store link of 60 GB/s, 40 flows each also crossing its own NIC: 20 NICs of 1.25 GB/s and 20
  // of 10 GB/s. Store share 60/40 = 1.5 > 1.25, so the slow NICs bind first (1.25 each, 25 in all);
  // the store's other 35 go to the 20 fast-NIC flows: 1.75 each.
  std::vector<double> bw = {60 * GB};
  for (int i = 0; i < 40; ++i) bw.push_back(i < 20 ? 1.25 * GB : 10 * GB);
  const Topology topo = links(bw);
  FlowNetwork net(topo);
  std::vector<std::vector<LinkId>> paths;
  std::vector<FlowId> ids;
  for (LinkId i = 0; i < 40; ++i) {
    paths.push_back({0, i + 1});
    ids.push_back(net.start(paths.back(), 3.5 * GB, 0));
  }
  for (int i = 0; i < 40; ++i) EXPECT_DOUBLE_EQ(net.rate(ids[i]), i < 20 ? 1.25 * GB : 1.75 * GB) << i;
  // Fast flows finish at 2 s (3.5 / 1.75); then the slow ones are held by their NICs alone (the store
  // has 60 for 20 flows): still 1.25, finishing at 2.8 s.
  for (int i = 20; i < 40; ++i) expect_next(net, ids[i], 2 * s);
  EXPECT_DOUBLE_EQ(net.rate(ids[0]), 1.25 * GB);
  for (int i = 0; i < 20; ++i) expect_next(net, ids[i], 2800 * kNanosPerMilli);
}

TEST(FlowNetwork, RandomLargeComponentsAreMaxMinFair) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> bw;
    for (int l = 0; l < 12; ++l) bw.push_back(static_cast<double>(1 + rng() % 20) * GB);
    const Topology topo = links(bw);
    FlowNetwork net(topo);
    std::vector<std::vector<LinkId>> paths;
    std::vector<double> caps;
    std::vector<FlowId> ids;
    const int flows = 5 + static_cast<int>(rng() % 60);  // both sides of the small/large threshold
    for (int f = 0; f < flows; ++f) {
      std::vector<LinkId> p;
      for (LinkId l = 0; l < 12; ++l) {
        if (rng() % 4 == 0) p.push_back(l);
      }
      if (p.empty()) p.push_back(static_cast<LinkId>(rng() % 12));
      paths.push_back(p);
      caps.push_back(rng() % 3 == 0 ? static_cast<double>(1 + rng() % 4) * GB / 4 : std::numeric_limits<double>::infinity());
      ids.push_back(net.start(p, 1 * GB, 0, caps.back()));
    }
    expect_max_min_fair(topo, net, paths, ids, caps);
    // Cancel a third of them: the rest must be max-min fair among themselves again.
    std::vector<std::vector<LinkId>> kept_paths;
    std::vector<double> kept_caps;
    std::vector<FlowId> kept_ids;
    for (int f = 0; f < flows; ++f) {
      if (f % 3 == 0) {
        net.cancel(ids[f], 1000);
      } else {
        kept_paths.push_back(paths[f]);
        kept_caps.push_back(caps[f]);
        kept_ids.push_back(ids[f]);
      }
    }
    expect_max_min_fair(topo, net, kept_paths, kept_ids, kept_caps);
  }
}

TEST(FlowNetwork, NextCompletionFollowsRateChanges) {
  // Completion order computed by hand through a sequence of starts and a cancellation on one 10 GB/s
  // link; after each change the earliest completion must be re-derived, not remembered.
  const Topology topo = links({10 * GB});
  FlowNetwork net(topo);
  const std::vector<LinkId> path = {0};
  const FlowId a = net.start(path, 5 * GB, 0);         // alone: done at 0.5 s
  EXPECT_EQ(net.next_completion()->first, s / 2);
  const FlowId b = net.start(path, 1 * GB, s / 10);    // a has 4 GB left; both at 5: b done at 0.3 s
  EXPECT_EQ(net.next_completion()->second, b);
  EXPECT_EQ(net.next_completion()->first, 3 * s / 10);
  net.cancel(b, 2 * s / 10);                           // a has 3.5 GB left at 10: done at 0.55 s
  EXPECT_EQ(net.next_completion()->second, a);
  EXPECT_EQ(net.next_completion()->first, 550 * kNanosPerMilli);
}

}  // namespace
}  // namespace sllm
