// Time of the forward passes of one instance. The simulator asks for a prefill time per admitted batch
// and for a decode "step law" per batch composition; between batch changes it sums decode steps in
// closed form, so the number of events scales with requests, not with tokens.
//
// A step law says how one decode step's time depends on the batch's total context C (prompt plus
// generated tokens over all sequences): t(C) = max_i (base_i + per_context_token_i * C). That is exact
// for a roofline (memory-bound vs compute-bound lines) and for linear fits of measured profiles, and its
// sum over steps (C grows by the batch size per step) has a closed form.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "sllm/core/model_arch.h"
#include "sllm/sim/scenario.h"

namespace sllm {

struct StepLaw {
  static constexpr int kMaxLines = 4;
  std::array<double, kMaxLines> base{};               // seconds
  std::array<double, kMaxLines> per_context_token{};  // seconds per context token
  int lines = 0;
  double at(double context) const;
};

// The sum_squares term of recomputing `tokens` tokens appended to a sequence already holding `cached`:
// (cached + tokens)^2 - cached^2 (twice the causal attention pairs the recompute adds).
inline double recompute_squares(double tokens, double cached) {
  return (cached + tokens) * (cached + tokens) - cached * cached;
}

class CostModel {
 public:
  virtual ~CostModel() = default;
  // One prefill pass over `tokens` prompt tokens in total, of which sum_squares = sum over sequences of
  // length^2 (attention cost), on `gpus` GPUs of `gpu` (tensor parallel).
  virtual double prefill_seconds(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus,
                                 std::uint64_t tokens, double sum_squares) const = 0;
  // The step law of decoding a batch of `batch` sequences.
  virtual StepLaw decode_law(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus,
                             std::uint32_t batch) const = 0;
  // A migration round at the destination: recomputing the KV cache of `tokens` tokens in total, appended
  // to sequences already holding some (sum_squares = sum over sequences of end^2 - begin^2, the causal
  // attention pairs x 2; cached_pairs = sum over sequences of (end - begin) x begin, each recomputed
  // token against the context already there). By default the prefill with those terms; a profile has a
  // measured law.
  virtual double recompute_seconds(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus,
                                   std::uint64_t tokens, double sum_squares, double cached_pairs) const;
  // What a migration's pause adds to its final round's recompute (stopping the source, handing the last
  // tokens over, delivering the first token). 0 unless a profile measured it.
  virtual double migration_handoff_seconds(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus) const;
};

// Roofline from GPU specs: a pass takes max(bytes moved / (HBM bandwidth x efficiency),
// FLOPs / (peak FP16 x efficiency)) + a fixed overhead. Bytes: all weights once per pass plus the KV
// cache (read for decode, written for prefill); FLOPs: 2 per weight per token plus attention over the
// context. Tensor parallelism divides both over the GPUs (communication is not modelled).
class RooflineCostModel final : public CostModel {
 public:
  explicit RooflineCostModel(CostModelSpec spec) : spec_(spec) {}
  double prefill_seconds(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus, std::uint64_t tokens,
                         double sum_squares) const override;
  StepLaw decode_law(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus,
                     std::uint32_t batch) const override;

 private:
  CostModelSpec spec_;
};

// The spec's kind, or a ProfileCostModel (roofline fallback) when the spec names a profile.
std::unique_ptr<CostModel> make_cost_model(const CostModelSpec& spec);

// A run of decode steps with a fixed batch: step j (from 0) takes law.at(context0 + batch * j).
// cumulative(k) is the exact sum of the first k steps; the step lines in j are convex, so the sum
// splits into at most kMaxLines arithmetic series.
class DecodeRun {
 public:
  DecodeRun() = default;
  DecodeRun(const StepLaw& law, double context0, std::uint32_t batch);
  double cumulative(std::uint64_t steps) const;  // seconds
  // Largest k <= max_steps with round_ns(cumulative(k)) <= elapsed.
  std::uint64_t steps_within(Nanos elapsed, std::uint64_t max_steps) const;

 private:
  std::array<double, StepLaw::kMaxLines> alpha_{};  // value at step 0
  std::array<double, StepLaw::kMaxLines> beta_{};   // growth per step
  int lines_ = 0;
};

}  // namespace sllm
