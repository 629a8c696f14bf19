// Event queue: order (time, then insertion), cancellation semantics, and the fingerprint, checked
// against a simple reference model (a sorted list of (time, seq)).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include "sllm/sim/event_queue.h"

namespace sllm {
namespace {

TEST(EventQueue, PopsInTimeOrder) {
  EventQueue q;
  const Nanos times[] = {50, 10, 40, 30, 20, 60, 5};
  for (std::uint64_t i = 0; i < std::size(times); ++i) q.schedule(times[i], 1, i);
  EXPECT_EQ(q.size(), 7u);
  EXPECT_EQ(q.next_time(), 5);
  const Nanos expected[] = {5, 10, 20, 30, 40, 50, 60};
  for (Nanos t : expected) {
    const Event e = q.pop();
    EXPECT_EQ(e.time, t);
    EXPECT_EQ(q.now(), t);
    EXPECT_EQ(times[e.a], t);  // the payload travelled with its time
  }
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.processed(), 7u);
}

TEST(EventQueue, EqualTimesPopInInsertionOrder) {
  EventQueue q;
  for (std::uint64_t i = 0; i < 100; ++i) q.schedule(i % 3 == 0 ? 7 : 9, static_cast<std::uint32_t>(i), i, 2 * i);
  std::vector<std::uint64_t> at7, at9;
  Event last;
  for (int k = 0; k < 100; ++k) {
    const Event e = q.pop();
    if (k > 0) {
      EXPECT_TRUE(e.time > last.time || (e.time == last.time && e.seq > last.seq));
    }
    last = e;
    EXPECT_EQ(e.b, 2 * e.a);
    EXPECT_EQ(e.type, e.a);
    (e.time == 7 ? at7 : at9).push_back(e.a);
  }
  ASSERT_EQ(at7.size(), 34u);
  ASSERT_EQ(at9.size(), 66u);
  EXPECT_TRUE(std::is_sorted(at7.begin(), at7.end()));
  EXPECT_TRUE(std::is_sorted(at9.begin(), at9.end()));
}

TEST(EventQueue, SchedulingAtNowIsAllowedAndPastThrows) {
  EventQueue q;
  q.schedule(100, 0);
  q.pop();
  EXPECT_EQ(q.now(), 100);
  EXPECT_NO_THROW(q.schedule(100, 0));
  EXPECT_THROW(q.schedule(99, 0), std::logic_error);
  EXPECT_EQ(q.size(), 1u);
}

TEST(EventQueue, CancelRemovesOnlyThatEvent) {
  EventQueue q;
  const EventId a = q.schedule(10, 1, 1);
  const EventId b = q.schedule(20, 1, 2);
  const EventId c = q.schedule(30, 1, 3);
  EXPECT_TRUE(q.cancel(b));
  EXPECT_FALSE(q.cancel(b));  // second cancel of the same handle
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.pop().a, 1u);
  EXPECT_FALSE(q.cancel(a));  // already fired
  EXPECT_EQ(q.next_time(), 30);
  EXPECT_EQ(q.pop().a, 3u);
  EXPECT_FALSE(q.cancel(c));
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.cancel(EventId{}));        // default (invalid) handle
  EXPECT_FALSE(q.cancel(EventId{12345, 0}));  // never allocated
}

TEST(EventQueue, CancelledEarliestIsSkippedByNextTime) {
  EventQueue q;
  const EventId first = q.schedule(5, 0);
  q.schedule(8, 0);
  EXPECT_TRUE(q.cancel(first));
  EXPECT_EQ(q.next_time(), 8);
  EXPECT_EQ(q.pop().time, 8);
  EXPECT_EQ(q.processed(), 1u);  // cancelled events are not processed
}

