// What a policy decides about a load and what the simulator carries out, in one place: the tier a
// checkpoint comes from and the options of the load (shared by a Decision, a deferred load and a Load).
#pragma once

#include <cstdint>
#include <string_view>

#include "sllm/core/units.h"

namespace sllm {

// Where a checkpoint is loaded from; ordered slow to fast.
enum class Tier : std::uint8_t { kRemote, kSsd, kDram, kWarm };
const char* to_string(Tier t);

struct LoadOptions {
  // Systems without a local checkpoint cache (Ray Serve) load without leaving copies behind; a remote
  // load normally fills the SSD and the DRAM pool, an SSD load the DRAM pool.
  bool populate_dram = true;
  bool populate_ssd = true;
  Nanos extra_startup = 0;  // added to the load (e.g. KServe's container start)
  // The loader mode that reads the checkpoint (sllm/core/loader_modes.h); empty: the scenario's
  // (cluster.profile.loader, default sllm), whose laws the topology's links already carry. Another mode
  // costs the load by that mode's law in the profile (ClusterState::loader_cost): an SSD or DRAM load
  // runs at most at the law's bandwidth and pays its overhead instead of the modelled pipeline fill; a
  // remote load downloads at the path's rate and then reads the downloaded copy by the mode's SSD law
  // (not pipelined). Points at a string that outlives the run (a policy's member or a literal).
  std::string_view loader;
  // Waits in the server's FIFO loading queue (ServerlessLLM's one-load-at-a-time queue, section 4 of the
  // paper); false: starts at once and shares the links with whatever else is loading (systems whose
  // replicas or pods load independently: Ray Serve, KServe).
  bool queued = true;
};

}  // namespace sllm
