// Crafted and damaged checkpoint indexes (issue 19, items 1 and 6): bounds that only hold modulo 2^64 are
// refused at open instead of read or written out of bounds, and index.json's own checksum catches every
// damaged byte. Indexes are edited here by hand and resealed with the checksum recomputed from the spec
// (ckpt_test_fixtures.h), so each crafted value reaches the bounds check it targets.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "ckpt_test_fixtures.h"
#include "cli_test_util.h"
#include "sllm/core/error.h"
#include "sllm/models/checkpoint.h"
#include "sllm/models/safetensors.h"

namespace {

using namespace sllm;
using namespace sllm::models;
using sllm::test::TempDir;

constexpr const char* kTwoTo64Minus4096 = "18446744073709547520";
constexpr const char* kTwoTo62 = "4611686018427387904";

std::vector<std::byte> bytes_of(std::uint64_t seed, std::size_t n) {
  const auto p = sllm::test::pattern(seed, n);
  std::vector<std::byte> out(n);
  std::memcpy(out.data(), p.data(), n);
  return out;
}

// A small checkpoint: "a" 8 KiB at offset 0, "b" 64 bytes at 8192, "e" empty, alias "c" -> "a";
// one partition of 12288 bytes.
std::string write_small_checkpoint(const TempDir& tmp, std::uint64_t checksum_chunk = 4096) {
  const std::string dir = tmp / "ck";
  CheckpointWriter w(dir, 1, checksum_chunk, "tiny");
  w.add("a", DType::kF16, {64, 64}, 0, bytes_of(1, 8192));
  w.add("b", DType::kF16, {32}, 0, bytes_of(2, 64));
  w.add("e", DType::kF16, {0, 4}, 0, {});
  w.add_alias("c", "a");
  w.finish();
  return dir;
}

std::string index_of(const std::string& dir) { return dir + "/index.json"; }

// Partition p's digests as index.json spells them: "\"0123...\", \"...\"".
std::string digests_json(const Checkpoint& ck, std::size_t p) {
  std::string out;
  for (const auto d : ck.index.partitions[p].chunk_xxh64) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(d));
    out += std::string(out.empty() ? "" : ", ") + "\"" + hex + "\"";
  }
  return out;
}

void expect_open_refused(const std::string& dir, const std::string& message) {
  try {
    open_checkpoint(dir);
    ADD_FAILURE() << "accepted: " << sllm::test::read_whole_file(index_of(dir));
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
  }
}

std::pair<int, std::string> run_cli(const std::string& args) {
  // A crashed sllmsim (a signal) reports -1; a hang is cut off rather than hanging the suite.
  const auto r = sllm::testing::run_sllmsim(args, "timeout 60");
  return {r.status, r.output};
}

// ---- item 1: every bound in exact arithmetic ------------------------------------------------------

TEST(CkptIndexBounds, OffsetThatWrapsPastTwoToThe64IsRefusedByOpenVerifyAndLoad) {
  TempDir tmp;
  const std::string dir = write_small_checkpoint(tmp);
  // offset + bytes = 2^64 - 4096 + 8192 = 4096 (mod 2^64) <= 12288: passes a wrapping check.
  ASSERT_TRUE(sllm::test::edit_index(index_of(dir), "\"partition\": 0, \"offset\": 0, \"bytes\": 8192",
                                     std::string("\"partition\": 0, \"offset\": ") + kTwoTo64Minus4096 + ", \"bytes\": 8192"));
  expect_open_refused(dir, "extends past the end of its partition");
  auto [rc, out] = run_cli("ckpt verify " + dir);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_EQ(out.find("ok:"), std::string::npos) << out;
  for (const char* mode : {"safetensors", "torch", "by-tensor", "sllm"}) {
    std::tie(rc, out) = run_cli("ckpt load " + dir + " --mode " + mode + " --chunk '4 KiB' --no-baselines");
    EXPECT_EQ(rc, 2) << mode << "\n" << out;
    EXPECT_NE(out.find("offset"), std::string::npos) << mode << "\n" << out;
  }
}

