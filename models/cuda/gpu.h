// The CUDA backend's pieces (cuda_backend.cpp puts them behind DeviceBackend): memory, copies and the
// fingerprint in loader_cuda.cu, the engine and its ceilings probe in engine_cuda.cu.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>
#include <string>

#include "engine_internal.h"
#include "sllm/models/device_backend.h"

namespace sllm::models::gpu {

int device_count();
// Throws std::runtime_error naming the device when it cannot be used (no CUDA build, no such GPU).
void require_device(int device);

void* alloc_pinned(std::size_t bytes);  // nullptr when refused
void free_pinned(void* p);
void* alloc_device(int device, std::size_t bytes, std::string* error);  // nullptr + error when refused
void free_device(int device, void* p);

// Synchronous copy from any host memory (pageable or pinned) to the device.
void copy_to_device(int device, void* dst, const void* src, std::size_t bytes);

// Asynchronous copies from pinned memory on several streams, with an event per copy.
class CopyQueue final : public models::CopyQueue {
 public:
  CopyQueue(int device, int streams);
  ~CopyQueue() override;
  CopyQueue(const CopyQueue&) = delete;
  CopyQueue& operator=(const CopyQueue&) = delete;
  void submit(void* dst, const void* src, std::uint64_t bytes, std::uint64_t tag) override;
  std::uint64_t wait_oldest() override;
  std::size_t in_flight() const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Bytes/s of pinned host -> device copies of `bytes` on `streams` streams (best of a few).
double measure_h2d(int device, std::size_t bytes, int streams);
// models::fingerprint() of device memory, computed by a kernel.
std::uint64_t device_fingerprint(int device, const void* p, std::size_t bytes);

// The calibration's copy probes over every GPU, and "N x <name>" plus driver versions ("" without a GPU).
std::vector<CopyProbeResult> copy_probes(std::uint64_t bytes);
std::string describe_devices(std::string* driver);

}  // namespace sllm::models::gpu

namespace sllm::models {
DeviceCeilings measure_cuda_ceilings(int device, std::int64_t gemm_m, std::int64_t gemm_n, std::int64_t gemm_k);
}  // namespace sllm::models
