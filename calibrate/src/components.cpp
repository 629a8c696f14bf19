// `sllmsim calibrate components`: raw measurements of the loader model's components (probes.h) and the
// real loader's per-mode times on each storage device, kept as a profile's probes and measurement files;
// calibrate/src/loader_fit.cpp turns the probes into the model (docs/loader-model.md).
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <ostream>
#include <thread>

#include "probes.h"
#include "sllm/calibrate/calibration.h"
#include "sllm/calibrate/fit.h"
#include "sllm/core/error.h"
#include "sllm/models/device_backend.h"

namespace sllm::calibrate {
namespace {

namespace fs = std::filesystem;
constexpr std::uint64_t kMiB = 1ull << 20;

void say(const ComponentOptions& o, const std::string& line) {
  if (o.log) *o.log << line << std::endl;
}

void record(const ComponentOptions& o, Profile& p, const std::string& key, double value) {
  p.probes[key] = value;
  char line[160];
  std::snprintf(line, sizeof line, "  %s: %.6g", key.c_str(), value);
  say(o, line);
}

// Seconds per tensor of the by-tensor path for tiny tensors (its fixed costs): allocate a buffer, pread
// it from a cached file, copy it to the device; and seconds per host-to-device copy call alone.
void probe_per_tensor(const ComponentOptions& o, const models::Device& device, const std::string& file, Profile& p) {
  const models::DeviceBackend& backend = models::device_backend(device);
  constexpr std::uint64_t kTensor = 4096;
  constexpr int kTensors = 2000;
  std::string error;
  void* dest = backend.alloc(device.index, kTensor * kTensors, &error);
  if (!dest) throw std::runtime_error("per-tensor probe: " + error);
  const int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("cannot open " + file);
  std::vector<double> per_tensor, per_copy;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = Clock::now();
    for (int i = 0; i < kTensors; ++i) {
      std::unique_ptr<std::byte[]> buf(new std::byte[kTensor]);
      if (::pread(fd, buf.get(), kTensor, static_cast<off_t>(i * kTensor)) != static_cast<ssize_t>(kTensor)) {
        ::close(fd);
        throw std::runtime_error("short read of " + file);
      }
      backend.copy_from_host(device.index, static_cast<std::byte*>(dest) + i * kTensor, buf.get(), kTensor);
    }
    per_tensor.push_back(since(t0) / kTensors);
    std::vector<std::byte> host(kTensor, std::byte{1});
    t0 = Clock::now();
    for (int i = 0; i < kTensors; ++i) backend.copy_from_host(device.index, static_cast<std::byte*>(dest) + i * kTensor, host.data(), kTensor);
    per_copy.push_back(since(t0) / kTensors);
  }
  ::close(fd);
  backend.free(device.index, dest);
  record(o, p, "per_tensor_seconds", median(per_tensor));
  record(o, p, "per_copy_seconds", median(per_copy));
}

// Allocation (and release) of a load's destination memory, at two sizes: a fixed and a per-byte part.
void probe_device_alloc(const ComponentOptions& o, const models::Device& device, Profile& p) {
  const models::DeviceBackend& backend = models::device_backend(device);
  for (std::uint64_t mib : {o.quick ? 16ull : 256ull, o.quick ? 64ull : 2048ull}) {
    std::vector<double> t;
    for (int rep = 0; rep < 3; ++rep) {
      std::string error;
      const auto t0 = Clock::now();
      void* d = backend.alloc(device.index, mib * kMiB, &error);
      if (!d) throw std::runtime_error("device allocation probe: " + error);
      backend.free(device.index, d);
      t.push_back(since(t0));
    }
    record(o, p, "device_alloc_seconds_" + std::to_string(mib) + "MiB", median(t));
  }
}

void probe_host(const ComponentOptions& o, const models::Device& device, const std::string& file, Profile& p) {
  const std::uint64_t copy = (o.quick ? 64 : 512) * kMiB;
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<int> counts{1, 2, 4, 8, hw};
  counts.erase(std::remove_if(counts.begin(), counts.end(), [&](int k) { return k > hw; }), counts.end());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  for (int k : counts) record(o, p, "memcpy_threads" + std::to_string(k), dram_copy_bandwidth(copy, k));
  record(o, p, "hardware_threads", hw);
  record(o, p, "fresh_copy_threads1", fresh_copy_bandwidth(copy, 3));
  record(o, p, "page_cache_read_threads1", cached_read_bandwidth(file, true, false, 3));
  record(o, p, "mmap_read_threads1", cached_read_bandwidth(file, false, false, 3));
  record(o, p, "per_file_seconds", per_file_seconds(file));
  probe_per_tensor(o, device, file, p);
  probe_device_alloc(o, device, p);
  for (const CopyProbe& c : gpu_copy_probes(device, copy)) record(o, p, c.key(), c.bandwidth);
}

// The storage device under `dir`, named `name` in the probe keys.
void probe_storage_device(const ComponentOptions& o, const std::string& name, const std::string& file, Profile& p) {
  const std::vector<std::uint64_t> requests = o.quick ? std::vector<std::uint64_t>{1 * kMiB, 4 * kMiB}
                                                       : std::vector<std::uint64_t>{256 << 10, 1 * kMiB, 4 * kMiB, 32 * kMiB};
  const std::vector<std::pair<int, int>> configs = o.quick ? std::vector<std::pair<int, int>>{{1, 1}, {4, 4}}
                                                           : std::vector<std::pair<int, int>>{{1, 1}, {1, 4}, {1, 32}, {4, 1}, {4, 8}, {16, 4}};
  bool direct = true;
  for (std::uint64_t r : requests) {
    for (auto [threads, qd] : configs) {
      evict_from_page_cache(file);
      const DirectReadResult res = direct_read(file, r, threads, qd);
      direct = direct && res.direct;
      char key[96];
      std::snprintf(key, sizeof key, "%s_direct_r%lluKiB_t%d_q%d", name.c_str(), static_cast<unsigned long long>(r >> 10), threads, qd);
      record(o, p, key, static_cast<double>(res.bytes) / res.seconds);
    }
  }
  record(o, p, name + "_o_direct", direct ? 1 : 0);
  // The loader's own configuration, repeated: the spread of a load's time on this device.
  for (int rep = 0; rep < (o.quick ? 3 : 6); ++rep) {
    evict_from_page_cache(file);
    const DirectReadResult res = direct_read(file, o.quick ? 4 * kMiB : 32 * kMiB, 4, 8);
    record(o, p, name + "_repeat" + std::to_string(rep), static_cast<double>(res.bytes) / res.seconds);
  }
  record(o, p, name + "_buffered_cold", cached_read_bandwidth(file, true, true, 1));
  record(o, p, name + "_mmap_cold", cached_read_bandwidth(file, false, true, 1));
  record(o, p, name + "_read_ahead_bytes", read_ahead_bytes(fs::path(file).parent_path().string()));
  struct statfs sf {};
  const bool tmpfs = ::statfs(fs::path(file).parent_path().c_str(), &sf) == 0 && sf.f_type == TMPFS_MAGIC;
  record(o, p, name + "_memory_backed", tmpfs ? 1 : 0);
}

}  // namespace

