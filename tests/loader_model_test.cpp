// The loader model (docs/loader-model.md): each mode's law against closed forms of hand-chosen component
// values, the storage model's throughput, the profile round trip, a testbed profile assembled with
// host_from, the shared host limit of multi-GPU loads, and the storage fit recovering a known device.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "sllm/calibrate/loader_model_fit.h"
#include "sllm/core/error.h"
#include "sllm/core/loader_modes.h"
#include "sllm/sim/profile.h"
#include "sllm/sim/scenario.h"

namespace sllm {
namespace {

namespace fs = std::filesystem;
constexpr double kMiB = 1048576.0;

LoaderModel hand_model() {
  LoaderModel m;
  HostModel& h = m.host;
  h.memcpy_thread = 8e9;
  h.memcpy_all = 30e9;
  h.fresh_pages = 1e9;
  h.page_cache_thread = 4e9;
  h.mmap_thread = 5e9;
  h.h2d_pinned = 50e9;
  h.h2d_pageable = 10e9;
  h.h2d_shared = 60e9;
  h.per_file = 1e-6;
  h.per_tensor = 1e-5;
  h.per_copy = 2e-6;
  h.device_alloc = 1e-3;
  StorageModel& s = m.storage;
  s.bandwidth = 2e9;  // no latency, unlimited request and thread rates: every O_DIRECT read runs at 2 GB/s
  s.buffered_bandwidth = 1e9;
  s.mmap_bandwidth = 1.25e9;
  m.loader.tensor_bytes = 16ull << 20;
  m.loader.large_tensor_fraction = 0;  // every tensor reused by the allocator: no fresh pages per tensor
  return m;
}

// seconds per byte and fixed seconds of a law
void expect_law(const LoadLaw& law, double seconds_per_byte, double fixed) {
  EXPECT_NEAR(1.0 / law.bandwidth, seconds_per_byte, 1e-12 * seconds_per_byte);
  EXPECT_NEAR(to_seconds(law.overhead), fixed, 1e-9);
}

TEST(LoaderModel, StorageThroughputClosedForm) {
  StorageModel s;
  s.latency = 1e-4;
  s.request_bandwidth = 2e9;
  s.bandwidth = 5e9;
  s.thread_bandwidth = 3e9;
  // One request in flight: r / (latency + r / request_bandwidth).
  EXPECT_NEAR(s.throughput(kMiB, 1, 1), kMiB / (1e-4 + kMiB / 2e9), 1);
  // Eight in flight from one thread: the thread's limit; from four threads: the device's ceiling.
  EXPECT_DOUBLE_EQ(s.throughput(kMiB, 8, 1), 3e9);
  EXPECT_DOUBLE_EQ(s.throughput(kMiB, 8, 4), 5e9);
  s.thread_bandwidth = 0;  // no per-thread limit
  EXPECT_DOUBLE_EQ(s.throughput(kMiB, 8, 1), 5e9);
}

TEST(LoaderModel, EveryModeIsItsCompositionOfComponents) {
  const LoaderModel m = hand_model();
  const double fixed = 1e-3 + 1e-6;  // device allocation + one file
  const double tensor = 1e-5 / (16 * kMiB), copy_call = 2e-6 / (16 * kMiB);
  // Cold buffered read: max(CPU = fresh 1 ns/B + page cache 0.25 ns/B, device 1 ns/B) = 1.25 ns/B.
  expect_law(m.law("bulk", LoadSource::kCold), 1.25e-9 + 0.1e-9, fixed);
  expect_law(m.law("torch", LoadSource::kCold), 1.25e-9 + 0.1e-9 + copy_call, fixed);
  // Per-tensor buffers are reused: the device (1 ns/B) bounds the read; warm: the page-cache copy alone.
  expect_law(m.law("by-tensor", LoadSource::kCold), 1e-9 + 0.1e-9 + tensor, fixed);
  expect_law(m.law("by-tensor", LoadSource::kWarm), 0.25e-9 + 0.1e-9 + tensor, fixed);
  expect_law(m.law("safetensors", LoadSource::kCold), 0.8e-9 + 0.1e-9 + copy_call, fixed);
  expect_law(m.law("safetensors", LoadSource::kWarm), 0.2e-9 + 0.1e-9 + copy_call, fixed);
  // O_DIRECT: warm or cold, the device: max(fresh faults, 0.5 ns/B) then the pageable copy.
  for (LoadSource src : {LoadSource::kCold, LoadSource::kWarm}) {
    expect_law(m.law("direct", src), 1e-9 + 0.1e-9, fixed);
    expect_law(m.law("threads", src), 0.5e-9 + 0.1e-9, fixed);  // faults over 4 threads: 0.25 < 0.5
    expect_law(m.law("pinned", src), 0.5e-9 + 0.02e-9, fixed);
  }
  // Pipelined: the slower stage, plus one chunk through the faster; warm: the pinned copy from the pool.
  expect_law(m.law("sllm", LoadSource::kCold), 0.5e-9, fixed + 32 * kMiB * 0.02e-9);
  expect_law(m.law("sllm", LoadSource::kWarm), 0.02e-9, fixed);
  // Every registered mode has a composition.
  for (const std::string& mode : loader_mode_names()) EXPECT_NO_THROW(m.law(mode, LoadSource::kCold)) << mode;
  EXPECT_THROW(m.law("no-such-mode", LoadSource::kCold), std::invalid_argument);
}

TEST(LoaderModel, TensorsLargerThanTheAllocatorReusesPayFreshPages) {
  LoaderModel m = hand_model();
  m.loader.large_tensor_fraction = 0.6;
  // Warm: 0.6 x fresh 1 + page cache 0.25, then pageable 0.1 and the per-tensor cost.
  expect_law(m.law("by-tensor", LoadSource::kWarm), 0.6e-9 + 0.25e-9 + 0.1e-9 + 1e-5 / (16 * kMiB), 1e-3 + 1e-6);
  // Cold: max(0.85 CPU, 1 device) + 0.1: the device still bounds.
  expect_law(m.law("by-tensor", LoadSource::kCold), 1e-9 + 0.1e-9 + 1e-5 / (16 * kMiB), 1e-3 + 1e-6);
}

TEST(LoaderModel, MemoryBackedStorageAddsTheReadersCopyToTheirFaults) {
  LoaderModel m = hand_model();
  m.storage.memory_backed = true;  // tmpfs: the O_DIRECT "device" is the reading threads' own copy
  expect_law(m.law("threads", LoadSource::kCold), 0.25e-9 + 0.5e-9 + 0.1e-9, 1e-3 + 1e-6);
  expect_law(m.law("bulk", LoadSource::kCold), 1.25e-9 + 0.1e-9, 1e-3 + 1e-6);  // never misses the page cache
}

TEST(LoaderModel, ProfileRoundTripAndLawsFromTheModel) {
  Profile p;
  p.loader_model = hand_model();
  p.loader_model->storage.name = "nvme \"x\"";
  p.loader_model->storage.latency = 1.0 / 3.0 * 1e-4;
  p.loader_model->storage.cv = 0.07;
  p.loader_model->host.read_ahead_depth = 1.2171570482075333;
  p.loader["torch"] = {LoadLaw{1.1e9, 0, {}}, std::nullopt};  // measured laws stay, the model decides
  const Profile back = parse_profile(profile_to_yaml(p), "x.yaml");
  EXPECT_EQ(back, p);
  const auto torch = back.loader_laws("torch");
  ASSERT_TRUE(torch && torch->ssd && torch->dram);
  EXPECT_EQ(*torch->ssd, p.loader_model->law("torch", LoadSource::kCold));
  EXPECT_EQ(*torch->dram, p.loader_model->law("torch", LoadSource::kWarm));
  // A profile with measured laws only keeps them (and has none for other modes).
  Profile measured;
  measured.loader["torch"] = {LoadLaw{1.1e9, 0, {}}, std::nullopt};
  EXPECT_EQ(measured.loader_laws("torch")->ssd->bandwidth, 1.1e9);
  EXPECT_FALSE(measured.loader_laws("sllm"));
}

TEST(LoaderModel, HostFromAnotherProfileWithOverrides) {
  const fs::path dir = fs::temp_directory_path() / ("sllm-loader-model-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  Profile host;
  host.loader_model = hand_model();
  write_profile(host, (dir / "host.yaml").string());
  {
    std::ofstream out(dir / "testbed.yaml");
    out << "profile_version: 1\nloader_model:\n  host_from: host.yaml\n  host: {h2d_pinned: \"25 GB/s\"}\n"
           "  storage: {name: raid, bandwidth: \"13 GB/s\", latency_seconds: 82e-6}\n";
  }
  const Profile t = read_profile((dir / "testbed.yaml").string());
  ASSERT_TRUE(t.loader_model);
  HostModel expected = host.loader_model->host;
  expected.h2d_pinned = 25e9;
  EXPECT_EQ(t.loader_model->host, expected);
  EXPECT_EQ(t.loader_model->storage.bandwidth, 13e9);
  // A host without one of the needed components is an InputError naming it.
  {
    std::ofstream out(dir / "bad.yaml");
    out << "profile_version: 1\nloader_model:\n  storage: {bandwidth: \"1 GB/s\"}\n";
  }
  try {
    read_profile((dir / "bad.yaml").string());
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("fresh_pages"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(LoaderModel, MultiGpuLoadsShareTheHostLimit) {
  Profile p;
  p.loader_model = hand_model();  // h2d_shared 60 GB/s, pinned 50 GB/s per GPU
  ClusterSpec c;
  c.remote_store_bandwidth = 1e9;
  c.profile = std::make_shared<const Profile>(p);
  ServerGroupSpec g;
  g.gpus = 4;
  g.gpu = GpuSpec{};
  g.gpu.memory = 80ull << 30;
  g.gpu.hbm_bandwidth = 3e12;
  g.gpu.fp16_flops = 1e15;
  g.dram_capacity = 1ull << 40;
  g.ssd_capacity = 1ull << 40;
  g.nic_bandwidth = 1e9;
  c.groups.push_back(g);
  DeploymentSpec d;
  d.model = "opt-6.7b";
  const Scenario s = Scenario::from_parts("test", c, {d});
  const ServerGroupSpec& got = s.cluster.groups[0];
  EXPECT_EQ(got.pcie_bandwidth, p.loader_model->law("sllm", LoadSource::kWarm).bandwidth);
  EXPECT_EQ(got.dram_bandwidth, 60e9);  // not 4 x 50 GB/s
  EXPECT_EQ(got.ssd_read_bandwidth, p.loader_model->law("sllm", LoadSource::kCold).bandwidth);
}

TEST(LoaderModelFit, StorageFitRecoversAKnownDevice) {
  StorageModel truth;
  truth.latency = 1e-4;            // on the fit's grids
  truth.request_bandwidth = 1e9;
  truth.bandwidth = 3e9;
  truth.thread_bandwidth = 1e9;
  calibrate::Probes probes;
  for (int kib : {256, 1024, 4096, 32768}) {
    for (auto [t, q] : {std::pair{1, 1}, {1, 4}, {1, 32}, {4, 1}, {4, 8}, {16, 4}}) {
      probes["dev_direct_r" + std::to_string(kib) + "KiB_t" + std::to_string(t) + "_q" + std::to_string(q)] =
          truth.throughput(kib * 1024.0, t * q, t);
    }
  }
  for (int i = 0; i < 4; ++i) probes["dev_repeat" + std::to_string(i)] = i % 2 ? 2e9 : 1e9;  // times 1 and 0.5 ns/B
  probes["dev_buffered_cold"] = 0.9e9;
  probes["dev_mmap_cold"] = 0.8e9;
  probes["dev_memory_backed"] = 0;
  const StorageModel fit = calibrate::fit_storage_model(probes, "dev");
  for (int kib : {256, 1024, 4096, 32768}) {
    for (auto [t, q] : {std::pair{1, 1}, {1, 4}, {1, 32}, {4, 1}, {4, 8}, {16, 4}}) {
      EXPECT_NEAR(fit.throughput(kib * 1024.0, t * q, t), truth.throughput(kib * 1024.0, t * q, t), 0.01 * truth.throughput(kib * 1024.0, t * q, t))
          << kib << " KiB, " << t << " x " << q;
    }
  }
  // cv of the read times {1, 0.5, 1, 0.5}: sample standard deviation / mean = sqrt(1/12) / 0.75.
  EXPECT_NEAR(fit.cv, std::sqrt(1.0 / 12.0) / 0.75, 1e-12);
  EXPECT_EQ(fit.buffered_bandwidth, 0.9e9);
  EXPECT_FALSE(fit.memory_backed);
}

TEST(LoaderModelFit, HostComponentsFromProbes) {
  calibrate::Probes p{{"memcpy_threads1", 8e9}, {"memcpy_threads16", 30e9}, {"fresh_copy_threads1", 1.6e9},
                      {"page_cache_read_threads1", 4e9}, {"mmap_read_threads1", 5e9}, {"h2d_pinned_gpu0", 55e9},
                      {"h2d_pageable_gpu0", 7e9}, {"per_file_seconds", 2e-6}, {"per_tensor_seconds", 7e-6},
                      {"per_copy_seconds", 7e-6}, {"device_alloc_seconds_256MiB", 1e-3}, {"device_alloc_seconds_2048MiB", 8e-3}};
  const HostModel h = calibrate::fit_host_model(p);
  EXPECT_NEAR(1.0 / h.fresh_pages, 1.0 / 1.6e9 - 1.0 / 8e9, 1e-21);  // the first touch alone
  EXPECT_EQ(h.memcpy_all, 30e9);
  EXPECT_EQ(h.h2d_shared, 60e9);  // one GPU: the memory's read bandwidth, 2 x the best memcpy
  EXPECT_NEAR(h.device_alloc_per_byte, 7e-3 / (1792 * kMiB), 1e-24);
  EXPECT_NEAR(h.device_alloc, 1e-3 - 256 * kMiB * 7e-3 / (1792 * kMiB), 1e-15);
}

}  // namespace
}  // namespace sllm
