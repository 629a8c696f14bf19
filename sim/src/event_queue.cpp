// Event queue: a simplified ladder queue (see the header) of packed 128-bit (time, sequence|slot)
// keys plus a slot pool for the payloads. Cancellation sets a bit; cancelled keys are dropped when
// they are next moved or reach the front (or in a compaction once they outnumber live events), so
// cancel is O(1). Every structure is traversed in a fixed order, so the queue is deterministic.
#include "sllm/sim/event_queue.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace sllm {
namespace {

constexpr std::uint64_t kSlotMask = EventQueue::kMaxSlots - 1;
// Tuning (measured with bench_event_queue): a bucket of up to kBottomMax keys goes straight into the
// bottom heap; a crowded one is split into buckets of about kKeysPerBucket keys each.
constexpr std::size_t kBottomMax = 48;
constexpr std::size_t kKeysPerBucket = 8;
constexpr std::uint64_t kMaxRungBuckets = 4096;
constexpr std::size_t kMaxRungs = 24;
// Payload prefetching pays off once the pool outgrows the first-level caches.
constexpr std::size_t kPrefetchFrom = 4096;

template <class K>
inline std::uint64_t key_time(K key) {
  return static_cast<std::uint64_t>(key >> 64);
}
template <class K>
inline std::uint64_t key_low(K key) {
  return static_cast<std::uint64_t>(key);
}
template <class K>
inline std::uint32_t key_slot(K key) {
  return static_cast<std::uint32_t>(key_low(key) & kSlotMask);
}

// Branch-free select between two 128-bit keys, with 64-bit masks (GCC spills 128-bit masks).
template <class K>
inline K select_key(bool take_second, K first, K second) {
  const std::uint64_t mask = 0 - static_cast<std::uint64_t>(take_second);
  const std::uint64_t lo0 = key_low(first), lo1 = key_low(second);
  const std::uint64_t hi0 = key_time(first), hi1 = key_time(second);
  return (K{hi0 ^ ((hi0 ^ hi1) & mask)} << 64) | (lo0 ^ ((lo0 ^ lo1) & mask));
}

// Index (and key) of the least of the children first..first+count-1 of a 4-ary heap. Which child is
// least is unpredictable, so the choice is made with arithmetic, not branches.
template <class K>
inline std::size_t least_child(const K* h, std::size_t first, std::size_t count, K& least) {
  if (count == 4) {
    const K k0 = h[first], k1 = h[first + 1], k2 = h[first + 2], k3 = h[first + 3];
    const bool c01 = k1 < k0;
    const bool c23 = k3 < k2;
    const K m01 = select_key(c01, k0, k1);
    const K m23 = select_key(c23, k2, k3);
    const bool pick23 = m23 < m01;
    least = select_key(pick23, m01, m23);
    const std::size_t i01 = first + static_cast<std::size_t>(c01);
    const std::size_t i23 = first + 2 + static_cast<std::size_t>(c23);
    return i01 ^ ((i01 ^ i23) & (0 - static_cast<std::size_t>(pick23)));
  }
  std::size_t best = first;
  for (std::size_t c = first + 1; c < first + count; ++c) best = h[c] < h[best] ? c : best;
  least = h[best];
  return best;
}

// Moves `moving` down from position i of the 4-ary heap h[0..n) to where it belongs.
template <class K>
inline void sift_down(K* h, std::size_t n, std::size_t i, K moving) {
  for (;;) {
    const std::size_t first = 4 * i + 1;
    if (first >= n) break;
    K least;
    const std::size_t best = least_child(h, first, std::min<std::size_t>(4, n - first), least);
    if (!(least < moving)) break;
    h[i] = least;
    i = best;
  }
  h[i] = moving;
}

}  // namespace

EventQueue::EventQueue(std::size_t expected_pending) {
  bottom_.reserve(4 * kBottomMax);
  early_.reserve(kBottomMax);
  payload_.reserve(expected_pending);
  cancelled_bits_.reserve(expected_pending / 64 + 1);
  free_slots_.reserve(expected_pending);
}

