// The loader onto a real GPU: every mode puts the source bytes at base + offset on the device (checked
// by fingerprints computed on the device), the pipeline survives many small chunks on several streams,
// and a repeated load comes from the pinned pool. Skips without a GPU (CI).
#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "ckpt_test_fixtures.h"
#include "sllm/models/checkpoint.h"
#include "sllm/models/device_backend.h"
#include "sllm/models/loader.h"
#include "sllm/core/error.h"

namespace {

using namespace sllm;
using namespace sllm::models;
using sllm::test::FixtureTensor;
using sllm::test::TempDir;

struct GpuFixture : ::testing::Test {
  void SetUp() override {
    if (device_count("cuda") == 0) GTEST_SKIP() << "no CUDA GPU visible";
    std::vector<FixtureTensor> tensors;
    const std::uint64_t sizes[] = {0, 1, 4095, 4097, 65536, 1 << 20, (3 << 20) + 5, 17};
    for (int i = 0; i < 24; ++i) {
      FixtureTensor t = sllm::test::fixture_tensor("t" + std::to_string(i), "U8", 1,
                                                   {static_cast<std::int64_t>(sizes[static_cast<std::size_t>(i) % std::size(sizes)] + i)}, 77 + i);
      expected[t.name] = t;
      tensors.push_back(std::move(t));
    }
    sllm::test::write_fixture_safetensors(tmp / "m.safetensors", tensors);
    convert_safetensors({tmp / "m.safetensors"}, tmp / "ck", 1, 64 << 10);
  }
  void expect_on_device(const LoadedModel& m, const std::string& label) {
    for (const auto& [name, t] : expected) {
      const TensorView* v = m.find(name);
      ASSERT_NE(v, nullptr) << name;
      EXPECT_EQ(v->device.backend, "cuda") << name;
      EXPECT_EQ(fingerprint(*v), fingerprint(t.bytes.data(), t.bytes.size())) << label << ": " << name;
    }
  }
  TempDir tmp;
  std::map<std::string, FixtureTensor> expected;
};

TEST_F(GpuFixture, EveryModeLoadsTheSourceBytesOntoTheGpu) {
  const Checkpoint ck = open_checkpoint(tmp / "ck");
  for (const char* mode : {"by-tensor", "bulk", "direct", "threads", "pinned", "sllm", "safetensors", "torch"}) {
    LoaderOptions o;
    o.chunk_bytes = 256 << 10;
    o.pool_bytes = 64ull << 20;
    o.pool_backend = "cuda";
    o.threads = 4;
    Loader loader(o);
    LoadOptions lo;
    lo.device = Device{"cuda", 0};
    lo.mode = mode;
    auto m = loader.load(ck, lo, nullptr);
    expect_on_device(*m, mode);
  }
}

TEST_F(GpuFixture, SmallChunksManyStreamsSmallPoolAndWarmReload) {
  const Checkpoint ck = open_checkpoint(tmp / "ck");
  for (IoBackend io : {IoBackend::kUring, IoBackend::kThreads}) {
    LoaderOptions o;
    o.chunk_bytes = 64 << 10;
    o.pool_bytes = 8 * o.chunk_bytes;
    o.pool_backend = "cuda";
    o.threads = 8;
    o.copy_streams = 6;
    o.io = io;
    Loader loader(o);
    LoadOptions lo;
    lo.device = Device{"cuda", 0};
    LoadStats st;
    expect_on_device(*loader.load(ck, lo, &st), "small pool");
    EXPECT_EQ(loader.load(ck, lo, &st)->tensors().size(), expected.size());
    EXPECT_EQ(st.chunks_from_dram, 8u);
  }
  LoaderOptions big;
  big.chunk_bytes = 1 << 20;
  big.pool_bytes = 64ull << 20;
  big.pool_backend = "cuda";
  Loader loader(big);
  LoadOptions lo;
  lo.device = Device{"cuda", 0};
  LoadStats st;
  loader.load(ck, lo, &st);
  auto m = loader.load(ck, lo, &st);
  EXPECT_EQ(st.chunks_from_dram, st.chunks);
  expect_on_device(*m, "warm");
}

TEST_F(GpuFixture, MissingGpuIsNamed) {
  const Checkpoint ck = open_checkpoint(tmp / "ck");
  LoaderOptions o;
  o.chunk_bytes = 1 << 20;
  Loader loader(o);
  LoadOptions lo;
  lo.device = Device{"cuda", device_count("cuda")};
  try {
    loader.load(ck, lo, nullptr);
    ADD_FAILURE() << "loaded onto a GPU that does not exist";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:" + std::to_string(device_count("cuda"))), std::string::npos) << e.what();
  }
}

}  // namespace
