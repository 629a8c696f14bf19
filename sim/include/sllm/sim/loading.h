// What a policy decides about a load and what the simulator carries out, in one place: the tier a
// checkpoint comes from and the options of the load (shared by a Decision, a deferred load and a Load).
#pragma once

#include <cstdint>

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
};

}  // namespace sllm