TEST(CkptIndexBounds, ShapeWhoseByteCountWrapsToZeroIsRefused) {
  TempDir tmp;
  const std::string dir = write_small_checkpoint(tmp);
  const std::string index = sllm::test::read_whole_file(index_of(dir));
  // 2^62 x 4 F16 elements: 2^65 bytes, which is 0 modulo 2^64, matching "bytes": 0.
  ASSERT_TRUE(sllm::test::edit_index(index_of(dir), "\"shape\": [0, 4], \"strides\": [4, 1]",
                                     std::string("\"shape\": [") + kTwoTo62 + ", 4], \"strides\": [4, 1]"));
  expect_open_refused(dir, "do not fit in 64 bits");
  auto [rc, out] = run_cli("ckpt verify " + dir);
  EXPECT_EQ(rc, 2) << out;
  // A zero leading dimension keeps the element count at 0 but the first stride, 2^62 x 4, overflows int64.
  sllm::test::write_whole_file(index_of(dir), index);
  ASSERT_TRUE(sllm::test::edit_index(index_of(dir), "\"shape\": [0, 4], \"strides\": [4, 1]",
                                     std::string("\"shape\": [0, ") + kTwoTo62 + ", 4], \"strides\": [0, 4, 1]"));
  expect_open_refused(dir, "do not fit in 64 bits");
  sllm::test::write_whole_file(index_of(dir), index);
  EXPECT_NO_THROW(open_checkpoint(dir));  // the control: the untouched index opens
}

TEST(CkptIndexBounds, PartitionSizeWhoseChunkCountWrapsIsRefused) {
  TempDir tmp;
  const std::string dir = write_small_checkpoint(tmp, 1 << 20);
  const Checkpoint ck = open_checkpoint(dir);
  ASSERT_EQ(ck.index.partitions[0].chunk_xxh64.size(), 1u);
  const std::string entry = "\"bytes\": 12288, \"chunk_xxh64\": [" + digests_json(ck, 0) + "]";
  // (2^64 - 4096 + 2^20 - 1) / 2^20 wraps to 0 chunks, so an empty digest list "matches".
  ASSERT_TRUE(sllm::test::edit_index(index_of(dir), entry, std::string("\"bytes\": ") + kTwoTo64Minus4096 + ", \"chunk_xxh64\": []"));
  expect_open_refused(dir, "partitions[0].bytes");
}

TEST(CkptIndexBounds, ChecksumChunkLargerThanReadersBufferIsRefused) {
  TempDir tmp;
  const std::string dir = write_small_checkpoint(tmp);
  const std::string digests = digests_json(open_checkpoint(dir), 0);
  // 1 TiB chunks: one digest covers the partition, and verify would allocate a 1 TiB buffer.
  ASSERT_TRUE(sllm::test::edit_index(index_of(dir), "\"chunk_bytes\": 4096", "\"chunk_bytes\": 1099511627776"));
  ASSERT_TRUE(sllm::test::edit_index(index_of(dir), "\"chunk_xxh64\": [" + digests + "]", "\"chunk_xxh64\": [\"0000000000000000\"]"));
  expect_open_refused(dir, "checksum.chunk_bytes");
  EXPECT_THROW(CheckpointWriter(tmp / "other", 1, 1ull << 31), InputError);  // writers keep the same bound
}

TEST(CkptIndexBounds, SafetensorsShapeWhoseByteCountWrapsIsRefused) {
  TempDir tmp;
  // 2^62 F64 elements: 2^65 bytes, 0 modulo 2^64, matching data_offsets [0, 0] of an empty data section.
  const std::string header = std::string("{\"a\":{\"dtype\":\"F64\",\"shape\":[") + kTwoTo62 + "],\"data_offsets\":[0,0]}}";
  sllm::test::write_raw_safetensors(tmp / "bad.safetensors", header, {}, header.size());
  try {
    SafetensorsFile f(tmp / "bad.safetensors");
    ADD_FAILURE() << "accepted " << header;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("do not fit in 64 bits"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos) << e.what();
  }
  auto [rc, out] = run_cli("ckpt convert " + (tmp / "bad.safetensors") + " -o " + (tmp / "ck"));
  EXPECT_EQ(rc, 2) << out;
  EXPECT_FALSE(std::filesystem::exists(tmp / "ck"));
}

// ---- item 6: index.json carries its own checksum ---------------------------------------------------

