// Workload kinds of the `workload:` config section, registered by name like policies: the synthetic
// generator and trace replay live in the traces library (which depends on sim, not the other way
// round), so they plug in through this registry. The traces library is linked whole-archive for that.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "sllm/core/config_node.h"
#include "sllm/core/registry.h"
#include "sllm/core/request.h"

namespace sllm {

struct Workload {
  // Builds a fresh request stream each call (a scenario can run more than once).
  std::function<std::unique_ptr<RequestSource>()> make_source;
  std::uint64_t expected_requests = 0;  // for the progress bar; 0 when unknown
};

class WorkloadKind {
 public:
  static constexpr const char* kKind = "workload kind";
  virtual ~WorkloadKind() = default;
  // Reads the whole `workload` section (its `kind` key is already read) and calls finish() on it.
  // Model indices of the requests must be < model_count. Paths are relative to the config's directory.
  virtual Workload build(const ConfigNode& workload, std::uint32_t model_count, std::uint64_t seed) const = 0;
};

using WorkloadRegistry = Registry<WorkloadKind>;

}  // namespace sllm
