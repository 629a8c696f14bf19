// Ray Serve with a local checkpoint cache: as `ray-serve` (availability-driven placement, download then
// read), but a checkpoint downloaded to a server's SSD stays there (the SSD cache, LRU by default via
// `policy.eviction.ssd`), so a later cold start on that server reads it from the SSD without
// downloading. The DRAM pool is neither used nor filled (Ray Serve has no host-memory checkpoint store).
#include "availability.h"

namespace sllm {
namespace {

class RayServeCachePolicy final : public SchedulingPolicy {
 public:
  explicit RayServeCachePolicy(const ConfigNode& params)
      : placement_(params.get_bool("reclaim_idle", true)),
        read_after_download_(params.get_bool("read_after_download", true)) {}

  Decision place(const ClusterView& view, ModelId model) override {
    auto d = placement_.next(view, model);
    if (!d) return Decision::wait();
    const ServerId s = d->server;
    d->tier = view.holds(s, model, Tier::kSsd) ? Tier::kSsd : Tier::kRemote;
    d->load.populate_dram = false;
    if (d->tier == Tier::kRemote && read_after_download_) d->load.extra_startup = read_after_download_time(view, s, model);
    d->estimated_startup = startup_estimate(view, *d, model);
    return *d;
  }

 private:
  RoundRobinPlacement placement_;
  bool read_after_download_;
};

std::unique_ptr<SchedulingPolicy> make(const ConfigNode& params) {
  return std::make_unique<RayServeCachePolicy>(params);
}

SLLM_REGISTER(SchedulingPolicy, "ray-serve-cache",
              "Ray Serve with a local SSD checkpoint cache: availability-driven, SSD hit or remote download", make);

}  // namespace
}  // namespace sllm
