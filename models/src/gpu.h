// What the loader needs from CUDA, behind plain functions so that the loader compiles without CUDA:
// models/cuda/loader_cuda.cu implements them when nvcc exists, gpu_none.cpp otherwise (every call then
// fails with a clear message; device_count() is 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

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

// Asynchronous copies from pinned memory on several streams; completion observed in submission order.
class CopyQueue {
 public:
  CopyQueue(int device, int streams);
  ~CopyQueue();
  CopyQueue(const CopyQueue&) = delete;
  CopyQueue& operator=(const CopyQueue&) = delete;
  void submit(void* dst, const void* src, std::size_t bytes, std::uint64_t tag);
  // Waits for the oldest copy in flight and returns its tag.
  std::uint64_t wait_oldest();
  std::size_t in_flight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Bytes/s of pinned host -> device copies of `bytes` on `streams` streams (best of a few).
double measure_h2d(int device, std::size_t bytes, int streams);
// models::fingerprint() of device memory, computed by a kernel.
std::uint64_t device_fingerprint(int device, const void* p, std::size_t bytes);

}  // namespace sllm::models::gpu
