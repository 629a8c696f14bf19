// The simulation engine's event queue. Events are plain structs ordered by (time, insertion sequence),
// so ties resolve in the order events were scheduled and runs are deterministic. Cancellation is O(1)
// (a handle names a slot and its generation); memory is pooled, so steady-state scheduling allocates
// nothing. Every popped event is folded into a 64-bit fingerprint reported in run summaries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sllm/core/random.h"
#include "sllm/core/units.h"

namespace sllm {

// What happened is a small type tag plus two operands the owner of the queue interprets
// (e.g. type = kRequestArrival, a = request index).
struct Event {
  Nanos time = 0;
  std::uint64_t seq = 0;  // insertion sequence number: the tie-breaker
  std::uint32_t type = 0;
  std::uint64_t a = 0;
  std::uint64_t b = 0;
};

struct EventId {
  std::uint32_t slot = UINT32_MAX;
  std::uint32_t generation = 0;
  bool valid() const { return slot != UINT32_MAX; }
};

class EventQueue {
 public:
  explicit EventQueue(std::size_t expected_pending = 1024);

  // `time` must be >= now(); scheduling into the past is a logic error (throws std::logic_error).
  EventId schedule(Nanos time, std::uint32_t type, std::uint64_t a = 0, std::uint64_t b = 0);
  // Returns false when the event already fired or was cancelled (stale handles are harmless).
  bool cancel(EventId id);

  bool empty() const { return live_ == 0; }
  std::size_t size() const { return live_; }
  Nanos now() const { return now_; }
  // Time of the next live event; empty() must be false.
  Nanos next_time();
  // Removes and returns the earliest live event, advances now() to its time, updates the fingerprint.
  Event pop();

  std::uint64_t fingerprint() const { return fingerprint_; }
  std::uint64_t processed() const { return processed_; }

  // Limits of the packed heap key (see Key): simultaneously allocated slots and total schedule() calls.
  static constexpr unsigned kSlotBits = 24;
  static constexpr std::uint64_t kMaxSlots = std::uint64_t{1} << kSlotBits;
  static constexpr std::uint64_t kMaxSequence = std::uint64_t{1} << (64 - kSlotBits);

 private:
  // A ladder queue (Tang, Goh & Thng, ACM TOMACS 2005), simplified: the earliest events sit in
  // `bottom_`, a short sorted array popped from its end; later ones are appended, unsorted, to time
  // buckets ("rungs") or, beyond the last rung, to `top_`. When the bottom runs dry, the next
  // non-empty bucket of the deepest rung is sorted into it, or, if that bucket is crowded, split into
  // a finer rung first. Events scheduled into the bottom's time range after it was filled (e.g. at
  // now()) go to `early_`, a 4-ary heap that is usually empty. Scheduling is an O(1) append in the
  // common case and popping is amortised O(1) (plus sorting short buckets), which is what makes this faster than one big heap at every size
  // (see tests/bench/event_queue.cpp); bucket widths are powers of two, so routing is a shift.
  //
  // A key is one unsigned 128-bit integer: time in the high word, (sequence << kSlotBits | slot) in
  // the low word, so (time, sequence) order is integer order; the slot finds the payload.
  __extension__ using Key = unsigned __int128;  // GCC/Clang extension; __extension__ silences -Wpedantic
  struct Payload {
    std::uint64_t a;
    std::uint64_t b;
    std::uint32_t type;
    std::uint32_t generation;  // bumped when the event fires or is cancelled: old handles go stale
  };
  // Buckets [first_bucket, first_bucket + buckets) of bucket_pool_; bucket i covers times
  // [start + i * 2^shift, start + (i + 1) * 2^shift). Buckets before `next` are already handed on.
  struct Rung {
    std::uint64_t start;
    std::uint64_t end;  // start + buckets * 2^shift, saturated
    std::uint32_t shift;
    std::uint32_t buckets;
    std::uint32_t next;
    std::uint32_t first_bucket;
  };

  EventId schedule_slow(Nanos time, std::uint32_t type, std::uint64_t a, std::uint64_t b);
  void push_key(Key key);
  void push_early(Key key);
  void pop_early();
  bool front_is_early() const;
  Key pop_key_slow();
  bool refill_bottom();  // false when nothing is pending anywhere
  void skip_cancelled();
  void add_rung(std::uint64_t start, std::uint32_t shift, std::uint64_t buckets, std::vector<Key>& from);
  void move_to_bottom(std::vector<Key>& from);
  void compact();
  bool is_cancelled(std::uint32_t slot) const { return (cancelled_bits_[slot >> 6] >> (slot & 63)) & 1; }
  void release_cancelled(std::uint32_t slot);

