// Loader mode "direct": step 3 of the paper's ablation: bulk with O_DIRECT into aligned pageable memory,
// one reader with threads x queue depth requests in flight (loader_staged.cpp).
#include "loader_internal.h"

namespace sllm::models {
namespace {

class DirectMode final : public LoaderMode {
 public:
  std::string_view name() const override { return "direct"; }
  LoaderModeTraits traits() const override { return {.direct_io = true, .chunked = true, .uses_pool = false}; }
  void load(LoadContext& ctx) const override { detail::load_staged(ctx, detail::StagedStep::kDirect); }
};

}  // namespace

SLLM_REGISTER_LOADER_MODE(DirectMode);

}  // namespace sllm::models
