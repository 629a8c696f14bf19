// The example's policy, "most-free-gpus", registers itself by name from most_free_gpus.cpp; the program
// only needs to know how often the simulator asked it, to check that the run used it.
#pragma once

#include <cstdint>

std::uint64_t most_free_gpus_placements();
