// Loader mode "safetensors": as safetensors.torch.load_file + .to(): mmap each partition, copy tensor by
// tensor into fresh CPU tensors, then to the device; no checksums (loader_foreign.cpp).
#include "loader_internal.h"

namespace sllm::models {
namespace {

class SafetensorsMode final : public LoaderMode {
 public:
  std::string_view name() const override { return "safetensors"; }
  LoaderModeTraits traits() const override { return {.verifies_checksums = false}; }
  void load(LoadContext& ctx) const override { detail::load_foreign(ctx, detail::ForeignLoader::kSafetensors); }
};

}  // namespace

SLLM_REGISTER_LOADER_MODE(SafetensorsMode);

}  // namespace sllm::models
