#include <algorithm>
#include <stdexcept>

#include "sllm/sim/cluster.h"

namespace sllm {

void GpuAccounting::add_server(std::uint32_t gpus) {
  owner_.emplace_back(gpus, kNone);
  free_.push_back(gpus);
  idle_.push_back(0);
  total_ += gpus;
  free_total_ += gpus;
}

std::uint32_t GpuAccounting::take(Instance& inst, std::uint32_t want, Nanos now) {
  std::vector<InstanceId>& owners = owner_[inst.server];
  std::uint32_t taken = 0;
  for (std::uint32_t g = 0; g < owners.size() && taken < want; ++g) {
    if (owners[g] == kNone) {
      owners[g] = inst.id;
      inst.gpus.push_back(g);
      ++taken;
    }
  }
  // Appended after GPUs taken earlier (a migration's hand-over): restore the ascending order.
  if (taken > 0 && taken < inst.gpus.size()) std::sort(inst.gpus.begin(), inst.gpus.end());
  free_[inst.server] -= taken;
  free_total_ -= taken;
  allocated_.change(now, taken);
  return taken;
}

void GpuAccounting::give_back(Instance& inst, Nanos now) {
  std::vector<InstanceId>& owners = owner_[inst.server];
  for (std::uint32_t g : inst.gpus) {
    if (owners[g] != inst.id) throw std::logic_error("GpuAccounting: an instance gave back a GPU it did not hold");
  }
  const auto n = static_cast<std::uint32_t>(inst.gpus.size());
  allocated_.change(now, -static_cast<std::int64_t>(n));
  for (std::uint32_t g : inst.gpus) owners[g] = kNone;
  free_[inst.server] += n;
  free_total_ += n;
  inst.gpus.clear();
}

void GpuAccounting::start_busy(Instance& inst, Nanos now) {
  busy_.change(now, static_cast<std::int64_t>(inst.gpus.size()));
  inst.busy = true;
}

void GpuAccounting::stop_busy(Instance& inst, Nanos now) {
  if (inst.busy) busy_.change(now, -static_cast<std::int64_t>(inst.gpus.size()));
  inst.busy = false;
}

void GpuAccounting::enter_idle(const Instance& inst) {
  const auto n = static_cast<std::uint32_t>(inst.gpus.size());
  idle_[inst.server] += n;
  idle_total_ += n;
}

void GpuAccounting::leave_idle(const Instance& inst) {
  const auto n = static_cast<std::uint32_t>(inst.gpus.size());
  idle_[inst.server] -= n;
  idle_total_ -= n;
}

void GpuAccounting::mark_down(ServerId s, std::uint32_t gpu, Nanos now) {
  if (owner_[s][gpu] != kNone) throw std::logic_error("GpuAccounting: a GPU taken out of service is not free");
  owner_[s][gpu] = kDown;
  --free_[s];
  --free_total_;
  ++down_total_;
  down_.change(now, 1);
}

void GpuAccounting::mark_up(ServerId s, std::uint32_t gpu, Nanos now) {
  if (owner_[s][gpu] != kDown) throw std::logic_error("GpuAccounting: a GPU put back in service was not down");
  owner_[s][gpu] = kNone;
  ++free_[s];
  ++free_total_;
  --down_total_;
  down_.change(now, -1);
}

}  // namespace sllm
