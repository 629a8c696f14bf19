// Availability-driven placement shared by the remote-loading baselines (serverless, ray-serve,
// ray-serve-cache, kserve): the next server, round-robin from the last choice, with enough free GPUs,
// else one where idle instances can be unloaded. The caller picks the tier and any start-up overhead.
#pragma once

#include <optional>

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

// The startup estimate of a placement from next(): the server's loading-queue wait, the load from the
// decision's tier and its extra start-up time.
inline Nanos startup_estimate(const ClusterView& view, const Decision& d, ModelId model) {
  return view.loading_queue_wait(d.server) + view.estimate_load(d.server, model, d.tier) + d.load.extra_startup;
}

// Time to read a downloaded checkpoint from the local SSD into the GPUs, for baselines that write the
// download to disk before loading it (not pipelined): checkpoint bytes / the SSD path's bandwidth.
inline Nanos read_after_download_time(const ClusterView& view, ServerId s, ModelId model) {
  const double bytes = static_cast<double>(view.checkpoint_bytes(model));
  return from_seconds(bytes / view.tier_bandwidth(s, Tier::kSsd, view.gpus_needed(model)));
}

}  // namespace sllm
