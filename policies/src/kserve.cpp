// KServe: availability-driven placement; every cold start starts a container (`container_start`,
// default 10 s: pod scheduling, image already on the node, storage initialiser start) and downloads the
// checkpoint from the remote store, which is then read into the GPUs (`read_after_download`).
#include "availability.h"

namespace sllm {
namespace {

class KServePolicy final : public SchedulingPolicy {
 public:
  explicit KServePolicy(const ConfigNode& params)
      : placement_(params.get_bool("reclaim_idle", true)),
        container_start_(params.get_duration("container_start", "10 s")),
        read_after_download_(params.get_bool("read_after_download", true)) {
    if (container_start_ < 0) params.child("container_start").fail("must not be negative");
  }

  Decision place(const ClusterView& view, ModelId model) override {
    auto d = placement_.next(view, model);
    if (!d) return Decision::wait();
    d->tier = Tier::kRemote;
    d->load.populate_dram = false;  // each pod downloads into its own storage, gone with the pod
    d->load.populate_ssd = false;
    d->load.extra_startup = container_start_;
    if (read_after_download_) d->load.extra_startup += read_after_download_time(view, d->server, model);
    d->estimated_startup = startup_estimate(view, *d, model);
    return *d;
  }

 private:
  RoundRobinPlacement placement_;
  Nanos container_start_;
  bool read_after_download_;
};

std::unique_ptr<SchedulingPolicy> make(const ConfigNode& params) { return std::make_unique<KServePolicy>(params); }

SLLM_REGISTER(SchedulingPolicy, "kserve",
              "KServe: availability-driven, container start overhead plus a remote download per cold start", make);

}  // namespace
}  // namespace sllm