Profile run_component_calibration(const ComponentOptions& o,
                                  std::vector<std::pair<std::string, std::vector<Measurement>>>& measurements) {
  if (o.storages.empty()) throw InputError("--storage", "give at least one storage device as NAME=FOLDER");
  const models::Device device = models::Device::parse(o.device, "--device");
  models::device_backend(device).require_device(device.index);
  Profile p;
  std::vector<std::string> scratch;
  for (const auto& [name, dir] : o.storages) {
    scratch.push_back((fs::path(dir) / ("sllm-components-" + std::to_string(::getpid()))).string());
    fs::create_directories(scratch.back());
  }
  p.machine = describe_machine(scratch.back(), o.device);
  p.machine.disk.clear();
  for (std::size_t i = 0; i < o.storages.size(); ++i) {
    const MachineInfo m = describe_machine(scratch[i], o.device);
    p.machine.disk += (i ? "; " : "") + o.storages[i].first + ": " + o.storages[i].second + " (" + m.disk + ")";
  }
  say(o, "machine: " + p.machine.cpu + "; GPU " + p.machine.gpu + "; storage " + p.machine.disk);
  try {
    const std::uint64_t file_bytes = (o.quick ? 64 : 1024) * kMiB;
    for (std::size_t i = 0; i < o.storages.size(); ++i) {
      const std::string& name = o.storages[i].first;
      const std::string file = scratch[i] + "/read-probe.bin";
      write_scratch_file(file, file_bytes);
      if (i == 0) {
        say(o, "host components (" + o.device + ")");
        probe_host(o, device, file, p);
      }
      say(o, "storage " + name + " (" + o.storages[i].second + ")");
      probe_storage_device(o, name, file, p);
      fs::remove(file);
      say(o, "loader on " + name);
      LoaderRun run;
      run.dir = scratch[i];
      run.sizes = o.quick ? std::vector<std::uint64_t>{8 * kMiB, 32 * kMiB, 64 * kMiB}
                          : std::vector<std::uint64_t>{256 * kMiB, 1024 * kMiB, 2048 * kMiB};
      run.base_rounds = o.quick ? 2 : 3;
      run.max_rounds = o.quick ? 2 : 5;
      run.extra_seconds = o.quick ? 0 : 25;
      CalibrationOptions co;
      co.device = o.device;
      co.quick = o.quick;
      co.scratch = scratch[i];
      co.log = o.log;
      std::vector<Measurement> rows;
      probe_loader(co, device, run, p, rows);
      measurements.emplace_back(name, std::move(rows));
    }
  } catch (...) {
    for (const std::string& d : scratch) fs::remove_all(d);
    throw;
  }
  for (const std::string& d : scratch) fs::remove_all(d);
  return p;
}

}  // namespace sllm::calibrate
