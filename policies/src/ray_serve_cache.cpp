// Ray Serve with a local checkpoint cache: as `ray-serve` (availability-driven placement, the replica's
// own Safetensors loading by default, no per-server loading queue), but a checkpoint downloaded to a
// server's SSD stays there (the SSD cache, LRU by default via `policy.eviction.ssd`), so a later cold start
// on that server reads it from the SSD with the `loader` mode's law, without downloading. The DRAM pool
// is neither used nor filled (Ray Serve has no host-memory checkpoint store).
#include "availability.h"

namespace sllm {
namespace {

class RayServeCachePolicy final : public SchedulingPolicy {
 public:
  explicit RayServeCachePolicy(const ConfigNode& params)
      : placement_(params.get_bool("reclaim_idle", true)), loader_(params, "safetensors") {}

  Decision place(const ClusterView& view, ModelId model) override {
    auto d = placement_.next(view, model);
    if (!d) return Decision::wait();
    d->tier = view.holds(d->server, model, Tier::kSsd) ? Tier::kSsd : Tier::kRemote;
    d->load.populate_dram = false;
    loader_.apply(view, *d, model);
    return *d;
  }
  std::string_view loader_mode() const override { return loader_.mode(); }

 private:
  RoundRobinPlacement placement_;
  SystemLoader loader_;
};

std::unique_ptr<SchedulingPolicy> make(const ConfigNode& params) {
  return std::make_unique<RayServeCachePolicy>(params);
}

SLLM_REGISTER(SchedulingPolicy, "ray-serve-cache",
              "Ray Serve with a local SSD checkpoint cache: availability-driven, SSD hit or remote download", make);

}  // namespace
}  // namespace sllm
