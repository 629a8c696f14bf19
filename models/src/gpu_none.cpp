// The loader's CUDA entry points in a build without nvcc: no device exists, and asking for one says why.
#ifndef SLLM_HAVE_CUDA

#include <stdexcept>

#include "gpu.h"

namespace sllm::models::gpu {

namespace {
[[noreturn]] void no_cuda(int device) {
  throw std::runtime_error("cuda:" + std::to_string(device) +
                           " requested, but this sllmsim was built without CUDA (nvcc was not found at configure time)");
}
}  // namespace

int device_count() { return 0; }
void require_device(int device) { no_cuda(device); }
void* alloc_pinned(std::size_t) { return nullptr; }
void free_pinned(void*) {}
void* alloc_device(int device, std::size_t, std::string*) { no_cuda(device); }
void free_device(int, void*) {}
void copy_to_device(int device, void*, const void*, std::size_t) { no_cuda(device); }
struct CopyQueue::Impl {};
CopyQueue::CopyQueue(int device, int) { no_cuda(device); }
CopyQueue::~CopyQueue() = default;
void CopyQueue::submit(void*, const void*, std::size_t, std::uint64_t) {}
std::uint64_t CopyQueue::wait_oldest() { return 0; }
std::size_t CopyQueue::in_flight() const { return 0; }
double measure_h2d(int device, std::size_t, int) { no_cuda(device); }
std::uint64_t device_fingerprint(int device, const void*, std::size_t) { no_cuda(device); }

}  // namespace sllm::models::gpu

#endif
