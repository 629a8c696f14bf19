// Ray Serve as the paper measures it: availability-driven placement (round-robin over servers with free
// or idle GPUs) and no local checkpoint cache, so every cold start downloads the checkpoint from the
// remote store; loads leave no copy in the DRAM pool or on the SSD. Ray Serve has no loader of its own: a
// replica's code (Hugging Face transformers / vLLM) downloads the checkpoint to local disk and loads it
// with the Safetensors loader, which both pick when the checkpoint has .safetensors files (the
// `use_safetensors` default; huggingface.co/docs/transformers, "Load safetensors"). So a cold start is
// the download, then the `loader` mode's SSD law from the profile (default safetensors), not pipelined.
// Each replica is its own Ray actor and loads on its own: no per-server loading queue (SystemLoader).
#include "availability.h"

namespace sllm {
namespace {

class RayServePolicy final : public SchedulingPolicy {
 public:
  explicit RayServePolicy(const ConfigNode& params)
      : placement_(params.get_bool("reclaim_idle", true)), loader_(params, "safetensors") {}

  Decision place(const ClusterView& view, ModelId model) override {
    auto d = placement_.next(view, model);
    if (!d) return Decision::wait();
    d->tier = Tier::kRemote;
    d->load.populate_dram = false;  // no local checkpoint store of any kind
    d->load.populate_ssd = false;
    loader_.apply(view, *d, model);
    return *d;
  }
  std::string_view loader_mode() const override { return loader_.mode(); }

 private:
  RoundRobinPlacement placement_;
  SystemLoader loader_;
};

std::unique_ptr<SchedulingPolicy> make(const ConfigNode& params) { return std::make_unique<RayServePolicy>(params); }

SLLM_REGISTER(SchedulingPolicy, "ray-serve",
              "Ray Serve: availability-driven, every cold start downloads from the remote store (no local cache)",
              make);

}  // namespace
}  // namespace sllm
