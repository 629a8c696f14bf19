// The simulator's event types, shared by the event loop (simulator.cpp) and the mechanisms that schedule
// them (load queue, batcher, migration driver). Plain integers in Event::type; a and b as noted.
#pragma once

#include <cstdint>

namespace sllm::sim_events {

enum Type : std::uint32_t {
  kArrival = 1,
  kTimeout = 2,         // a = request slot
  kInstanceStep = 3,    // a = instance id: a batch change is due (prefill end, completion, admission)
  kFlowDone = 4,        // the flow network's next completion
  kLoadReady = 5,       // a = load id: last byte arrived + pipeline fill + runtime init
  kKeepAlive = 6,       // a = instance id: idle long enough, unload
  kPrewarm = 7,         // a = model: the keep-alive policy asked to load it ahead of demand
  kMigrationRound = 8,  // a = migration id, b = round: the destination finished recomputing a round
  kFault = 9,           // a = timed fault (faults.events index), b = 1 onset, 0 repair
  kFaultProcess = 10,   // a = stochastic fault target (process x target), b = 1 onset, 0 repair
};

}  // namespace sllm::sim_events
