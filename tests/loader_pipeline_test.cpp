// The pipelined (sllm mode) loader under stress: many small chunks, 1..16 I/O threads, both I/O backends, a DRAM
// pool smaller than the model (eviction, partial residency) and failures in the middle of the pipeline.
// Also run under ThreadSanitizer (-DSLLM_TSAN=ON -DSLLM_CUDA=OFF).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
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

constexpr std::uint64_t kChunk = 4096;

// ~60 tensors of awkward sizes (0, 1, just under/over a chunk, several chunks) in two shards.
struct StressCheckpoint {
  TempDir tmp;
  std::string dir;
  std::map<std::string, FixtureTensor> expected;
};

std::unique_ptr<StressCheckpoint> make_stress_checkpoint(int partitions) {
  auto s = std::make_unique<StressCheckpoint>();
  const std::uint64_t sizes[] = {0, 1, 7, 4095, 4096, 4097, 8191, 12288, 20000, 3, 65536, 100, 40001};
  std::vector<FixtureTensor> shards[2];
  for (int i = 0; i < 60; ++i) {
    const std::uint64_t n = sizes[static_cast<std::size_t>(i) % std::size(sizes)] + static_cast<std::uint64_t>(i % 3);
    FixtureTensor t = sllm::test::fixture_tensor("layers." + std::to_string(i / 4) + ".t" + std::to_string(i), "U8", 1,
                                                 {static_cast<std::int64_t>(n)}, 1000 + static_cast<std::uint64_t>(i));
    s->expected[t.name] = t;
    shards[i % 2].push_back(std::move(t));
  }
  sllm::test::write_fixture_safetensors(s->tmp / "a.safetensors", shards[0]);
  sllm::test::write_fixture_safetensors(s->tmp / "b.safetensors", shards[1]);
  s->dir = s->tmp / "ck";
  convert_safetensors({s->tmp / "a.safetensors", s->tmp / "b.safetensors"}, s->dir, partitions, kChunk);
  return s;
}

void expect_bytes(const LoadedModel& m, const std::map<std::string, FixtureTensor>& expected, const std::string& label) {
  for (const auto& [name, t] : expected) {
    const TensorView* v = m.find(name);
    ASSERT_NE(v, nullptr) << label << " " << name;
    ASSERT_EQ(v->bytes, t.bytes.size()) << label << " " << name;
    if (!t.bytes.empty()) {
      ASSERT_EQ(std::memcmp(v->data, t.bytes.data(), t.bytes.size()), 0) << label << ": bytes of " << name;
    }
  }
}

TEST(LoaderPipeline, ManySmallChunksOneToSixteenThreadsBothBackends) {
  auto s = make_stress_checkpoint(2);
  const Checkpoint ck = open_checkpoint(s->dir);
  const std::uint64_t chunks = ck.index.total_bytes() / kChunk;
  ASSERT_GT(chunks, 100u);
  for (IoBackend io : {IoBackend::kUring, IoBackend::kThreads}) {
    for (int threads : {1, 2, 3, 5, 8, 16}) {
      const std::string label = std::string(to_string(io)) + "/" + std::to_string(threads);
      LoaderOptions o;
      o.chunk_bytes = kChunk;
      o.pool_bytes = 16 * kChunk;  // far smaller than the model: slots are reused all the time
      o.threads = threads;
      o.queue_depth = 3;
      o.copy_streams = 3;
      o.io = io;
      Loader loader(o);
      for (int round = 0; round < 2; ++round) {
        LoadStats st;
        auto m = loader.load(ck, LoadOptions{}, &st);
        expect_bytes(*m, s->expected, label);
        EXPECT_EQ(st.chunks, chunks) << label;
        // After any load every slot holds a published chunk of this model, so the next load finds
        // exactly as many resident chunks as the pool has slots.
        EXPECT_EQ(st.chunks_from_dram, round == 0 ? 0u : 16u) << label;
        EXPECT_EQ(loader.resident_chunks(), 16u) << label;
      }
    }
  }
}

TEST(LoaderPipeline, ChunkLargerThanChecksumChunkAndOddPoolSizes) {
  auto s = make_stress_checkpoint(1);
  const Checkpoint ck = open_checkpoint(s->dir);
  for (std::uint64_t chunk : {kChunk, 3 * kChunk, 16 * kChunk}) {
    for (std::uint64_t pool_chunks : {1, 2, 7}) {
      LoaderOptions o;
      o.chunk_bytes = chunk;
      o.pool_bytes = pool_chunks * chunk;
      o.threads = 4;
      o.queue_depth = 2;
      Loader loader(o);
      auto m = loader.load(ck, LoadOptions{}, nullptr);
      expect_bytes(*m, s->expected, "chunk " + std::to_string(chunk) + " pool " + std::to_string(pool_chunks));
    }
  }
}

// A chunk is read as several requests of at most request_bytes: sizes that divide the chunk, that do not
// (a short last request), and that exceed it must all deliver the same bytes, in every staged mode too.
TEST(LoaderPipeline, ChunksSplitIntoRequestsOfAnySize) {
  auto s = make_stress_checkpoint(2);
  const Checkpoint ck = open_checkpoint(s->dir);
  for (IoBackend io : {IoBackend::kUring, IoBackend::kThreads}) {
    for (std::uint64_t request : {kChunk, 2 * kChunk, 5 * kChunk, 64 * kChunk}) {
      for (const char* mode : {"sllm", "bulk", "direct", "threads", "pinned"}) {
        const std::string label = std::string(to_string(io)) + " request " + std::to_string(request) + " " + mode;
        LoaderOptions o;
        o.chunk_bytes = 6 * kChunk;
        o.pool_bytes = 5 * o.chunk_bytes;
        o.request_bytes = request;
        o.threads = 3;
        o.queue_depth = 4;  // fewer requests in flight than a chunk has: a chunk spans several refills
        o.io = io;
        Loader loader(o);
        LoadOptions lo;
        lo.mode = mode;
        auto m = loader.load(ck, lo, nullptr);
        expect_bytes(*m, s->expected, label);
      }
    }
  }
  LoaderOptions bad;
  bad.request_bytes = 1000;
  EXPECT_THROW(Loader{bad}, InputError);
}

