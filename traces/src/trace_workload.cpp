// `workload.kind: trace` for scenario configs: the options are read (and checked) once when the config is
// loaded; every run opens its own streaming TraceSource (mapping.h documents the keys).
#include "sllm/core/workload.h"
#include "sllm/traces/mapping.h"

namespace sllm::traces {
namespace {

class TraceKind final : public WorkloadKind {
 public:
  Workload build(const ConfigNode& workload, std::uint32_t model_count, std::uint64_t seed) const override {
    auto options = std::make_shared<const TraceSourceOptions>(trace_source_options(workload, model_count, seed));
    Workload w;
    w.make_source = [options]() -> std::unique_ptr<RequestSource> {
      auto source = std::make_unique<TraceSource>(*options);
      source->report_skips_at_end(true);
      return source;
    };
    return w;
  }
};

std::unique_ptr<WorkloadKind> make_trace_kind(const ConfigNode&) { return std::make_unique<TraceKind>(); }

SLLM_REGISTER(WorkloadKind, "trace", "replay a request trace (Azure LLM/Functions, BurstGPT, canonical CSV)",
              make_trace_kind);

}  // namespace
}  // namespace sllm::traces
