#include "run_observer.h"

namespace sllm {

const char* to_string(GpuPhase p) {
  switch (p) {
    case GpuPhase::kLoading: return "loading";
    case GpuPhase::kIdle: return "idle";
    case GpuPhase::kPrefill: return "prefill";
    case GpuPhase::kDecode: return "decode";
    case GpuPhase::kMigrating: return "decode (migrating)";
    case GpuPhase::kReceiving: return "migration recompute";
    case GpuPhase::kHandoff: return "migration hand-off";
    case GpuPhase::kOff: return "off";
  }
  return "?";
}

GpuPhase phase_of(const Instance& inst) {
  switch (inst.state) {
    case InstanceState::kLoading:
      return inst.migration_destination && inst.load == kNone && inst.ready >= 0 ? GpuPhase::kReceiving
                                                                                : GpuPhase::kLoading;
    case InstanceState::kIdle: return GpuPhase::kIdle;
    case InstanceState::kPrefill: return GpuPhase::kPrefill;
    case InstanceState::kDecode:
      return inst.migration != kNone && !inst.migration_destination ? GpuPhase::kMigrating : GpuPhase::kDecode;
    case InstanceState::kHandoff: return GpuPhase::kHandoff;
    case InstanceState::kFree: return GpuPhase::kOff;
  }
  return GpuPhase::kOff;
}

}  // namespace sllm
