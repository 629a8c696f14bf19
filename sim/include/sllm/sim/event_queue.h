// The simulation engine's event queue. Events are plain structs ordered by (time, insertion sequence),
// so ties resolve in the order events were scheduled and runs are deterministic. Cancellation is O(1)
// (a handle names a slot and its generation); memory is pooled, so steady-state scheduling allocates
// nothing. Every popped event is folded into a 64-bit fingerprint reported in run summaries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "sllm/sim/units.h"

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

namespace detail {
// Cache-line-aligned storage for the heap, so that the four children of a node share one line.
template <class T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, kAlign); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const noexcept { return true; }
};
}  // namespace detail

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
  // The heap holds 16-byte keys only (four siblings = one cache line); the payload stays put in a
  // slot pool. Sequence and slot share one word: the sequence in the high bits keeps the order
  // (time, sequence) and the slot in the low bits finds the payload.
  struct Key {
    Nanos time;
    std::uint64_t seq_slot;
  };
  struct Payload {
    std::uint64_t a;
    std::uint64_t b;
    std::uint32_t type;
    std::uint32_t generation;  // bumped when the event fires or is cancelled: old handles go stale
  };

  void push_key(Key key);
  void pop_top();
  void skip_cancelled();
  void compact();
  std::uint32_t allocate_slot();

  // Node k of the 4-ary heap lives at heap_[k + kHeapOffset], which puts the children 4k+1..4k+4 of
  // every node at a 64-byte boundary.
  static constexpr std::size_t kHeapOffset = 3;
  std::vector<Key, detail::CacheLineAllocator<Key>> heap_;
  std::vector<Payload> payload_;           // per slot
  std::vector<std::uint8_t> cancelled_;    // per slot: cancelled but its key is still in the heap
  std::vector<std::uint32_t> free_slots_;
  std::size_t live_ = 0;
  std::size_t cancelled_in_heap_ = 0;
  std::uint64_t next_seq_ = 0;
  std::uint64_t processed_ = 0;
  std::uint64_t fingerprint_ = 0x9e3779b97f4a7c15ull;
  Nanos now_ = 0;
};

}  // namespace sllm
