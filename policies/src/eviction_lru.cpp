// Least-recently-used eviction of whole checkpoints: an intrusive list over model ids, O(1) per access.
#include <vector>

#include "sllm/sim/policy.h"

namespace sllm {
namespace {

class LruEviction final : public EvictionPolicy {
 public:
  void on_insert(ModelId m, Nanos) override { push_front(m); }
  void on_access(ModelId m, Nanos) override {
    unlink(m);
    push_front(m);
  }
  void on_erase(ModelId m) override { unlink(m); }
  std::optional<ModelId> victim(const std::function<bool(ModelId)>& evictable) const override {
    for (ModelId m = tail_; m != kEnd; m = prev_[m]) {
      if (evictable(m)) return m;
    }
    return std::nullopt;
  }

 private:
  static constexpr ModelId kEnd = UINT32_MAX;
  void grow(ModelId m) {
    if (m >= next_.size()) {
      next_.resize(m + 1, kEnd);
      prev_.resize(m + 1, kEnd);
    }
  }
  void push_front(ModelId m) {
    grow(m);
    prev_[m] = kEnd;
    next_[m] = head_;
    if (head_ != kEnd) prev_[head_] = m;
    head_ = m;
    if (tail_ == kEnd) tail_ = m;
  }
  void unlink(ModelId m) {
    if (prev_[m] != kEnd) next_[prev_[m]] = next_[m]; else head_ = next_[m];
    if (next_[m] != kEnd) prev_[next_[m]] = prev_[m]; else tail_ = prev_[m];
    prev_[m] = next_[m] = kEnd;
  }
  std::vector<ModelId> next_, prev_;
  ModelId head_ = kEnd, tail_ = kEnd;
};

std::unique_ptr<EvictionPolicy> make(const ConfigNode&) { return std::make_unique<LruEviction>(); }

SLLM_REGISTER(EvictionPolicy, "lru", "evict the least recently used checkpoint", make);

}  // namespace
}  // namespace sllm
