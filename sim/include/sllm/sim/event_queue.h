// The simulation engine's event queue. Events are plain structs ordered by (time, insertion sequence),
// so ties resolve in the order events were scheduled and runs are deterministic. Cancellation is O(1)
// (a handle names a slot and its generation); memory is pooled, so steady-state scheduling allocates
// nothing. Every popped event is folded into a 64-bit fingerprint reported in run summaries.
#pragma once

#include <cstdint>
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

 private:
  // Implementation owned by sim/src/event_queue.cpp (see there for the data structure and why).
  struct Entry;
  void skip_cancelled();

  std::vector<Entry> heap_;
  std::vector<std::uint32_t> generation_;  // per slot; bumped on pop and cancel
  std::vector<std::uint8_t> cancelled_;    // per slot
  std::vector<std::uint32_t> free_slots_;
  std::size_t live_ = 0;
  std::uint64_t next_seq_ = 0;
  std::uint64_t processed_ = 0;
  std::uint64_t fingerprint_ = 0x9e3779b97f4a7c15ull;
  Nanos now_ = 0;
};

}  // namespace sllm
