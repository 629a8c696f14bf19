// Loader mode "pinned": step 5 of the paper's ablation: threads, into the DRAM pool's (pinned) memory
// instead of pageable memory (loader_staged.cpp).
#include "loader_internal.h"

namespace sllm::models {
namespace {

class PinnedMode final : public LoaderMode {
 public:
  std::string_view name() const override { return "pinned"; }
  LoaderModeTraits traits() const override { return {.direct_io = true, .chunked = true, .uses_pool = true}; }
  void load(LoadContext& ctx) const override { detail::load_staged(ctx, detail::StagedStep::kPinned); }
};

}  // namespace

SLLM_REGISTER_LOADER_MODE(PinnedMode);

}  // namespace sllm::models
