// Loader mode "torch": as torch.load: a buffered read of the whole file into pageable memory, then a
// copy per tensor; no checksums (loader_foreign.cpp).
#include "loader_internal.h"

namespace sllm::models {
namespace {

class TorchMode final : public LoaderMode {
 public:
  std::string_view name() const override { return "torch"; }
  LoaderModeTraits traits() const override { return {.verifies_checksums = false}; }
  void load(LoadContext& ctx) const override { detail::load_foreign(ctx, detail::ForeignLoader::kTorch); }
};

}  // namespace

SLLM_REGISTER_LOADER_MODE(TorchMode);

}  // namespace sllm::models
