// The "cuda" device backend: NVIDIA GPUs through cudart and cuBLAS. A dynamic build compiles it with
// loader_cuda.cu and engine_cuda.cu into libsllm_cuda.so, loaded on the first use of a cuda device; a
// static build links it in (models/CMakeLists.txt).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "gpu.h"
#include "sllm/core/files.h"

namespace sllm::models {
namespace {

class CudaBackend final : public DeviceBackend {
 public:
  std::string_view name() const override { return "cuda"; }
  bool host_memory() const override { return false; }
  int device_count() const override { return gpu::device_count(); }
  void require_device(int index) const override { gpu::require_device(index); }
  void* alloc(int index, std::uint64_t bytes, std::string* error) const override { return gpu::alloc_device(index, bytes, error); }
  void free(int index, void* p) const override { gpu::free_device(index, p); }
  void copy_from_host(int index, void* dst, const void* src, std::uint64_t bytes) const override {
    gpu::copy_to_device(index, dst, src, bytes);
  }
  void* alloc_host(std::uint64_t bytes) const override { return gpu::alloc_pinned(bytes); }
  void free_host(void* p) const override { gpu::free_pinned(p); }
  std::unique_ptr<CopyQueue> copy_queue(int index, int streams) const override {
    return std::make_unique<gpu::CopyQueue>(index, streams);
  }
  double copy_bandwidth(int index, std::uint64_t bytes, int streams) const override { return gpu::measure_h2d(index, bytes, streams); }
  std::uint64_t fingerprint(int index, const void* p, std::uint64_t bytes) const override {
    return gpu::device_fingerprint(index, p, bytes);
  }
  std::unique_ptr<Engine> create_engine(const ModelArch& arch, const TensorSource& weights, const Device& device,
                                        const EngineConfig& config) const override {
    return detail::create_cuda_engine(arch, weights, device, config);
  }
  DeviceCeilings measure_ceilings(int index, std::int64_t m, std::int64_t n, std::int64_t k) const override {
    return measure_cuda_ceilings(index, m, n, k);
  }
  // The pause crosses threads four times (source -> driver -> destination -> driver -> destination). GPU
  // engines' threads mostly wait for the GPU and the host has cores to spare, so they poll rather than
  // sleep: on the calibration's GPU host one hand-off in 16 took 1.06 ms instead of 0.06-0.44 ms, a
  // sleeping thread's wake-up.
  std::chrono::microseconds migration_poll() const override { return std::chrono::microseconds(10000); }
  std::vector<CopyProbeResult> copy_probes(std::uint64_t bytes) const override { return gpu::copy_probes(bytes); }
  std::string describe_devices(std::string* driver) const override { return gpu::describe_devices(driver); }
};

}  // namespace

SLLM_REGISTER_DEVICE_BACKEND(CudaBackend);

namespace gpu {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

}  // namespace

std::vector<CopyProbeResult> copy_probes(std::uint64_t bytes) {
  std::vector<CopyProbeResult> out;
  const int gpus = device_count();
  if (gpus == 0) return out;  // a CUDA build on a host without a GPU (CI): nothing to probe
  // Pinned and pageable host buffers, shared by the per-GPU probes.
  void* pinned = nullptr;
  cuda_check(cudaSetDevice(0), "cudaSetDevice");
  cuda_check(cudaHostAlloc(&pinned, bytes * static_cast<std::size_t>(std::max(gpus, 1)), cudaHostAllocPortable), "cudaHostAlloc");
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, Free> pageable(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096));
  if (!pageable) throw std::bad_alloc();
  std::memset(pageable.get(), 3, bytes);
  std::memset(pinned, 3, bytes);
  std::vector<void*> dev(static_cast<std::size_t>(gpus), nullptr);
  for (int g = 0; g < gpus; ++g) {
    cuda_check(cudaSetDevice(g), "cudaSetDevice");
    cuda_check(cudaMalloc(&dev[static_cast<std::size_t>(g)], bytes), "cudaMalloc");
  }
  auto timed = [&](int g, void* dst, const void* src, cudaMemcpyKind kind) {
    cuda_check(cudaSetDevice(g), "cudaSetDevice");
    cuda_check(cudaMemcpy(dst, src, bytes, kind), "cudaMemcpy");  // warm-up
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
      const auto t0 = Clock::now();
      cuda_check(cudaMemcpy(dst, src, bytes, kind), "cudaMemcpy");
      cuda_check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
      best = std::max(best, static_cast<double>(bytes) / since(t0));
    }
    return best;
  };
  for (int g = 0; g < gpus; ++g) {
    void* d = dev[static_cast<std::size_t>(g)];
    using D = CopyProbeResult::Direction;
    out.push_back({D::kHostToDevice, true, g, timed(g, d, pinned, cudaMemcpyHostToDevice)});
    out.push_back({D::kHostToDevice, false, g, timed(g, d, pageable.get(), cudaMemcpyHostToDevice)});
    out.push_back({D::kDeviceToHost, true, g, timed(g, pinned, d, cudaMemcpyDeviceToHost)});
    out.push_back({D::kDeviceToHost, false, g, timed(g, pageable.get(), d, cudaMemcpyDeviceToHost)});
  }
  if (gpus > 1) {  // every GPU at once from its own pinned slice: the host side's aggregate
    std::vector<cudaStream_t> streams(static_cast<std::size_t>(gpus));
    for (int g = 0; g < gpus; ++g) {
      cuda_check(cudaSetDevice(g), "cudaSetDevice");
      cuda_check(cudaStreamCreate(&streams[static_cast<std::size_t>(g)]), "cudaStreamCreate");
    }
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
      const auto t0 = Clock::now();
      for (int g = 0; g < gpus; ++g) {
        cuda_check(cudaSetDevice(g), "cudaSetDevice");
        cuda_check(cudaMemcpyAsync(dev[static_cast<std::size_t>(g)], static_cast<std::byte*>(pinned) + bytes * static_cast<std::size_t>(g), bytes,
                                   cudaMemcpyHostToDevice, streams[static_cast<std::size_t>(g)]),
                   "cudaMemcpyAsync");
      }
      for (int g = 0; g < gpus; ++g) cuda_check(cudaStreamSynchronize(streams[static_cast<std::size_t>(g)]), "sync");
      best = std::max(best, static_cast<double>(bytes) * gpus / since(t0));
    }
    out.push_back({CopyProbeResult::Direction::kHostToDevice, true, -1, best});
    for (auto s : streams) cudaStreamDestroy(s);
  }
  for (int g = 0; g < gpus; ++g) {
    cudaSetDevice(g);
    cudaFree(dev[static_cast<std::size_t>(g)]);
  }
  cudaFreeHost(pinned);
  return out;
}

std::string describe_devices(std::string* driver) {
  const int gpus = device_count();
  if (gpus == 0) return {};
  std::string gpu;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) gpu = std::to_string(gpus) + " x " + prop.name;
  int driver_version = 0, runtime = 0;
  cudaDriverGetVersion(&driver_version);
  cudaRuntimeGetVersion(&runtime);
  *driver = "CUDA driver API " + std::to_string(driver_version / 1000) + "." + std::to_string(driver_version % 1000 / 10) +
            ", runtime " + std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10);
  const std::string nv = read_first_line("/sys/module/nvidia/version");
  if (!nv.empty()) *driver = "NVIDIA " + nv + ", " + *driver;
  return gpu;
}

}  // namespace gpu
}  // namespace sllm::models
