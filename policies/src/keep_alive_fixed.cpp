// Fixed keep-alive: an idle instance stays loaded for `timeout` (default 60 s), then is unloaded.
#include "sllm/sim/policy.h"

namespace sllm {
namespace {

class FixedKeepAlive final : public KeepAlivePolicy {
 public:
  explicit FixedKeepAlive(const ConfigNode& params) : timeout_(params.get_duration("timeout", "60 s")) {}
  Nanos keep_alive(ModelId, Nanos) override { return timeout_; }

 private:
  Nanos timeout_;
};

std::unique_ptr<KeepAlivePolicy> make(const ConfigNode& params) { return std::make_unique<FixedKeepAlive>(params); }

SLLM_REGISTER(KeepAlivePolicy, "fixed", "unload an instance after a fixed idle time (`timeout`)", make);

}  // namespace
}  // namespace sllm
