// Loader mode "threads": step 4 of the paper's ablation: direct, its chunks read by several threads
// (loader_staged.cpp).
#include "loader_internal.h"

namespace sllm::models {
namespace {

class ThreadsMode final : public LoaderMode {
 public:
  std::string_view name() const override { return "threads"; }
  LoaderModeTraits traits() const override { return {.direct_io = true, .chunked = true, .uses_pool = false}; }
  void load(LoadContext& ctx) const override { detail::load_staged(ctx, detail::StagedStep::kThreads); }
};

}  // namespace

SLLM_REGISTER_LOADER_MODE(ThreadsMode);

}  // namespace sllm::models
