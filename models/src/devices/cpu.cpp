// The "cpu" device backend: tensors in ordinary host memory, copies by memcpy, the Eigen engine.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <thread>

#include "engine_internal.h"
#include "sllm/models/device_backend.h"
#include "sllm/models/loader.h"

namespace sllm::models {
namespace {

void* aligned_host(std::uint64_t bytes) { return std::aligned_alloc(4096, std::max<std::uint64_t>(4096, (bytes + 4095) / 4096 * 4096)); }

// Host copies complete as they are submitted: the queue only hands the tags back in order.
class SyncCopyQueue final : public CopyQueue {
 public:
  void submit(void* dst, const void* src, std::uint64_t bytes, std::uint64_t tag) override {
    if (bytes > 0) std::memcpy(dst, src, bytes);
    done_.push_back(tag);
  }
  std::uint64_t wait_oldest() override {
    const std::uint64_t tag = done_.front();
    done_.pop_front();
    return tag;
  }
  std::size_t in_flight() const override { return done_.size(); }

 private:
  std::deque<std::uint64_t> done_;
};

class CpuBackend final : public DeviceBackend {
 public:
  std::string_view name() const override { return "cpu"; }
  bool host_memory() const override { return true; }
  int device_count() const override { return 1; }
  void require_device(int index) const override {
    if (index != 0) throw std::runtime_error("cpu:" + std::to_string(index) + ": the host is device cpu (index 0)");
  }
  void* alloc(int, std::uint64_t bytes, std::string* error) const override {
    void* p = aligned_host(bytes);
    if (!p && error) *error = "out of host memory";
    return p;
  }
  void free(int, void* p) const override { std::free(p); }
  void copy_from_host(int, void* dst, const void* src, std::uint64_t bytes) const override {
    if (bytes > 0) std::memcpy(dst, src, bytes);
  }
  void* alloc_host(std::uint64_t bytes) const override {
    void* p = aligned_host(bytes);
    // Fault the pages in now: the pool is a long-lived server resource, like pinned memory.
    if (p) std::memset(p, 0, bytes);
    return p;
  }
  void free_host(void* p) const override { std::free(p); }
  std::unique_ptr<CopyQueue> copy_queue(int, int) const override { return std::make_unique<SyncCopyQueue>(); }

  // memcpy by `streams` threads, each a slice, best of a few repeats.
  double copy_bandwidth(int, std::uint64_t bytes, int streams) const override {
    struct Free {
      void operator()(std::byte* p) const { std::free(p); }
    };
    std::unique_ptr<std::byte, Free> src(static_cast<std::byte*>(aligned_host(bytes)));
    std::unique_ptr<std::byte, Free> dst(static_cast<std::byte*>(aligned_host(bytes)));
    if (!src || !dst) throw std::runtime_error("cannot allocate 2 x " + std::to_string(bytes) + " bytes for the copy probe");
    std::memset(src.get(), 1, bytes);
    std::memset(dst.get(), 0, bytes);
    const int n = std::max(1, streams);
    const std::uint64_t piece = (bytes / static_cast<std::uint64_t>(n) + 4095) / 4096 * 4096;
    double best = 0;
    for (int rep = 0; rep < 4; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<std::thread> pool;
      for (int i = 0; i < n; ++i) {
        const std::uint64_t off = static_cast<std::uint64_t>(i) * piece;
        if (off >= bytes) break;
        pool.emplace_back([&, off] { std::memcpy(dst.get() + off, src.get() + off, std::min(piece, bytes - off)); });
      }
      for (auto& t : pool) t.join();
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, static_cast<double>(bytes) / std::max(secs, 1e-9));
    }
    return best;
  }
  std::uint64_t fingerprint(int, const void* p, std::uint64_t bytes) const override { return models::fingerprint(p, bytes); }

  std::unique_ptr<Engine> create_engine(const ModelArch& arch, const TensorSource& weights, const Device&,
                                        const EngineConfig& config) const override {
    return detail::create_cpu_engine(arch, weights, config);
  }
  DeviceCeilings measure_ceilings(int, std::int64_t, std::int64_t, std::int64_t) const override {
    throw std::runtime_error("the cpu backend has no ceilings probe (it measures GPU copy and GEMM peaks)");
  }
  std::chrono::microseconds migration_poll() const override { return std::chrono::microseconds(0); }
  std::vector<CopyProbeResult> copy_probes(std::uint64_t) const override { return {}; }
  std::string describe_devices(std::string*) const override { return {}; }
};

}  // namespace

SLLM_REGISTER_DEVICE_BACKEND(CpuBackend);

}  // namespace sllm::models
