// Ray Serve as the paper measures it: availability-driven placement (round-robin over servers with free
// or idle GPUs) and no local checkpoint cache, so every cold start downloads the checkpoint from the
// remote store; loads leave no copy in the DRAM pool or on the SSD. Unlike `serverless`, the download is not pipelined into the GPUs: the checkpoint is
// written to local disk and then read into the GPUs (`read_after_download`, on by default), which adds
// the SSD read time (checkpoint bytes / the SSD path's bandwidth) to every load.
#include "availability.h"

namespace sllm {
namespace {

class RayServePolicy final : public SchedulingPolicy {
 public:
  explicit RayServePolicy(const ConfigNode& params)
      : placement_(params.get_bool("reclaim_idle", true)),
        read_after_download_(params.get_bool("read_after_download", true)) {}

  Decision place(const ClusterView& view, ModelId model) override {
    auto d = placement_.next(view, model);
    if (!d) return Decision::wait();
    d->tier = Tier::kRemote;
    d->load.populate_dram = false;  // no local checkpoint store of any kind
    d->load.populate_ssd = false;
    if (read_after_download_) d->load.extra_startup = read_after_download_time(view, d->server, model);
    d->estimated_startup = startup_estimate(view, *d, model);
    return *d;
  }

 private:
  RoundRobinPlacement placement_;
  bool read_after_download_;
};

std::unique_ptr<SchedulingPolicy> make(const ConfigNode& params) { return std::make_unique<RayServePolicy>(params); }

SLLM_REGISTER(SchedulingPolicy, "ray-serve",
              "Ray Serve: availability-driven, every cold start downloads from the remote store (no local cache)",
              make);

}  // namespace
}  // namespace sllm
