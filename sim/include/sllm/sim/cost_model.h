// Time of the forward passes of one instance. The simulator asks for a prefill time per admitted batch
// and for a decode "step law" per batch composition; between batch changes it sums decode steps in
// closed form, so the number of events scales with requests, not with tokens.
//
// A step law says how one decode step's time depends on the batch's total context C (prompt plus
// generated tokens over all sequences): t(C) = max_i (base_i + per_context_token_i * C). That is exact
// for a roofline (memory-bound vs compute-bound lines) and for linear fits of measured profiles, and its
// sum over steps (C grows by the batch size per step) has a closed form.
//
// Cost models are kinds registered by name (sllm/core/registry.h), one file each under
// sim/src/cost_models/; `simulation.cost_model.kind` picks one and the rest of that section is the
// kind's own parameters, which its factory reads. A calibration profile (cluster.profile) is not a kind
// but a decorator over the chosen one (make_cost_model).
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "sllm/core/model_arch.h"
#include "sllm/core/registry.h"
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
  static constexpr const char* kKind = "cost model";
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

using CostModelRegistry = Registry<CostModel>;

// The spec's kind built from its parameters (validated by Scenario: an unknown kind or key throws
// InputError). When the spec names a profile, a ProfileCostModel over that kind: the profile has
// measured coefficients for some (model, GPUs) pairs only and the chosen kind answers for the rest, so it
// decorates any kind rather than being one.
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
