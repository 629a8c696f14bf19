// The loader on fast storage (docs/loader.md, "Parallelism and checksums"): the I/O threads chosen from
// the host and the storage, and chunk checksums checked request by request as the bytes land, which must
// still catch every damaged byte and never let one reach the destination or the DRAM cache.
#include <gtest/gtest.h>
#include <sys/statfs.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "ckpt_test_fixtures.h"
#include "sllm/core/error.h"
#include "sllm/models/checkpoint.h"
#include "sllm/models/loader.h"

namespace {

using namespace sllm;
using namespace sllm::models;
using sllm::test::FixtureTensor;
using sllm::test::TempDir;

StorageInfo medium(StorageMedium m, int hw_queues = 0) { return {m, "", hw_queues}; }

TEST(ReadThreads, MemoryStorageUsesEveryCpu) {
  EXPECT_EQ(choose_read_threads(medium(StorageMedium::kMemory), 16), 16);
  EXPECT_EQ(choose_read_threads(medium(StorageMedium::kMemory), 3), 3);
  EXPECT_EQ(choose_read_threads(medium(StorageMedium::kMemory), 0), 1);  // never no reader
}

TEST(ReadThreads, SolidStateFollowsTheDeviceQueuesWithinFourAndTheCpus) {
  EXPECT_EQ(choose_read_threads(medium(StorageMedium::kSolidState, 1), 16), 4);    // virtio, one queue
  EXPECT_EQ(choose_read_threads(medium(StorageMedium::kSolidState, 8), 16), 8);
  EXPECT_EQ(choose_read_threads(medium(StorageMedium::kSolidState, 64), 16), 16);  // NVMe: a queue per CPU or more
  EXPECT_EQ(choose_read_threads(medium(StorageMedium::kSolidState, 64), 2), 2);
  EXPECT_EQ(choose_read_threads(medium(StorageMedium::kSolidState, 0), 16), 4);    // queues unknown (md without mq)
}

TEST(ReadThreads, RotationalAndUnknown) {
  EXPECT_EQ(choose_read_threads(medium(StorageMedium::kRotational, 4), 64), 1);
  EXPECT_EQ(choose_read_threads(medium(StorageMedium::kUnknown), 64), 4);
  EXPECT_EQ(choose_read_threads(medium(StorageMedium::kUnknown), 2), 2);
}

// The file system type of `path`, from /proc/mounts (the longest mount point that prefixes it): an
// independent reading of what probe_storage classifies.
std::string mount_type(const std::string& path) {
  std::ifstream mounts("/proc/mounts");
  std::string line, best_dir, best_type;
  while (std::getline(mounts, line)) {
    std::istringstream in(line);
    std::string dev, dir, type;
    in >> dev >> dir >> type;
    const bool prefix = path == dir || (path.rfind(dir, 0) == 0 && (dir == "/" || path[dir.size()] == '/'));
    if (prefix && dir.size() >= best_dir.size()) {
      best_dir = dir;
      best_type = type;
    }
  }
  return best_type;
}

TEST(ReadThreads, ProbeClassifiesTmpfsAsMemoryAndAnonymousFileSystemsAsUnknown) {
  if (std::filesystem::is_directory("/dev/shm") && mount_type("/dev/shm") == "tmpfs") {
    const StorageInfo shm = probe_storage("/dev/shm");
    EXPECT_EQ(shm.medium, StorageMedium::kMemory);
    EXPECT_EQ(shm.device, "tmpfs");
  }
  // procfs has no block device behind it.
  EXPECT_EQ(probe_storage("/proc/self/status").medium, StorageMedium::kUnknown);
  EXPECT_EQ(probe_storage("/no/such/file").medium, StorageMedium::kUnknown);
}

TEST(ReadThreads, IoBackendIsBlockingReadsFromMemoryAndIoUringElsewhere) {
  EXPECT_EQ(choose_io_backend(medium(StorageMedium::kMemory)), IoBackend::kThreads);
  for (StorageMedium m : {StorageMedium::kSolidState, StorageMedium::kRotational, StorageMedium::kUnknown}) {
    EXPECT_EQ(choose_io_backend(medium(m, 8)), IoBackend::kUring) << to_string(m);
  }
  EXPECT_EQ(parse_io_backend("auto", "--io"), IoBackend::kAuto);
  EXPECT_THROW(parse_io_backend("fast", "--io"), InputError);
}

TEST(ReadThreads, CpusRespectTheAffinityMask) {
  const int cpus = usable_cpus();
  EXPECT_GE(cpus, 1);
  EXPECT_LE(cpus, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

// A checkpoint of a few tensors spanning several 4 KiB checksum chunks.
struct Fixture {
  explicit Fixture(const std::string& base = std::filesystem::temp_directory_path().string(), std::uint64_t checksum_chunk = 4096)
      : tmp(base) {
    for (int i = 0; i < 6; ++i) {
      FixtureTensor t = sllm::test::fixture_tensor("t" + std::to_string(i), "U8", 1, {5 * 4096 + 123 * i}, 77 + static_cast<std::uint64_t>(i));
      expected[t.name] = t;
      tensors.push_back(std::move(t));
    }
    sllm::test::write_fixture_safetensors(tmp / "a.safetensors", tensors);
    dir = tmp / "ck";
    convert_safetensors({tmp / "a.safetensors"}, dir, 1, checksum_chunk);
  }
  TempDir tmp;
  std::string dir;
  std::vector<FixtureTensor> tensors;
  std::map<std::string, FixtureTensor> expected;
};

TEST(ReadThreads, AutoThreadsAreChosenPerLoadAndExplicitOnesKept) {
  Fixture f;
  const Checkpoint ck = open_checkpoint(f.dir);
  LoaderOptions o;
  o.chunk_bytes = 4 * 4096;
  o.pool_bytes = 64 * 4096;
  EXPECT_EQ(o.threads, 0);  // the default is to choose
  EXPECT_EQ(o.io, IoBackend::kAuto);
  const StorageInfo storage = probe_storage(ck.partition_path(0));
  const int chosen = choose_read_threads(storage, usable_cpus());
  EXPECT_EQ(read_threads_for(ck, o), chosen);
  EXPECT_EQ(io_backend_for(ck, o), choose_io_backend(storage));
  Loader loader(o);
  LoadStats st;
  auto m = loader.load(ck, LoadOptions{}, &st);
  EXPECT_EQ(st.threads, chosen);
  EXPECT_NE(st.io, IoBackend::kAuto);  // resolved: the choice, or threads where io_uring is refused
  o.threads = 3;
  o.io = IoBackend::kUring;
  EXPECT_EQ(read_threads_for(ck, o), 3);
  EXPECT_EQ(io_backend_for(ck, o), IoBackend::kUring);
  o.threads = -1;
  EXPECT_THROW(Loader{o}, InputError);
}

// A damaged byte anywhere in a chunk (first request, middle, last) is caught whether checksums are checked
// per request (8 and 16 KiB requests: multiples of the 8 KiB checksum chunk) or per chunk (4 KiB requests),
// with either I/O backend; the
// error names the tensor and the checksum chunk, and the damaged chunk is not cached: once repaired, the
// next load through the same Loader reads it again and delivers the right bytes.
TEST(FastVerify, DamagedByteIsCaughtPerRequestAndPerChunkAndNeverCached) {
  constexpr std::uint64_t kChecksumChunk = 8192;
  Fixture f(std::filesystem::temp_directory_path().string(), kChecksumChunk);
  const Checkpoint ck = open_checkpoint(f.dir);
  ASSERT_EQ(ck.index.checksum_chunk, kChecksumChunk);
  const CheckpointTensor* t3 = nullptr;
  for (const auto& t : ck.index.tensors) {
    if (t.name == "t3") t3 = &t;
  }
  ASSERT_NE(t3, nullptr);
  for (std::uint64_t inside : {std::uint64_t{5}, std::uint64_t{2 * 4096 + 17}, t3->bytes - 1}) {
    const std::uint64_t at = t3->offset + inside;
    const std::uint64_t checksum_chunk = at / kChecksumChunk;
    for (IoBackend io : {IoBackend::kUring, IoBackend::kThreads}) {
      for (std::uint64_t request : {std::uint64_t{4096}, std::uint64_t{8192}, std::uint64_t{16384}}) {
        for (int threads : {1, 4}) {
          const std::string label = "byte " + std::to_string(at) + " " + std::string(to_string(io)) + " request " +
                                    std::to_string(request) + " threads " + std::to_string(threads);
          LoaderOptions o;
          o.chunk_bytes = 6 * 4096;
          o.pool_bytes = 64 * o.chunk_bytes;  // room for the whole model: a cached bad chunk would be served
          o.request_bytes = request;
          o.threads = threads;
          o.queue_depth = 3;
          o.io = io;
          Loader loader(o);
          sllm::test::flip_byte(ck.partition_path(0), at);
          try {
            loader.load(ck, LoadOptions{}, nullptr);
            ADD_FAILURE() << label << ": damaged checkpoint loaded";
          } catch (const InputError& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("'t3'"), std::string::npos) << label << ": " << what;
            EXPECT_NE(what.find("checksum chunk " + std::to_string(checksum_chunk)), std::string::npos) << label << ": " << what;
          }
          sllm::test::flip_byte(ck.partition_path(0), at);  // repaired
          LoadStats st;
          auto m = loader.load(ck, LoadOptions{}, &st);
          for (const auto& [name, t] : f.expected) {
            const TensorView* v = m->find(name);
            ASSERT_NE(v, nullptr) << label;
            ASSERT_EQ(std::memcmp(v->data, t.bytes.data(), t.bytes.size()), 0) << label << ": " << name;
          }
        }
      }
    }
  }
}

// Checksums off: the same damaged byte is loaded as it is (what --no-verify promises), so the tests above
// fail for the checksums' sake, not for another reason.
TEST(FastVerify, WithoutVerificationTheDamagedByteArrives) {
  Fixture f;
  const Checkpoint ck = open_checkpoint(f.dir);
  const CheckpointTensor& t0 = ck.index.tensors.front();
  sllm::test::flip_byte(ck.partition_path(0), t0.offset + 3);
  LoaderOptions o;
  o.chunk_bytes = 4 * 4096;
  o.pool_bytes = 64 * 4096;
  o.request_bytes = 4096;
  Loader loader(o);
  LoadOptions lo;
  lo.verify = false;
  auto m = loader.load(ck, lo, nullptr);
  const TensorView* v = m->find(t0.name);
  ASSERT_NE(v, nullptr);
  const FixtureTensor& want = f.expected.at(t0.name);
  EXPECT_NE(static_cast<const unsigned char*>(v->data)[3], want.bytes[3]);
  EXPECT_EQ(std::memcmp(static_cast<const unsigned char*>(v->data) + 4, want.bytes.data() + 4, want.bytes.size() - 4), 0);
}

// From tmpfs, where the chosen parallelism is every CPU: a load with the default options is right.
TEST(FastVerify, DefaultOptionsFromTmpfs) {
  if (!std::filesystem::is_directory("/dev/shm") || mount_type("/dev/shm") != "tmpfs") GTEST_SKIP() << "no tmpfs at /dev/shm";
  Fixture f("/dev/shm");
  const Checkpoint ck = open_checkpoint(f.dir);
  LoaderOptions o;
  o.chunk_bytes = 4 * 4096;
  o.pool_bytes = 64 * 4096;
  Loader loader(o);
  LoadStats st;
  auto m = loader.load(ck, LoadOptions{}, &st);
  EXPECT_EQ(st.threads, usable_cpus());
  EXPECT_EQ(st.io, IoBackend::kThreads);
  for (const auto& [name, t] : f.expected) {
    const TensorView* v = m->find(name);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(std::memcmp(v->data, t.bytes.data(), t.bytes.size()), 0) << name;
  }
}

}  // namespace
