// CUDA side of the loader: pinned and device memory, pipelined host-to-device copies on several streams
// with events, the H2D bandwidth probe and the on-device fingerprint of loaded tensors.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpu.h"

namespace sllm::models::gpu {

namespace {

void check(cudaError_t err, const std::string& what) {
  if (err != cudaSuccess) throw std::runtime_error(what + ": " + cudaGetErrorString(err));
}

// Same mixing as models::fingerprint() on the host (loader.cpp).
__host__ __device__ inline unsigned long long mix64(unsigned long long z) {
  z ^= z >> 30;
  z *= 0xbf58476d1ce4e5b9ull;
  z ^= z >> 27;
  z *= 0x94d049bb133111ebull;
  z ^= z >> 31;
  return z;
}

__global__ void fingerprint_kernel(const unsigned char* p, unsigned long long bytes, unsigned long long* out) {
  const unsigned long long words = bytes / 8;
  const auto* w = reinterpret_cast<const unsigned long long*>(p);
  unsigned long long sum = 0;
  const unsigned long long stride = static_cast<unsigned long long>(gridDim.x) * blockDim.x;
  for (unsigned long long i = blockIdx.x * blockDim.x + threadIdx.x; i < words; i += stride) {
    sum += mix64(w[i] ^ (i * 0x9E3779B97F4A7C15ull));
  }
  if (blockIdx.x == 0 && threadIdx.x == 0 && bytes % 8 != 0) {
    unsigned long long tail = 0;
    for (unsigned long long b = words * 8; b < bytes; ++b) tail |= static_cast<unsigned long long>(p[b]) << (8 * (b - words * 8));
    sum += mix64(tail ^ (words * 0x9E3779B97F4A7C15ull));
  }
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  if ((threadIdx.x & 31) == 0) atomicAdd(out, sum);
}

class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    cudaGetDevice(&previous_);
    check(cudaSetDevice(device), "cuda:" + std::to_string(device));
  }
  ~DeviceGuard() { cudaSetDevice(previous_); }

 private:
  int previous_ = 0;
};

}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

void require_device(int device) {
  const int n = device_count();
  if (device < 0 || device >= n) {
    throw std::runtime_error("cuda:" + std::to_string(device) + " requested, but " +
                             (n == 0 ? std::string("no CUDA GPU is visible on this machine") : std::to_string(n) + " CUDA GPU(s) are visible"));
  }
}

void* alloc_pinned(std::size_t bytes) {
  void* p = nullptr;
  // Portable: usable by copies to every GPU of a multi-GPU load.
  if (cudaHostAlloc(&p, std::max<std::size_t>(bytes, 1), cudaHostAllocPortable) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;
}

void free_pinned(void* p) {
  if (p) cudaFreeHost(p);
}

// Model memory comes from the device's stream-ordered pool, told to keep freed memory mapped: a model
// loaded into memory that an evicted model gave back skips the page mapping of a fresh cudaMalloc, as
// with the caching allocators of serving frameworks. The first allocation of that size still pays it.
void* alloc_device(int device, std::size_t bytes, std::string* error) {
  DeviceGuard guard(device);
  cudaMemPool_t pool{};
  cudaError_t err = cudaDeviceGetDefaultMemPool(&pool, device);
  if (err == cudaSuccess) {
    std::uint64_t keep = UINT64_MAX;
    err = cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
  }
  void* p = nullptr;
  if (err == cudaSuccess) err = cudaMallocAsync(&p, std::max<std::size_t>(bytes, 1), cudaStreamLegacy);
  // The copies run on other streams: the allocation must be complete before they start.
  if (err == cudaSuccess) err = cudaStreamSynchronize(cudaStreamLegacy);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (error) *error = cudaGetErrorString(err);
    return nullptr;
  }
  return p;
}

void free_device(int device, void* p) {
  if (!p) return;
  DeviceGuard guard(device);
  cudaFreeAsync(p, cudaStreamLegacy);
  cudaStreamSynchronize(cudaStreamLegacy);
}

void copy_to_device(int device, void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  DeviceGuard guard(device);
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cuda:" + std::to_string(device) + ": host-to-device copy");
}

struct CopyQueue::Impl {
  int device = 0;
  std::vector<cudaStream_t> streams;
  std::vector<cudaEvent_t> free_events;
  struct InFlight {
    cudaEvent_t event;
    std::uint64_t tag;
  };
  std::deque<InFlight> in_flight;
  std::size_t next_stream = 0;
};