bool same_index(const CheckpointIndex& a, const CheckpointIndex& b) {
  auto tensor_key = [](const CheckpointTensor& t) { return std::tie(t.name, t.dtype, t.shape, t.strides, t.partition, t.offset, t.bytes); };
  auto partition_key = [](const CheckpointPartition& p) { return std::tie(p.file, p.bytes, p.chunk_xxh64); };
  if (a.version != b.version || a.model != b.model || a.checksum_chunk != b.checksum_chunk) return false;
  if (a.partitions.size() != b.partitions.size() || a.tensors.size() != b.tensors.size() || a.aliases.size() != b.aliases.size()) return false;
  for (std::size_t i = 0; i < a.partitions.size(); ++i) {
    if (partition_key(a.partitions[i]) != partition_key(b.partitions[i])) return false;
  }
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    if (tensor_key(a.tensors[i]) != tensor_key(b.tensors[i])) return false;
  }
  for (std::size_t i = 0; i < a.aliases.size(); ++i) {
    if (std::tie(a.aliases[i].name, a.aliases[i].target) != std::tie(b.aliases[i].name, b.aliases[i].target)) return false;
  }
  return true;
}

TEST(CkptIndexChecksum, EveryByteFlipIsRefusedOrLeavesTheIndexIdentical) {
  TempDir tmp;
  const std::string dir = write_small_checkpoint(tmp);
  const std::string good = sllm::test::read_whole_file(index_of(dir));
  const CheckpointIndex reference = open_checkpoint(dir).index;
  std::size_t refused = 0;
  std::size_t changed = 0;
  // Low bit (digits, letters), case/space bit, the fixtures' pattern, and all bits.
  for (const unsigned char mask : {0x01, 0x20, 0x5A, 0xFF}) {
    for (std::size_t i = 0; i < good.size(); ++i) {
      std::string text = good;
      text[i] = static_cast<char>(static_cast<unsigned char>(text[i]) ^ mask);
      sllm::test::write_whole_file(index_of(dir), text);
      try {
        const Checkpoint ck = open_checkpoint(dir);
        if (!same_index(ck.index, reference)) {
          ++changed;
          ADD_FAILURE() << "byte " << i << " ^ " << int{mask} << " ('" << good[i] << "') accepted with a different index";
        }
      } catch (const InputError&) {
        ++refused;
      }
    }
  }
  EXPECT_EQ(changed, 0u);
  EXPECT_GT(refused, 0u);
  sllm::test::write_whole_file(index_of(dir), good);
  EXPECT_TRUE(same_index(open_checkpoint(dir).index, reference));
}

TEST(CkptIndexChecksum, WriterStoresTheDigestTheSpecDefines) {
  TempDir tmp;
  const std::string dir = write_small_checkpoint(tmp);
  const std::string written = sllm::test::read_whole_file(index_of(dir));
  EXPECT_NE(written.find("\"version\": 2"), std::string::npos) << written;
  sllm::test::reseal_index(index_of(dir));  // recomputed from docs/checkpoint-format.md, independently
  EXPECT_EQ(sllm::test::read_whole_file(index_of(dir)), written);
  // A damaged digest digit is named as the index's checksum.
  std::string text = written;
  const std::size_t at = text.find("\"index_xxh64\": \"") + 16;
  text[at] = text[at] == '0' ? '1' : '0';
  sllm::test::write_whole_file(index_of(dir), text);
  expect_open_refused(dir, "index_xxh64");
}

TEST(CkptIndexChecksum, VersionOneIndexesAreReadAndAVersionTwoIndexCannotPassForOne) {
  TempDir tmp;
  const std::string dir = write_small_checkpoint(tmp);
  const std::string v2 = sllm::test::read_whole_file(index_of(dir));
  const CheckpointIndex reference = open_checkpoint(dir).index;
  // A version 2 index whose version byte reads 1 still carries index_xxh64, unknown in version 1.
  std::string text = v2;
  text.replace(text.find("\"version\": 2"), 12, "\"version\": 1");
  sllm::test::write_whole_file(index_of(dir), text);
  expect_open_refused(dir, "index_xxh64");
  // A true version 1 index (no index_xxh64) is read, with the same contents.
  const std::size_t cut = text.find(",\n  \"index_xxh64\"");
  ASSERT_NE(cut, std::string::npos);
  text = text.substr(0, cut) + "\n}\n";
  sllm::test::write_whole_file(index_of(dir), text);
  const Checkpoint v1 = open_checkpoint(dir);
  EXPECT_EQ(v1.index.version, 1);
  CheckpointIndex expected = reference;
  expected.version = 1;
  EXPECT_TRUE(same_index(v1.index, expected));
  // Version 2 requires the checksum.
  text = v2.substr(0, v2.find(",\n  \"index_xxh64\"")) + "\n}\n";
  sllm::test::write_whole_file(index_of(dir), text);
  expect_open_refused(dir, "missing key 'index_xxh64'");
}

}  // namespace
