// Loader mode "bulk": step 2 of the paper's ablation: large buffered sequential reads of each
// partition into pageable memory, then one copy (loader_staged.cpp).
#include "loader_internal.h"

namespace sllm::models {
namespace {

class BulkMode final : public LoaderMode {
 public:
  std::string_view name() const override { return "bulk"; }
  LoaderModeTraits traits() const override { return {.direct_io = false, .chunked = true, .uses_pool = false}; }
  void load(LoadContext& ctx) const override { detail::load_staged(ctx, detail::StagedStep::kBulk); }
};

}  // namespace

SLLM_REGISTER_LOADER_MODE(BulkMode);

}  // namespace sllm::models