EventId EventQueue::schedule_slow(Nanos time, std::uint32_t type, std::uint64_t a, std::uint64_t b) {
  if (time < now_) {
    throw std::logic_error("EventQueue: event of type " + std::to_string(type) + " scheduled at " +
                           std::to_string(time) + " ns, before now (" + std::to_string(now_) + " ns)");
  }
  if (next_seq_ >= kMaxSequence) throw std::length_error("EventQueue: sequence numbers exhausted");
  // No free slot: grow the pool by one, then take the inline path.
  if (payload_.size() >= kMaxSlots) {
    throw std::length_error("EventQueue: more than " + std::to_string(kMaxSlots) + " pending events");
  }
  payload_.push_back(Payload{0, 0, 0, 0});
  if (payload_.size() > cancelled_bits_.size() * 64) cancelled_bits_.push_back(0);
  free_slots_.push_back(static_cast<std::uint32_t>(payload_.size() - 1));
  return schedule(time, type, a, b);
}

void EventQueue::push_early(Key key) {
  early_.push_back(key);
  Key* h = early_.data();
  std::size_t i = early_.size() - 1;
  while (i > 0) {
    const std::size_t parent = (i - 1) >> 2;
    if (!(key < h[parent])) break;
    h[i] = h[parent];
    i = parent;
  }
  h[i] = key;
}

void EventQueue::pop_early() {
  const Key last = early_.back();
  early_.pop_back();
  if (!early_.empty()) sift_down(early_.data(), early_.size(), 0, last);
}

// Next event: the earlier of the bottom's last key and the early heap's root. Requires one non-empty.
inline bool EventQueue::front_is_early() const {
  return bottom_.empty() || (!early_.empty() && early_.front() < bottom_.back());
}

void EventQueue::move_to_bottom(std::vector<Key>& from) {
  // bottom_ is empty here: take over the bucket's buffer instead of copying its keys.
  bottom_.swap(from);
  if (cancelled_pending_ != 0) {
    std::size_t kept = 0;
    for (const Key k : bottom_) {
      if (is_cancelled(key_slot(k))) {
        release_cancelled(key_slot(k));
      } else {
        bottom_[kept++] = k;
      }
    }
    bottom_.resize(kept);
  }
  Key* keys = bottom_.data();
  const std::size_t n = bottom_.size();
  if (payload_.size() > kPrefetchFrom) {
    // These events fire soon; fetching their payloads now hides what would be a cache miss at each
    // pop in a large queue.
    for (std::size_t i = 0; i < n; ++i) __builtin_prefetch(&payload_[key_slot(keys[i])]);
  }
  // Latest first. Buckets are short (about kKeysPerBucket keys), where insertion sort is fastest.
  if (n > 4 * kBottomMax) {
    std::sort(keys, keys + n, [](Key x, Key y) { return y < x; });  // an unsplittable bucket
    return;
  }
  for (std::size_t i = 1; i < n; ++i) {
    const Key k = keys[i];
    std::size_t j = i;
    for (; j > 0 && keys[j - 1] < k; --j) keys[j] = keys[j - 1];
    keys[j] = k;
  }
}

void EventQueue::add_rung(std::uint64_t start, std::uint32_t shift, std::uint64_t buckets,
                          std::vector<Key>& from) {
  const std::uint32_t first = rungs_.empty() ? 0 : rungs_.back().first_bucket + rungs_.back().buckets;
  if (bucket_pool_.size() < first + buckets) bucket_pool_.resize(first + buckets);
  // Saturate: a rung reaching past the largest time simply covers everything after its start.
  const std::uint64_t end = (shift >= 64 || buckets > ((UINT64_MAX - start) >> shift))
                                ? UINT64_MAX
                                : start + (buckets << shift);
  rungs_.push_back(Rung{start, end, shift, static_cast<std::uint32_t>(buckets), 0, first});
  for (const Key k : from) {
    if (cancelled_pending_ != 0 && is_cancelled(key_slot(k))) {
      release_cancelled(key_slot(k));
    } else {
      bucket_pool_[first + ((key_time(k) - start) >> shift)].push_back(k);
    }
  }
  from.clear();
}