TEST(LoaderPipeline, RepeatedLoadComesFromDramWithoutTouchingTheDisk) {
  auto s = make_stress_checkpoint(1);
  const Checkpoint ck = open_checkpoint(s->dir);
  LoaderOptions o;
  o.chunk_bytes = 2 * kChunk;
  o.pool_bytes = ck.index.total_bytes() + 2 * kChunk;
  o.threads = 4;
  Loader loader(o);
  LoadStats st;
  loader.load(ck, LoadOptions{}, &st);
  EXPECT_EQ(st.chunks_from_dram, 0u);
  // Corrupt the file: a load served from the pool never sees it...
  const CheckpointTensor& victim = ck.index.tensors[ck.index.tensors.size() / 2];
  sllm::test::flip_byte(ck.partition_path(0), victim.offset);
  auto m = loader.load(ck, LoadOptions{}, &st);
  EXPECT_EQ(st.chunks_from_dram, st.chunks);
  expect_bytes(*m, s->expected, "warm");
  // ...and once the pool is dropped the disk is read again and the damage is caught, by name.
  loader.drop_cache();
  try {
    loader.load(ck, LoadOptions{}, nullptr);
    ADD_FAILURE() << "corrupted chunk loaded";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'" + victim.name + "'"), std::string::npos) << e.what();
  }
  // The failed load cached every good chunk it read but not the bad one; the pool stays usable.
  EXPECT_LT(loader.resident_chunks(), st.chunks);
  EXPECT_THROW(loader.load(ck, LoadOptions{}, nullptr), InputError);
}

TEST(LoaderPipeline, FailureUnderLoadNeverDeadlocksOrReturnsAModel) {
  auto s = make_stress_checkpoint(2);
  const Checkpoint ck = open_checkpoint(s->dir);
  sllm::test::flip_byte(ck.partition_path(1), ck.index.partitions[1].bytes / 2);
  for (IoBackend io : {IoBackend::kUring, IoBackend::kThreads}) {
    for (int threads : {1, 4, 16}) {
      LoaderOptions o;
      o.chunk_bytes = 3 * kChunk;
      o.request_bytes = kChunk;  // a chunk is three requests: the failure lands with others of its chunk in flight
      o.pool_bytes = 4 * o.chunk_bytes;
      o.threads = threads;
      o.queue_depth = 4;
      o.io = io;
      Loader loader(o);
      std::unique_ptr<LoadedModel> m;
      EXPECT_THROW(m = loader.load(ck, LoadOptions{}, nullptr), InputError);
      EXPECT_EQ(m, nullptr);
      // Every slot was given back: a load that needs all of them still runs to its (same) failure.
      EXPECT_THROW(loader.load(ck, LoadOptions{}, nullptr), InputError);
    }
  }
}

TEST(LoaderPipeline, EveryModeAgreesUnderManyThreads) {
  auto s = make_stress_checkpoint(2);
  const Checkpoint ck = open_checkpoint(s->dir);
  for (const char* mode : {"by-tensor", "bulk", "direct", "threads", "pinned", "sllm", "safetensors", "torch"}) {
    LoaderOptions o;
    o.chunk_bytes = kChunk;
    o.pool_bytes = 8 * kChunk;  // pinned mode stages partitions through the pool in windows
    o.threads = 16;
    Loader loader(o);
    LoadOptions lo;
    lo.mode = mode;
    auto m = loader.load(ck, lo, nullptr);
    expect_bytes(*m, s->expected, mode);
  }
}

// The probes report bytes / their own elapsed time: that time lies inside the call, so the reported
// bandwidth is at least the bytes over the call's wall time, and finite. A truncated partition fails
// the raw probe as it fails a load, naming the file.
TEST(LoaderBaselines, RawReadAndCopyProbesAreConsistentWithTheirCallTime) {
  auto s = make_stress_checkpoint(1);
  const Checkpoint ck = open_checkpoint(s->dir);
  const double total = static_cast<double>(ck.index.total_bytes());
  LoaderOptions o;
  o.chunk_bytes = kChunk;
  o.threads = 3;
  auto lower_bound = [](double bytes, std::chrono::steady_clock::time_point t0) {
    return bytes / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  for (IoBackend io : {IoBackend::kUring, IoBackend::kThreads}) {
    o.io = io;
    const auto t0 = std::chrono::steady_clock::now();
    const double bw = measure_direct_read(ck, o);
    const double floor = lower_bound(total, t0);
    EXPECT_TRUE(std::isfinite(bw)) << to_string(io);
    EXPECT_GE(bw, floor) << to_string(io);
  }
  const std::uint64_t copy_bytes = 1 << 20;
  const auto t0 = std::chrono::steady_clock::now();
  const double copy = device_backend("cpu").copy_bandwidth(0, copy_bytes, 2);
  // Best of four copies: each took at most a quarter of the call.
  EXPECT_GE(copy, 4 * lower_bound(static_cast<double>(copy_bytes), t0));
  EXPECT_TRUE(std::isfinite(copy));

  std::filesystem::resize_file(ck.partition_path(0), ck.index.partitions[0].bytes - 4096);
  try {
    measure_direct_read(ck, o);
    ADD_FAILURE() << "the raw probe read a truncated partition";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("part-0.bin"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

}  // namespace
