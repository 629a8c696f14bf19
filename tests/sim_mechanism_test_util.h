// Shared by the unit tests of the simulator's mechanisms (batcher, load queue, migration driver): a cost
// model of round numbers, so that expected times can be computed by hand.
#pragma once

#include "sllm/sim/cost_model.h"

namespace sllm::testing {

constexpr Nanos kMs = 1'000'000;

// Prefill: 1 ms per prompt token; decode: 10 ms per step whatever the batch and context.
class RoundNumbers final : public CostModel {
 public:
  double prefill_seconds(const ModelArch&, const GpuSpec&, std::uint32_t, std::uint64_t tokens,
                         double) const override {
    return 1e-3 * static_cast<double>(tokens);
  }
  StepLaw decode_law(const ModelArch&, const GpuSpec&, std::uint32_t, std::uint32_t) const override {
    StepLaw law;
    law.base[0] = 10e-3;
    law.lines = 1;
    return law;
  }
};

}  // namespace sllm::testing