bool EventQueue::refill_bottom() {
  while (bottom_.empty() && early_.empty()) {
    if (rungs_.empty()) {
      if (top_.empty()) return false;
      const std::uint64_t lo = top_min_, hi = top_max_;
      top_min_ = UINT64_MAX;
      top_max_ = 0;
      if (top_.size() <= kBottomMax || lo == hi) {
        bottom_limit_ = hi + 1;  // hi <= INT64_MAX: no overflow
        move_to_bottom(top_);
        continue;
      }
      const std::uint64_t target = std::clamp<std::uint64_t>(top_.size() / kKeysPerBucket, 2, kMaxRungBuckets);
      const std::uint64_t span = hi - lo;
      std::uint32_t shift = 0;
      while ((span >> shift) >= target) ++shift;
      bottom_limit_ = lo;
      add_rung(lo, shift, (span >> shift) + 1, top_);
      continue;
    }
    Rung& rung = rungs_.back();
    while (rung.next < rung.buckets && bucket_pool_[rung.first_bucket + rung.next].empty()) ++rung.next;
    if (rung.next == rung.buckets) {
      bottom_limit_ = rung.end;
      rungs_.pop_back();
      continue;
    }
    std::vector<Key>& bucket = bucket_pool_[rung.first_bucket + rung.next];
    const std::uint64_t bucket_start = rung.start + (std::uint64_t{rung.next} << rung.shift);
    ++rung.next;
    if (bucket.size() > kBottomMax && rung.shift > 0 && rungs_.size() < kMaxRungs) {
      // Crowded: split this bucket's time range into a finer rung of 2^k buckets.
      std::uint32_t k = 1;
      while (k < rung.shift && (std::uint64_t{2} << k) <= std::min(bucket.size() / kKeysPerBucket, kMaxRungBuckets)) ++k;
      const std::uint32_t child_shift = rung.shift - k;
      bottom_limit_ = bucket_start;
      split_scratch_.swap(bucket);  // add_rung may grow bucket_pool_, which would move `bucket`
      add_rung(bucket_start, child_shift, std::uint64_t{1} << k, split_scratch_);
      continue;
    }
    bottom_limit_ = rung.next == rung.buckets ? rung.end : rung.start + (std::uint64_t{rung.next} << rung.shift);
    move_to_bottom(bucket);
  }
  return true;
}

bool EventQueue::cancel(EventId id) {
  if (id.slot >= payload_.size()) return false;
  Payload& p = payload_[id.slot];
  // A matching generation means the event is still pending: firing and cancelling both bump it.
  if (p.generation != id.generation || is_cancelled(id.slot)) return false;
  ++p.generation;
  cancelled_bits_[id.slot >> 6] |= std::uint64_t{1} << (id.slot & 63);
  --live_;
  ++cancelled_pending_;
  // Amortised O(1): a compaction costs O(pending) and happens only after as many cancellations.
  if (cancelled_pending_ > 1024 && cancelled_pending_ > live_) compact();
  return true;
}

void EventQueue::release_cancelled(std::uint32_t slot) {
  cancelled_bits_[slot >> 6] &= ~(std::uint64_t{1} << (slot & 63));
  free_slots_.push_back(slot);
  --cancelled_pending_;
}

void EventQueue::compact() {
  auto filter = [this](std::vector<Key>& keys) {
    std::size_t kept = 0;
    for (const Key k : keys) {
      if (is_cancelled(key_slot(k))) {
        release_cancelled(key_slot(k));
      } else {
        keys[kept++] = k;
      }
    }
    keys.resize(kept);
  };
  for (const Rung& rung : rungs_) {
    for (std::uint32_t i = rung.next; i < rung.buckets; ++i) filter(bucket_pool_[rung.first_bucket + i]);
  }
  filter(top_);     // top_min_/top_max_ stay valid bounds
  filter(bottom_);  // stays sorted
  filter(early_);
  const std::size_t n = early_.size();
  if (n > 1) {
    for (std::size_t i = (n - 2) / 4 + 1; i-- > 0;) sift_down(early_.data(), n, i, early_[i]);
  }
}

void EventQueue::skip_cancelled() {
  for (;;) {
    if (bottom_.empty() && early_.empty() && !refill_bottom()) return;
    if (cancelled_pending_ == 0) return;
    const bool early = front_is_early();
    const std::uint32_t slot = key_slot(early ? early_.front() : bottom_.back());
    if (!is_cancelled(slot)) return;
    release_cancelled(slot);
    if (early) {
      pop_early();
    } else {
      bottom_.pop_back();
    }
  }
}

Nanos EventQueue::next_time() {
  skip_cancelled();
  if (bottom_.empty() && early_.empty()) throw std::logic_error("EventQueue::next_time on an empty queue");
  return static_cast<Nanos>(key_time(front_is_early() ? early_.front() : bottom_.back()));
}

EventQueue::Key EventQueue::pop_key_slow() {
  skip_cancelled();
  if (bottom_.empty() && early_.empty()) throw std::logic_error("EventQueue::pop on an empty queue");
  Key key;
  if (front_is_early()) {
    key = early_.front();
    pop_early();
  } else {
    key = bottom_.back();
    bottom_.pop_back();
  }
  return key;
}

}  // namespace sllm
