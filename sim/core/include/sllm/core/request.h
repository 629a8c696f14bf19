// A request as workloads and trace readers produce it, before the simulator gives it any state.
// Sources stream requests in arrival order, so a 10 M-row trace never sits in memory whole.
#pragma once

#include <cstdint>

#include "sllm/core/units.h"

namespace sllm {

struct RequestSpec {
  std::uint64_t id = 0;           // dense, in arrival order from 0
  Nanos arrival = 0;              // non-decreasing across a source
  std::uint32_t model = 0;        // index into the scenario's deployed models
  std::uint32_t input_tokens = 0;
  std::uint32_t output_tokens = 0;
};

class RequestSource {
 public:
  virtual ~RequestSource() = default;
  // Fills `out` with the next request; false at the end. Bad input throws InputError naming the
  // file, line and column.
  virtual bool next(RequestSpec& out) = 0;
};

}  // namespace sllm
