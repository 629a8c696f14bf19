// Input/output token lengths for synthetic workloads (and for trace rows that carry none): named presets
// built from published dataset statistics, a fixed pair, or uniform ranges. All sampling is seeded.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/core/random.h"

namespace sllm {
class ConfigNode;
}

namespace sllm::traces {

struct TokenLengths {
  std::uint32_t input = 0;
  std::uint32_t output = 0;
};

class TokenLengthSampler {
 public:
  virtual ~TokenLengthSampler() = default;
  virtual TokenLengths sample(Rng& rng) const = 0;
  // Expected values, for documentation, tests and capacity planning.
  virtual double mean_input() const = 0;
  virtual double mean_output() const = 0;
};

// Names accepted by token_length_preset(): "gsm8k", "sharegpt".
std::vector<std::string> token_length_preset_names();
// nullptr when the name is unknown.
std::unique_ptr<TokenLengthSampler> token_length_preset(std::string_view name);

// A `lengths` config value: a preset name ("gsm8k"), or a mapping
//   {kind: gsm8k | sharegpt}
//   {kind: fixed, input: 128, output: 64}
//   {kind: uniform, input: [16, 512], output: [1, 256]}   (inclusive ranges)
// Errors are InputErrors located at the node.
std::unique_ptr<TokenLengthSampler> make_token_lengths(const ConfigNode& node);

}  // namespace sllm::traces