TEST(EventQueue, StaleHandleDoesNotCancelTheSlotsNextEvent) {
  EventQueue q;
  const EventId cancelled = q.schedule(10, 0, 1);
  q.schedule(20, 0, 2);
  EXPECT_TRUE(q.cancel(cancelled));
  EXPECT_EQ(q.next_time(), 20);  // drops the cancelled key, freeing its slot
  const EventId reuser = q.schedule(30, 0, 3);
  EXPECT_EQ(reuser.slot, cancelled.slot);  // pooled: the slot is reused...
  EXPECT_NE(reuser.generation, cancelled.generation);  // ...under a new generation
  EXPECT_FALSE(q.cancel(cancelled));
  EXPECT_EQ(q.size(), 2u);

  const Event fired = q.pop();
  EXPECT_EQ(fired.a, 2u);
  const EventId after_pop = q.schedule(40, 0, 4);  // reuses the fired event's slot
  EXPECT_EQ(q.pop().a, 3u);
  EXPECT_TRUE(q.cancel(after_pop));
  EXPECT_TRUE(q.empty());
}

// Drives the queue and a reference (an ordered set of (time, seq)) with the same random operations:
// schedules at now() + `offset(rng)` (saturated at the end of time), cancellations and pops, in proportions given by
// `schedule_weight` / `cancel_weight` / the rest (out of 10). Checks every popped event and the size.
template <class Offset>
void check_against_reference(std::uint64_t seed, int steps, int schedule_weight, int cancel_weight,
                             Offset offset) {
  struct Pending {
    std::uint64_t a;
    EventId id;
  };
  std::mt19937_64 rng(seed);
  EventQueue q(16);
  std::map<std::pair<Nanos, std::uint64_t>, Pending> reference;
  std::vector<std::pair<Nanos, std::uint64_t>> keys;  // for picking a random pending event
  std::uint64_t seq = 0;
  for (int step = 0; step < steps; ++step) {
    const int r = static_cast<int>(rng() % 10);
    if (r < schedule_weight || reference.empty()) {
      const Nanos off = offset(rng);
      const Nanos t = off > std::numeric_limits<Nanos>::max() - q.now() ? std::numeric_limits<Nanos>::max()
                                                                         : q.now() + off;
      const std::uint64_t a = rng();
      reference.emplace(std::make_pair(t, seq), Pending{a, q.schedule(t, 3, a)});
      keys.emplace_back(t, seq++);
    } else if (r < schedule_weight + cancel_weight) {
      // Pick a random key still pending (lazily pruning fired ones).
      std::size_t k = rng() % keys.size();
      while (!reference.count(keys[k])) {
        keys[k] = keys.back();
        keys.pop_back();
        k = rng() % keys.size();
      }
      const auto it = reference.find(keys[k]);
      ASSERT_TRUE(q.cancel(it->second.id));
      ASSERT_FALSE(q.cancel(it->second.id));
      reference.erase(it);
    } else {
      const auto earliest = reference.begin();
      ASSERT_EQ(q.next_time(), earliest->first.first);
      const Event e = q.pop();
      ASSERT_EQ(e.time, earliest->first.first);
      ASSERT_EQ(e.seq, earliest->first.second);
      ASSERT_EQ(e.a, earliest->second.a);
      ASSERT_FALSE(q.cancel(earliest->second.id));  // fired: its handle is stale
      reference.erase(earliest);
    }
    ASSERT_EQ(q.size(), reference.size());
    if (keys.size() > 4 * reference.size() + 64) {
      std::erase_if(keys, [&](const auto& key) { return !reference.count(key); });
    }
  }
  while (!reference.empty()) {  // drain
    ASSERT_EQ(q.pop().seq, reference.begin()->first.second);
    reference.erase(reference.begin());
  }
  EXPECT_TRUE(q.empty());
}

TEST(EventQueue, MatchesReferenceWithSmallOffsets) {
  // Many near-equal times and cancellations (enough to trigger compactions).
  check_against_reference(1, 200000, 5, 3, [](std::mt19937_64& rng) { return static_cast<Nanos>(rng() % 1000); });
}

TEST(EventQueue, MatchesReferenceWithWideExponentialOffsets) {
  // Spread over many orders of magnitude: exercises crowded buckets being split into finer rungs.
  check_against_reference(2, 200000, 5, 1, [](std::mt19937_64& rng) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    return static_cast<Nanos>(-1e9 * std::log1p(-u) * static_cast<double>(rng() % 3 == 0 ? 1000 : 1));
  });
}

