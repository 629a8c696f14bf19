// Event queue: an implicit 4-ary min-heap of packed (time, sequence|slot) keys plus a slot pool for
// payloads. A 4-ary heap halves the depth of a binary heap, and with 16-byte keys the four children
// of a node are one cache line, so a sift-down costs about one cache miss per level. Cancellation
// marks the slot; the key is dropped when it reaches the top (or in a compaction when cancelled keys
// outnumber live ones), which keeps cancel O(1).
#include "sllm/sim/event_queue.h"

#include <stdexcept>
#include <string>

namespace sllm {
namespace {

constexpr std::uint64_t kSlotMask = EventQueue::kMaxSlots - 1;

// The key order is lexicographic (time, seq_slot); the sequence in the high bits of seq_slot is unique,
// so no two keys compare equal and the pop order does not depend on the heap's shape.
template <class K>
inline bool key_less(const K& x, const K& y) {
  return x.time < y.time || (x.time == y.time && x.seq_slot < y.seq_slot);
}

// Stafford's "Mix13" 64-bit finaliser (as in splitmix64): every input bit affects every output bit.
inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

EventQueue::EventQueue(std::size_t expected_pending) {
  heap_.reserve(expected_pending + kHeapOffset);
  heap_.resize(kHeapOffset, Key{0, 0});
  payload_.reserve(expected_pending);
  cancelled_.reserve(expected_pending);
  free_slots_.reserve(expected_pending);
}

std::uint32_t EventQueue::allocate_slot() {
  if (!free_slots_.empty()) {
    const std::uint32_t slot = free_slots_.back();
    free_slots_.pop_back();
    return slot;
  }
  if (payload_.size() >= kMaxSlots) {
    throw std::length_error("EventQueue: more than " + std::to_string(kMaxSlots) + " pending events");
  }
  payload_.push_back(Payload{0, 0, 0, 0});
  cancelled_.push_back(0);
  return static_cast<std::uint32_t>(payload_.size() - 1);
}

EventId EventQueue::schedule(Nanos time, std::uint32_t type, std::uint64_t a, std::uint64_t b) {
  if (time < now_) {
    throw std::logic_error("EventQueue: event of type " + std::to_string(type) + " scheduled at " +
                           std::to_string(time) + " ns, before now (" + std::to_string(now_) + " ns)");
  }
  if (next_seq_ >= kMaxSequence) throw std::length_error("EventQueue: sequence numbers exhausted");
  const std::uint32_t slot = allocate_slot();
  Payload& p = payload_[slot];
  p.a = a;
  p.b = b;
  p.type = type;
  push_key(Key{time, (next_seq_++ << kSlotBits) | slot});
  ++live_;
  return EventId{slot, p.generation};
}

bool EventQueue::cancel(EventId id) {
  if (id.slot >= payload_.size()) return false;
  Payload& p = payload_[id.slot];
  // A matching generation means the event is still pending: firing and cancelling both bump it.
  if (p.generation != id.generation || cancelled_[id.slot]) return false;
  ++p.generation;
  cancelled_[id.slot] = 1;
  --live_;
  ++cancelled_in_heap_;
  // Amortised O(1): a compaction costs O(heap) and happens only after as many cancellations.
  if (cancelled_in_heap_ > 1024 && cancelled_in_heap_ > live_) compact();
  return true;
}

void EventQueue::push_key(Key key) {
  heap_.push_back(key);
  Key* h = heap_.data() + kHeapOffset;
  std::size_t i = heap_.size() - 1 - kHeapOffset;
  while (i > 0) {
    const std::size_t parent = (i - 1) >> 2;
    if (!key_less(key, h[parent])) break;
    h[i] = h[parent];
    i = parent;
  }
  h[i] = key;
}

void EventQueue::pop_top() {
  Key* h = heap_.data() + kHeapOffset;
  const Key last = heap_.back();
  heap_.pop_back();
  const std::size_t n = heap_.size() - kHeapOffset;
  if (n == 0) return;
  // Move the hole at the root down to where `last` belongs.
  std::size_t i = 0;
  for (;;) {
    const std::size_t first = 4 * i + 1;
    if (first >= n) break;
    std::size_t best = first;
    if (first + 3 < n) {
      // All four children present: pick the least pairwise (the compiler makes these selects).
      const std::size_t b01 = key_less(h[first + 1], h[first]) ? first + 1 : first;
      const std::size_t b23 = key_less(h[first + 3], h[first + 2]) ? first + 3 : first + 2;
      best = key_less(h[b23], h[b01]) ? b23 : b01;
    } else {
      for (std::size_t c = first + 1; c < n; ++c) {
        if (key_less(h[c], h[best])) best = c;
      }
    }
    if (!key_less(h[best], last)) break;
    h[i] = h[best];
    i = best;
  }
  h[i] = last;
}

void EventQueue::skip_cancelled() {
  while (heap_.size() > kHeapOffset) {
    const std::uint32_t slot = static_cast<std::uint32_t>(heap_[kHeapOffset].seq_slot & kSlotMask);
    if (!cancelled_[slot]) return;
    cancelled_[slot] = 0;
    --cancelled_in_heap_;
    free_slots_.push_back(slot);
    pop_top();
  }
}

void EventQueue::compact() {
  std::size_t kept = kHeapOffset;
  for (std::size_t i = kHeapOffset; i < heap_.size(); ++i) {
    const std::uint32_t slot = static_cast<std::uint32_t>(heap_[i].seq_slot & kSlotMask);
    if (cancelled_[slot]) {
      cancelled_[slot] = 0;
      free_slots_.push_back(slot);
    } else {
      heap_[kept++] = heap_[i];
    }
  }
  heap_.resize(kept);
  cancelled_in_heap_ = 0;
  // Rebuild bottom-up (Floyd): sift down every internal node, last first.
  Key* h = heap_.data() + kHeapOffset;
  const std::size_t n = heap_.size() - kHeapOffset;
  if (n < 2) return;
  for (std::size_t start = (n - 2) / 4 + 1; start-- > 0;) {
    const Key moving = h[start];
    std::size_t i = start;
    for (;;) {
      const std::size_t first = 4 * i + 1;
      if (first >= n) break;
      std::size_t best = first;
      for (std::size_t c = first + 1; c < n && c < first + 4; ++c) {
        if (key_less(h[c], h[best])) best = c;
      }
      if (!key_less(h[best], moving)) break;
      h[i] = h[best];
      i = best;
    }
    h[i] = moving;
  }
}

Nanos EventQueue::next_time() {
  skip_cancelled();
  if (heap_.size() == kHeapOffset) throw std::logic_error("EventQueue::next_time on an empty queue");
  return heap_[kHeapOffset].time;
}

Event EventQueue::pop() {
  skip_cancelled();
  if (heap_.size() == kHeapOffset) throw std::logic_error("EventQueue::pop on an empty queue");
  const Key top = heap_[kHeapOffset];
  pop_top();
  const std::uint32_t slot = static_cast<std::uint32_t>(top.seq_slot & kSlotMask);
  Payload& p = payload_[slot];
  const Event event{top.time, top.seq_slot >> kSlotBits, p.type, p.a, p.b};
  ++p.generation;
  free_slots_.push_back(slot);
  --live_;
  now_ = top.time;
  ++processed_;
  // Fold what happened (time, type, operands) in order; the chain makes the fingerprint order-sensitive.
  std::uint64_t fp = mix64(fingerprint_ ^ static_cast<std::uint64_t>(event.time));
  fp = mix64(fp ^ event.type);
  fp = mix64(fp ^ event.a);
  fingerprint_ = mix64(fp ^ event.b);
  return event;
}

}  // namespace sllm
