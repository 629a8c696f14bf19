// Least-frequently-used eviction of whole checkpoints: evicts the checkpoint with the fewest accesses
// (insertions count as one) since it entered the cache; ties go to the least recently used one. A
// linear scan per eviction: caches hold tens to hundreds of checkpoints and evictions follow loads.
#include <vector>

#include "sllm/sim/policy.h"

namespace sllm {
namespace {

class LfuEviction final : public EvictionPolicy {
 public:
  void on_insert(ModelId m, Nanos) override {
    grow(m);
    present_[m] = 1;
    count_[m] = 1;
    last_[m] = ++clock_;
  }
  void on_access(ModelId m, Nanos) override {
    grow(m);
    ++count_[m];
    last_[m] = ++clock_;
  }
  void on_erase(ModelId m) override {
    if (m < present_.size()) present_[m] = 0;
  }
  std::optional<ModelId> victim(const std::function<bool(ModelId)>& evictable) const override {
    std::optional<ModelId> best;
    for (ModelId m = 0; m < present_.size(); ++m) {
      if (!present_[m] || !evictable(m)) continue;
      if (!best || count_[m] < count_[*best] || (count_[m] == count_[*best] && last_[m] < last_[*best])) best = m;
    }
    return best;
  }

 private:
  void grow(ModelId m) {
    if (m >= present_.size()) {
      present_.resize(m + 1, 0);
      count_.resize(m + 1, 0);
      last_.resize(m + 1, 0);
    }
  }
  std::vector<std::uint8_t> present_;
  std::vector<std::uint64_t> count_, last_;  // accesses; logical time of the last access
  std::uint64_t clock_ = 0;
};

std::unique_ptr<EvictionPolicy> make(const ConfigNode&) { return std::make_unique<LfuEviction>(); }

SLLM_REGISTER(EvictionPolicy, "lfu", "evict the least frequently used checkpoint (ties: least recently used)", make);

}  // namespace
}  // namespace sllm
