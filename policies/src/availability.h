// Availability-driven placement shared by the remote-loading baselines (serverless, ray-serve,
// ray-serve-cache, kserve): the next server, round-robin from the last choice, with enough free GPUs,
// else one where idle instances can be unloaded. The caller picks the tier; SystemLoader the rest.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sllm/core/config_node.h"
#include "sllm/core/loader_modes.h"
#include "sllm/sim/policy.h"

namespace sllm {

class RoundRobinPlacement {
 public:
  explicit RoundRobinPlacement(bool reclaim_idle) : reclaim_idle_(reclaim_idle) {}

  // A kStart decision (server and unload list filled in) or nullopt when no server has room.
  std::optional<Decision> next(const ClusterView& view, ModelId model) {
    const std::uint32_t need = view.gpus_needed(model);
    const std::uint32_t n = view.server_count();
    for (int pass = 0; pass < (reclaim_idle_ ? 2 : 1); ++pass) {
      for (std::uint32_t k = 0; k < n; ++k) {
        const ServerId s = (next_ + k) % n;
        std::optional<std::vector<InstanceId>> plan;
        if (pass == 0) {
          if (view.free_gpus(s) < need) continue;
          plan.emplace();
        } else {
          plan = reclaim_plan(view, s, need);
          if (!plan) continue;
        }
        Decision d;
        d.action = Decision::Action::kStart;
        d.server = s;
        d.unload_idle = std::move(*plan);
        next_ = (s + 1) % n;
        return d;
      }
    }
    return std::nullopt;
  }

 private:
  bool reclaim_idle_;
  std::uint32_t next_ = 0;
};

// How a system outside ServerlessLLM (Ray Serve, KServe) loads: its loader mode (`loader`, a mode of
// sllm/core/loader_modes.h whose law the scenario's profile must have; default `default_mode`), each
// replica or pod loading on its own (no per-server FIFO queue: its loads start at once and share the
// server's links), and start-up beyond the cluster's runtime_init (`extra`, e.g. KServe's container).
class SystemLoader {
 public:
  SystemLoader(const ConfigNode& params, std::string_view default_mode, Nanos extra = 0)
      : mode_(params.get_string("loader", std::string(default_mode))), extra_(extra) {
    if (!is_loader_mode(mode_)) params.child("loader").fail(unknown_loader_mode_message(mode_));
  }
  std::string_view mode() const { return mode_; }

  // Fills the decision's load options (tier chosen) and its startup estimate: the load alone, since it
  // waits for no other load.
  void apply(const ClusterView& view, Decision& d, ModelId model) const {
    d.load.loader = mode_;
    d.load.queued = false;
    d.load.extra_startup = extra_;
    d.estimated_startup = view.estimate_load(d.server, model, d.tier, d.load);
  }

 private:
  std::string mode_;
  Nanos extra_;
};

}  // namespace sllm
