// Where tensors live and how bytes get there: one DeviceBackend per kind of device, registered by name
// ("cpu": host memory and the Eigen engine; "cuda": NVIDIA GPUs). The loader, the engine, the migration
// driver and the calibration ask a device's backend instead of testing which kind it is.
//
// Backends register themselves from static initialisers (SLLM_REGISTER_DEVICE_BACKEND). "cpu" is always
// linked in. A backend that is not linked in is loaded on first use from libsllm_<name>.so next to the
// executable (or on its RUNPATH): a dynamic build puts CUDA there, so that commands that never touch a
// GPU do not map cudart and cuBLAS; a static build (-DSLLM_STATIC=ON) links CUDA in directly.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/models/tensor.h"

namespace sllm::models {

class Engine;
struct EngineConfig;

// Asynchronous copies from host memory of the backend (DeviceBackend::alloc_host) to one device, spread
// over several streams; completion is observed in submission order.
class CopyQueue {
 public:
  virtual ~CopyQueue() = default;
  virtual void submit(void* dst, const void* src, std::uint64_t bytes, std::uint64_t tag) = 0;
  // Waits for the oldest copy in flight and returns its tag.
  virtual std::uint64_t wait_oldest() = 0;
  virtual std::size_t in_flight() const = 0;
};

// Ceilings measured on the device itself, for the engine benchmark's ratios.
struct DeviceCeilings {
  double copy_bytes_per_second = 0;  // device-to-device copy, bytes read plus bytes written
  double gemm_flops = 0;             // fp16 GEMM (fp32 accumulation) of the given shape
};

// One copy-bandwidth probe of the calibration (calibrate/src/probes.cpp).
// One host <-> device copy bandwidth measurement.
struct CopyProbeResult {
  enum class Direction { kHostToDevice, kDeviceToHost };
  Direction direction = Direction::kHostToDevice;
  bool pinned = true;  // the host buffer: pinned (page-locked) or pageable
  int device = 0;      // -1: every device at once (each from its own pinned slice)
  double bandwidth = 0;
  // Its key in a profile's probes: h2d_pinned_gpu0, d2h_pageable_gpu1, ..., h2d_pinned_concurrent.
  std::string key() const {
    const std::string kind =
        std::string(direction == Direction::kHostToDevice ? "h2d" : "d2h") + (pinned ? "_pinned" : "_pageable");
    return kind + (device >= 0 ? "_gpu" + std::to_string(device) : std::string("_concurrent"));
  }
};

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual std::string_view name() const = 0;
  // True when the backend's memory is ordinary host memory that the CPU reads directly.
  virtual bool host_memory() const = 0;
  virtual int device_count() const = 0;
  // Throws std::runtime_error naming the device when it cannot be used (no such device).
  virtual void require_device(int index) const = 0;

  // Device memory: nullptr and *error set when refused.
  virtual void* alloc(int index, std::uint64_t bytes, std::string* error) const = 0;
  virtual void free(int index, void* p) const = 0;
  // Synchronous copy from any host memory (pageable or from alloc_host) to device memory.
  virtual void copy_from_host(int index, void* dst, const void* src, std::uint64_t bytes) const = 0;
  // Host memory the backend copies from fastest (page-locked for CUDA), 4 KiB aligned; nullptr when refused.
  virtual void* alloc_host(std::uint64_t bytes) const = 0;
  virtual void free_host(void* p) const = 0;
  virtual std::unique_ptr<CopyQueue> copy_queue(int index, int streams) const = 0;

  // Bytes/s of copies of `bytes` from alloc_host memory to the device on `streams` streams (best of a few).
  virtual double copy_bandwidth(int index, std::uint64_t bytes, int streams) const = 0;
  // models::fingerprint() of `bytes` of device memory, computed where the bytes are.
  virtual std::uint64_t fingerprint(int index, const void* p, std::uint64_t bytes) const = 0;

  virtual std::unique_ptr<Engine> create_engine(const ModelArch& arch, const TensorSource& weights, const Device& device,
                                                const EngineConfig& config) const = 0;
  // Throws std::runtime_error where the backend has no such probe.
  virtual DeviceCeilings measure_ceilings(int index, std::int64_t gemm_m, std::int64_t gemm_n, std::int64_t gemm_k) const = 0;
  // How long the live-migration driver's threads spin before sleeping: engines that mostly wait for a
  // device leave host cores to spare, CPU engines need them.
  virtual std::chrono::microseconds migration_poll() const = 0;

  // For the calibration: copy probes between host and every device (none where there is no device), and
  // "N x <model>" with the driver's versions (empty without a device).
  virtual std::vector<CopyProbeResult> copy_probes(std::uint64_t bytes) const = 0;
  virtual std::string describe_devices(std::string* driver) const = 0;
};

// The backend named `name`, loading libsllm_<name>.so when it is not linked in; std::runtime_error saying
// why when there is none.
const DeviceBackend& device_backend(std::string_view name);
inline const DeviceBackend& device_backend(const Device& device) { return device_backend(device.backend); }
// Devices of a backend; 0 when the backend cannot be loaded (a build without CUDA, no module).
int device_count(std::string_view backend);
// Names of the backends linked in or loaded so far.
std::vector<std::string> device_backend_names();

void register_device_backend(std::unique_ptr<DeviceBackend> backend);

template <class Backend>
struct DeviceBackendRegistration {
  DeviceBackendRegistration() { register_device_backend(std::make_unique<Backend>()); }
};

}  // namespace sllm::models

#define SLLM_DEVICE_BACKEND_CONCAT2(a, b) a##b
#define SLLM_DEVICE_BACKEND_CONCAT(a, b) SLLM_DEVICE_BACKEND_CONCAT2(a, b)
// SLLM_REGISTER_DEVICE_BACKEND(CudaBackend); the class's name() is the registered name.
#define SLLM_REGISTER_DEVICE_BACKEND(Backend)                                                      \
  static const ::sllm::models::DeviceBackendRegistration<Backend> SLLM_DEVICE_BACKEND_CONCAT( \
      sllm_device_backend_, __LINE__) {}