  std::vector<Key> bottom_;                    // sorted, latest first: the next event is at the back
  std::vector<Key> early_;                     // 4-ary min-heap
  std::uint64_t bottom_limit_ = 0;             // events before this time go to early_
  std::vector<Rung> rungs_;                    // outermost first; the last is the deepest
  std::vector<std::vector<Key>> bucket_pool_;  // used as a stack by the rungs; keeps capacity
  std::vector<Key> split_scratch_;             // a crowded bucket's keys while they are split
  std::vector<Key> top_;                       // events at or after the outermost rung's end
  std::uint64_t top_min_ = UINT64_MAX;         // time range of top_
  std::uint64_t top_max_ = 0;

  std::vector<Payload> payload_;  // per slot
  // Per slot, one bit: cancelled while its key is still queued. Bits, not a payload field, so that
  // filtering a bucket touches only a small, cache-resident array.
  std::vector<std::uint64_t> cancelled_bits_;
  std::vector<std::uint32_t> free_slots_;
  std::size_t live_ = 0;
  std::size_t cancelled_pending_ = 0;  // cancelled events whose keys are still queued
  std::uint64_t next_seq_ = 0;
  std::uint64_t processed_ = 0;
  std::uint64_t fingerprint_ = 0x9e3779b97f4a7c15ull;
  Nanos now_ = 0;
};

// The two hot paths are inline: a simulation spends much of its time here, and the common cases
// (reuse a free slot and append the key to a bucket; take the last key of the sorted bottom) are a
// few instructions. Refilling, splitting, cancellation and errors are in event_queue.cpp.
inline EventId EventQueue::schedule(Nanos time, std::uint32_t type, std::uint64_t a, std::uint64_t b) {
  if (time < now_ || free_slots_.empty() || next_seq_ >= kMaxSequence) [[unlikely]] {
    return schedule_slow(time, type, a, b);  // throws, or grows the slot pool
  }
  const std::uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  Payload& p = payload_[slot];
  p.a = a;
  p.b = b;
  p.type = type;
  // time >= now() >= 0, so it fits the unsigned high word with its order intact.
  push_key((Key{static_cast<std::uint64_t>(time)} << 64) | ((next_seq_++ << kSlotBits) | slot));
  ++live_;
  return EventId{slot, p.generation};
}

inline void EventQueue::push_key(Key key) {
  const auto t = static_cast<std::uint64_t>(key >> 64);
  if (t < bottom_limit_) [[unlikely]] {
    push_early(key);
    return;
  }
  // The deepest rung covers the earliest times; each outer rung continues where its child ends.
  for (std::size_t r = rungs_.size(); r-- > 0;) {
    const Rung& rung = rungs_[r];
    if (t < rung.end) {
      bucket_pool_[rung.first_bucket + ((t - rung.start) >> rung.shift)].push_back(key);
      return;
    }
  }
  top_.push_back(key);
  top_min_ = t < top_min_ ? t : top_min_;
  top_max_ = t > top_max_ ? t : top_max_;
}

inline Event EventQueue::pop() {
  Key key;
  if (early_.empty() && !bottom_.empty() && cancelled_pending_ == 0) [[likely]] {
    key = bottom_.back();
    bottom_.pop_back();
  } else {
    key = pop_key_slow();
  }
  const auto low = static_cast<std::uint64_t>(key);
  const auto slot = static_cast<std::uint32_t>(low & (kMaxSlots - 1));
  Payload& p = payload_[slot];
  const Event event{static_cast<Nanos>(key >> 64), low >> kSlotBits, p.type, p.a, p.b};
  ++p.generation;
  free_slots_.push_back(slot);
  --live_;
  now_ = event.time;
  ++processed_;
  // Fold what happened into the fingerprint. The fields are spread by independent odd multipliers
  // (off the critical path) and one full mix chains them in order, so a changed field, a changed
  // order or a missing event all change the result.
  const std::uint64_t h = (static_cast<std::uint64_t>(event.time) * 0x9e3779b97f4a7c15ull) ^
                          (std::uint64_t{event.type} * 0xd6e8feb86659fd93ull) ^
                          (event.a * 0xc2b2ae3d27d4eb4full) ^ (event.b * 0x165667b19e3779f9ull);
  fingerprint_ = splitmix64_finaliser(fingerprint_ ^ h);
  return event;
}

}  // namespace sllm
