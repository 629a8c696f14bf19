// Scenario YAML: ConfigNode's YAML reading (duplicate keys, flow maps, anchors) and every section parser
// of Scenario::from_config. The text is named as if it were a file in configs/, so the relative paths of
// the real configs (profiles, traces) resolve as they do there; the seed corpus is configs/*.yaml.
#include <cstdint>
#include <string>

#include "support.h"
#include "sllm/core/config_node.h"
#include "sllm/core/error.h"
#include "sllm/sim/scenario.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string name = std::string(SLLM_SOURCE_DIR) + "/configs/fuzz-input.yaml";
  try {
    const sllm::ConfigNode root = sllm::ConfigNode::load_string(std::string(sllm::fuzz::as_text(data, size)), name);
    (void)sllm::Scenario::from_config(root);
  } catch (const sllm::InputError& e) {
    sllm::fuzz::refused(e);
  }
  return 0;
}