CopyQueue::CopyQueue(int device, int streams) : impl_(std::make_unique<Impl>()) {
  impl_->device = device;
  DeviceGuard guard(device);
  for (int i = 0; i < std::max(1, streams); ++i) {
    cudaStream_t s{};
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cuda:" + std::to_string(device) + ": stream");
    impl_->streams.push_back(s);
  }
}

CopyQueue::~CopyQueue() {
  if (!impl_) return;
  DeviceGuard guard(impl_->device);
  for (auto& f : impl_->in_flight) {
    cudaEventSynchronize(f.event);
    cudaEventDestroy(f.event);
  }
  for (auto e : impl_->free_events) cudaEventDestroy(e);
  for (auto s : impl_->streams) cudaStreamDestroy(s);
}

void CopyQueue::submit(void* dst, const void* src, std::uint64_t bytes, std::uint64_t tag) {
  DeviceGuard guard(impl_->device);
  const std::string where = "cuda:" + std::to_string(impl_->device);
  cudaStream_t s = impl_->streams[impl_->next_stream++ % impl_->streams.size()];
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), where + ": host-to-device copy");
  cudaEvent_t e{};
  if (impl_->free_events.empty()) {
    check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), where + ": event");
  } else {
    e = impl_->free_events.back();
    impl_->free_events.pop_back();
  }
  check(cudaEventRecord(e, s), where + ": event record");
  impl_->in_flight.push_back({e, tag});
}

std::uint64_t CopyQueue::wait_oldest() {
  DeviceGuard guard(impl_->device);
  Impl::InFlight f = impl_->in_flight.front();
  impl_->in_flight.pop_front();
  impl_->free_events.push_back(f.event);
  check(cudaEventSynchronize(f.event), "cuda:" + std::to_string(impl_->device) + ": host-to-device copy");
  return f.tag;
}

std::size_t CopyQueue::in_flight() const { return impl_->in_flight.size(); }

double measure_h2d(int device, std::size_t bytes, int streams) {
  require_device(device);
  DeviceGuard guard(device);
  const std::string where = "cuda:" + std::to_string(device) + ": H2D probe";
  void* host = alloc_pinned(bytes);
  if (!host) throw std::runtime_error(where + ": cannot allocate pinned memory");
  void* dev = nullptr;
  check(cudaMalloc(&dev, bytes), where);
  std::vector<cudaStream_t> s(static_cast<std::size_t>(std::max(1, streams)));
  for (auto& x : s) check(cudaStreamCreateWithFlags(&x, cudaStreamNonBlocking), where);
  const std::size_t piece = (bytes / s.size() + 4095) / 4096 * 4096;
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < s.size(); ++i) {
      const std::size_t off = i * piece;
      if (off >= bytes) break;
      check(cudaMemcpyAsync(static_cast<char*>(dev) + off, static_cast<char*>(host) + off, std::min(piece, bytes - off),
                            cudaMemcpyHostToDevice, s[i]), where);
    }
    check(cudaDeviceSynchronize(), where);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep > 0) best = std::max(best, static_cast<double>(bytes) / secs);  // first is a warm-up
  }
  for (auto& x : s) cudaStreamDestroy(x);
  cudaFree(dev);
  free_pinned(host);
  return best;
}

std::uint64_t device_fingerprint(int device, const void* p, std::size_t bytes) {
  DeviceGuard guard(device);
  const std::string where = "cuda:" + std::to_string(device) + ": fingerprint";
  unsigned long long* out = nullptr;
  check(cudaMalloc(&out, sizeof *out), where);
  check(cudaMemset(out, 0, sizeof *out), where);
  const unsigned long long words = bytes / 8;
  const int threads = 256;
  const int blocks = static_cast<int>(std::clamp<unsigned long long>((words + threads - 1) / threads, 1, 4096));
  fingerprint_kernel<<<blocks, threads>>>(static_cast<const unsigned char*>(p), bytes, out);
  check(cudaGetLastError(), where);
  unsigned long long sum = 0;
  check(cudaMemcpy(&sum, out, sizeof sum, cudaMemcpyDeviceToHost), where);
  cudaFree(out);
  return mix64(sum + bytes);
}

}  // namespace sllm::models::gpu
