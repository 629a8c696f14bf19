// Device backends by name, and CUDA loaded only when a command needs a GPU: a simulation (in this test
// executable and as `sllmsim run`) maps no CUDA library, while asking for a cuda device does load the
// backend (the positive control that shows the checks can see a CUDA library) and, without a GPU, fails
// with a clear error rather than a crash.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "cli_test_util.h"
#include "sim_test_util.h"
#include "sllm/models/device_backend.h"
#include "sllm/sim/scenario.h"
#include "sllm/sim/simulator.h"

namespace {

using sllm::testing::run_sllmsim;
namespace fs = std::filesystem;

const std::string kDefault = std::string(SLLM_SOURCE_DIR) + "/configs/default.yaml";

// The CUDA libraries the cuda backend brings: cudart (when linked dynamically), cuBLAS(Lt), the driver.
bool names_cuda_library(const std::string& text) {
  for (const char* lib : {"libcudart", "libcublas", "libcuda.so", "libsllm_cuda"}) {
    if (text.find(lib) != std::string::npos) return true;
  }
  return false;
}

// A static build (-DSLLM_STATIC=ON) links the cuda backend in by design: it is registered from the start.
bool cuda_linked_in() {
  for (const std::string& name : sllm::models::device_backend_names()) {
    if (name == "cuda") return true;
  }
  return false;
}

// The libraries a `sllmsim ARGS` process loaded, as the dynamic linker reports them (LD_DEBUG=libs).
std::string libraries_loaded_by(const std::string& args, int* status) {
  static int calls = 0;
  const std::string dir = sllm::testing::temp_dir("ld_debug_" + std::to_string(++calls));
  fs::create_directories(dir);
  const auto r = run_sllmsim(args, "LD_DEBUG=libs LD_DEBUG_OUTPUT=" + dir + "/ld");
  *status = r.status;
  std::string log;
  for (const auto& entry : fs::directory_iterator(dir)) log += sllm::testing::read_text(entry.path().string());
  EXPECT_NE(log.find("calling init"), std::string::npos) << "no LD_DEBUG output: the check would see nothing";
  return log;
}

TEST(DeviceBackends, CpuIsLinkedInAndUnknownBackendsSayWhy) {
  const sllm::models::DeviceBackend& cpu = sllm::models::device_backend("cpu");
  EXPECT_EQ(cpu.name(), "cpu");
  EXPECT_TRUE(cpu.host_memory());
  EXPECT_EQ(cpu.device_count(), 1);
  try {
    sllm::models::device_backend("warp-drive");
    ADD_FAILURE() << "an unknown backend was found";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("device backend 'warp-drive' is not available"), std::string::npos) << e.what();
  }
  EXPECT_EQ(sllm::models::device_count("warp-drive"), 0);
}

TEST(DeviceBackends, ASimulationInThisProcessMapsNoCudaLibrary) {
  if (cuda_linked_in()) GTEST_SKIP() << "a static build links CUDA in";
  const sllm::Scenario sc = sllm::Scenario::load(kDefault, {"workload.requests=300"});
  sllm::Simulator sim(sc);
  sllm::RunOptions options;
  options.output_dir = sllm::testing::temp_dir("no_cuda_run");
  sim.run(options);
  const std::string maps = sllm::testing::read_text("/proc/self/maps");
  ASSERT_FALSE(maps.empty());
  EXPECT_FALSE(names_cuda_library(maps)) << maps;
}

TEST(DeviceBackends, SllmsimRunLoadsNoCudaLibrary) {
  if (cuda_linked_in()) GTEST_SKIP() << "a static build links CUDA in";
  int status = -1;
  const std::string out = sllm::testing::temp_dir("no_cuda_cli");
  const std::string log = libraries_loaded_by("run -q -c " + kDefault + " -o " + out + " --set workload.requests=300", &status);
  EXPECT_EQ(status, 0);
  EXPECT_FALSE(names_cuda_library(log)) << log;
}

#if defined(SLLM_HAVE_CUDA)
TEST(DeviceBackends, ACudaDeviceLoadsTheBackendAndWithoutAGpuFailsClearly) {
  int status = -1;
  const std::string log = libraries_loaded_by("engine generate --model tiny-opt --device cuda:0 --new-tokens 2", &status);
  EXPECT_TRUE(names_cuda_library(log)) << "asking for cuda:0 loaded no CUDA library:\n" << log;
  if (sllm::models::device_count("cuda") > 0) GTEST_SKIP() << "a GPU is present: the no-GPU error cannot be seen";
  const auto r = run_sllmsim("engine generate --model tiny-opt --device cuda:0 --new-tokens 2");
  EXPECT_EQ(r.status, 1) << r.output;  // an error exit, not a signal (status -1)
  EXPECT_NE(r.output.find("cuda:0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("no CUDA device"), std::string::npos) << r.output;
}
#else
TEST(DeviceBackends, ACudaDeviceInABuildWithoutCudaFailsClearly) {
  const auto r = run_sllmsim("engine generate --model tiny-opt --device cuda:0 --new-tokens 2");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("built without CUDA"), std::string::npos) << r.output;
}
#endif

}  // namespace
