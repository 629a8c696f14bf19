// KServe: availability-driven placement; every cold start creates a pod whose storage initializer (an
// init container) downloads the checkpoint from the remote store to the pod's local volume before the
// model server starts (kserve.github.io, "Storage Containers"); the model server (Hugging Face runtime:
// transformers / vLLM) then loads it with the `loader` mode's SSD law (default safetensors). The pod
// start (`container_start`, default 10 s, assumed: pod scheduling, image already on the node, init
// container start) is paid on every cold start. Pods load on their own: no per-server loading queue.
#include "availability.h"

namespace sllm {
namespace {

Nanos container_start(const ConfigNode& params) {
  const Nanos t = params.get_duration("container_start", "10 s");
  if (t < 0) params.child("container_start").fail("must not be negative");
  return t;
}

class KServePolicy final : public SchedulingPolicy {
 public:
  explicit KServePolicy(const ConfigNode& params)
      : placement_(params.get_bool("reclaim_idle", true)), loader_(params, "safetensors", container_start(params)) {}

  Decision place(const ClusterView& view, ModelId model) override {
    auto d = placement_.next(view, model);
    if (!d) return Decision::wait();
    d->tier = Tier::kRemote;
    d->load.populate_dram = false;  // each pod downloads into its own storage, gone with the pod
    d->load.populate_ssd = false;
    loader_.apply(view, *d, model);
    return *d;
  }
  std::string_view loader_mode() const override { return loader_.mode(); }

 private:
  RoundRobinPlacement placement_;
  SystemLoader loader_;
};

std::unique_ptr<SchedulingPolicy> make(const ConfigNode& params) { return std::make_unique<KServePolicy>(params); }

SLLM_REGISTER(SchedulingPolicy, "kserve",
              "KServe: availability-driven, pod start plus a remote download and a Safetensors load per cold start",
              make);

}  // namespace
}  // namespace sllm
