// Cost model kind "roofline": time from GPU specs. A pass takes max(bytes moved / (HBM bandwidth x
// efficiency), FLOPs / (peak FP16 x efficiency)) + a fixed overhead. Bytes: all weights once per pass
// plus the KV cache (read for decode, written for prefill); FLOPs: 2 per weight per token plus attention
// over the context. Tensor parallelism divides both over the GPUs (communication is not modelled).
#include <algorithm>
#include <memory>

#include "sllm/sim/cost_model.h"

namespace sllm {
namespace {

// `simulation.cost_model` keys of this kind; the member initialisers are the defaults.
struct RooflineParams {
  double hbm_efficiency = 0.8;    // achieved share of peak HBM bandwidth
  double flops_efficiency = 0.6;  // achieved share of peak FP16 FLOP/s
  Nanos step_overhead = 0;        // fixed time per forward pass (kernel launches, scheduling)
};

RooflineParams read_params(const ConfigNode& node) {
  RooflineParams p;
  p.hbm_efficiency = node.get_double("hbm_efficiency", p.hbm_efficiency, 1e-3, 1.0);
  p.flops_efficiency = node.get_double("flops_efficiency", p.flops_efficiency, 1e-3, 1.0);
  p.step_overhead = node.get_duration("step_overhead", p.step_overhead);
  return p;
}

class RooflineCostModel final : public CostModel {
 public:
  explicit RooflineCostModel(const RooflineParams& params) : p_(params) {}

  double prefill_seconds(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus, std::uint64_t tokens,
                         double sum_squares) const override {
    const double g = gpus;
    const double bytes = static_cast<double>(model.checkpoint_bytes()) +
                         static_cast<double>(tokens) * static_cast<double>(model.kv_bytes_per_token());
    // Causal attention: a sequence of length L has L(L+1)/2 (query, context) pairs.
    const double pairs = 0.5 * (sum_squares + static_cast<double>(tokens));
    const double flops = static_cast<double>(tokens) * model.flops_per_token() +
                         pairs * model.attention_flops_per_context_token();
    const double memory_s = bytes / (g * gpu.hbm_bandwidth * p_.hbm_efficiency);
    const double compute_s = flops / (g * gpu.fp16_flops * p_.flops_efficiency);
    return to_seconds(p_.step_overhead) + std::max(memory_s, compute_s);
  }

  StepLaw decode_law(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus,
                     std::uint32_t batch) const override {
    const double g = gpus;
    const double mem_bw = g * gpu.hbm_bandwidth * p_.hbm_efficiency;
    const double peak = g * gpu.fp16_flops * p_.flops_efficiency;
    const double overhead = to_seconds(p_.step_overhead);
    StepLaw law;
    law.lines = 2;
    // Memory-bound line: weights once per step plus the whole batch's KV cache.
    law.base[0] = overhead + static_cast<double>(model.checkpoint_bytes()) / mem_bw;
    law.per_context_token[0] = static_cast<double>(model.kv_bytes_per_token()) / mem_bw;
    // Compute-bound line: one token per sequence through the weights plus attention over the context.
    law.base[1] = overhead + static_cast<double>(batch) * model.flops_per_token() / peak;
    law.per_context_token[1] = model.attention_flops_per_context_token() / peak;
    return law;
  }

 private:
  RooflineParams p_;
};

std::unique_ptr<CostModel> make_roofline(const ConfigNode& params) {
  return std::make_unique<RooflineCostModel>(read_params(params));
}

}  // namespace

SLLM_REGISTER(CostModel, "roofline",
              "max(memory, compute) per pass from GPU specs; hbm_efficiency, flops_efficiency, step_overhead",
              make_roofline);

}  // namespace sllm