TEST(EventQueue, MatchesReferenceWithManyEqualTimes) {
  // Half the events at now() itself (zero delay), the rest within 4 ns: unsplittable buckets.
  check_against_reference(3, 100000, 6, 1, [](std::mt19937_64& rng) {
    return rng() % 2 == 0 ? Nanos{0} : static_cast<Nanos>(rng() % 4);
  });
}

TEST(EventQueue, MatchesReferenceWithFarFutureTimes) {
  // Occasional events near the end of time (timeouts that never fire) next to ordinary ones.
  check_against_reference(4, 100000, 5, 2, [](std::mt19937_64& rng) {
    if (rng() % 50 == 0) return std::numeric_limits<Nanos>::max() / 2 + static_cast<Nanos>(rng() % 1000);
    return static_cast<Nanos>(rng() % 1'000'000);
  });
}

TEST(EventQueue, MatchesReferenceWithBurstsThenDrain) {
  // Grow to tens of thousands pending, then mostly pop: rungs are built, exhausted and rebuilt.
  for (std::uint64_t seed = 5; seed < 8; ++seed) {
    check_against_reference(seed, 60000, 9, 0, [](std::mt19937_64& rng) { return static_cast<Nanos>(rng() % 100'000'000); });
  }
}

TEST(EventQueue, ScheduleAtEndOfTime) {
  EventQueue q;
  const Nanos end = std::numeric_limits<Nanos>::max();
  q.schedule(end, 0, 1);
  q.schedule(0, 0, 2);
  q.schedule(end, 0, 3);
  EXPECT_EQ(q.pop().a, 2u);
  EXPECT_EQ(q.pop().a, 1u);
  EXPECT_EQ(q.pop().a, 3u);
  EXPECT_EQ(q.now(), end);
}

// Runs a fixed script and returns the fingerprint; `variant` changes one thing about it.
std::uint64_t script_fingerprint(int variant) {
  EventQueue q;
  for (std::uint64_t i = 0; i < 50; ++i) {
    const Nanos t = static_cast<Nanos>((i * 37) % 101);
    const std::uint32_t type = static_cast<std::uint32_t>(i % 4);
    std::uint64_t a = i;
    if (variant == 1 && i == 25) a = 26;           // one operand differs
    Nanos when = t;
    if (variant == 2 && i == 10) when = t + 1;      // one time differs
    std::uint32_t ty = type;
    if (variant == 3 && i == 40) ty = type + 1;     // one type differs
    q.schedule(when, ty, a, i * i);
  }
  while (!q.empty()) q.pop();
  return q.fingerprint();
}

TEST(EventQueue, FingerprintIsDeterministicAndSensitive) {
  const std::uint64_t base = script_fingerprint(0);
  EXPECT_EQ(base, script_fingerprint(0));
  EXPECT_NE(base, EventQueue().fingerprint());
  EXPECT_NE(base, script_fingerprint(1));
  EXPECT_NE(base, script_fingerprint(2));
  EXPECT_NE(base, script_fingerprint(3));
}

TEST(EventQueue, FingerprintDependsOnOrder) {
  // Same two events popped in the opposite order.
  EventQueue x, y;
  x.schedule(1, 0, 1);
  x.schedule(1, 0, 2);
  y.schedule(1, 0, 2);
  y.schedule(1, 0, 1);
  while (!x.empty()) x.pop();
  while (!y.empty()) y.pop();
  EXPECT_NE(x.fingerprint(), y.fingerprint());
}

TEST(EventQueue, EmptyQueueAccessThrows) {
  EventQueue q;
  EXPECT_THROW(q.pop(), std::logic_error);
  EXPECT_THROW(q.next_time(), std::logic_error);
  const EventId id = q.schedule(3, 0);
  q.cancel(id);
  EXPECT_TRUE(q.empty());
  EXPECT_THROW(q.pop(), std::logic_error);
}

}  // namespace
}  // namespace sllm
