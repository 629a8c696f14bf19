// The checkpoint format end to end on the CPU: safetensors fixtures written here -> `convert` -> load,
// byte-identical per tensor and dtype; alignment; shared tensors; corruption and malformed input.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "ckpt_test_fixtures.h"
#include "cli_test_util.h"
#include "sllm/models/checkpoint.h"
#include "sllm/models/device_backend.h"
#include "sllm/models/loader.h"
#include "sllm/models/safetensors.h"
#include "sllm/models/tensor_layout.h"
#include "sllm/core/error.h"
#include "sllm/core/model_arch.h"

namespace {

using namespace sllm;
using namespace sllm::models;
using sllm::test::FixtureTensor;
using sllm::test::fixture_tensor;
using sllm::test::TempDir;

constexpr std::uint64_t kSmallChecksumChunk = 4096;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Every dtype, plus the shapes that stress chunking: empty, scalar, one byte, larger than a load chunk
// (8 KiB in these tests), straddling a chunk boundary.
std::vector<FixtureTensor> shard_a() {
  return {fixture_tensor("f64", "F64", 8, {3, 5}, 1),
          fixture_tensor("f32", "F32", 4, {7, 3}, 2),
          fixture_tensor("f16", "F16", 2, {2, 3, 4}, 3),
          fixture_tensor("bf16", "BF16", 2, {11}, 4),
          fixture_tensor("i64", "I64", 8, {4}, 5),
          fixture_tensor("empty", "F16", 2, {0, 8}, 6),
          fixture_tensor("big", "F32", 4, {50, 101}, 7)};  // 20200 bytes: > 2 chunks of 8 KiB
}
std::vector<FixtureTensor> shard_b() {
  return {fixture_tensor("i32", "I32", 4, {9}, 8),
          fixture_tensor("i16", "I16", 2, {5, 5}, 9),
          fixture_tensor("i8", "I8", 1, {17}, 10),
          fixture_tensor("u8.one_byte", "U8", 1, {1}, 11),
          fixture_tensor("bool", "BOOL", 1, {2, 2}, 12),
          fixture_tensor("scalar", "F32", 4, {}, 13),
          fixture_tensor("straddle", "F16", 2, {3000}, 14)};  // 6000 bytes from a 4 KiB boundary
}

std::map<std::string, FixtureTensor> by_name(const std::vector<std::vector<FixtureTensor>>& shards) {
  std::map<std::string, FixtureTensor> out;
  for (const auto& s : shards) {
    for (const auto& t : s) out[t.name] = t;
  }
  return out;
}

struct Converted {
  TempDir tmp;
  std::string dir;
  std::map<std::string, FixtureTensor> expected;
};

std::unique_ptr<Converted> convert_fixtures(int partitions = 1) {
  auto c = std::make_unique<Converted>();
  const auto a = shard_a();
  const auto b = shard_b();
  sllm::test::write_fixture_safetensors(c->tmp / "model-00001-of-00002.safetensors", a);
  sllm::test::write_fixture_safetensors(c->tmp / "model-00002-of-00002.safetensors", b);
  c->dir = c->tmp / "ckpt";
  convert_safetensors({c->tmp / "model-00001-of-00002.safetensors", c->tmp / "model-00002-of-00002.safetensors"}, c->dir, partitions,
                      kSmallChecksumChunk);
  c->expected = by_name({a, b});
  return c;
}

LoaderOptions small_loader(IoBackend io = IoBackend::kUring) {
  LoaderOptions o;
  o.chunk_bytes = 8192;
  o.pool_bytes = 1 << 20;
  o.threads = 3;
  o.io = io;
  return o;
}

void expect_equal_bytes(const LoadedModel& m, const std::map<std::string, FixtureTensor>& expected, const std::string& label) {
  for (const auto& [name, t] : expected) {
    const TensorView* v = m.find(name);
    ASSERT_NE(v, nullptr) << label << ": " << name;
    EXPECT_EQ(v->bytes, t.bytes.size()) << label << ": " << name;
    EXPECT_EQ(v->shape, t.shape) << label << ": " << name;
    EXPECT_EQ(std::string(to_string(v->dtype)), t.dtype) << label << ": " << name;
    if (v->bytes == t.bytes.size() && !t.bytes.empty()) {
      EXPECT_EQ(std::memcmp(v->data, t.bytes.data(), t.bytes.size()), 0) << label << ": bytes of " << name;
    }
  }
}

TEST(CkptFormat, RoundTripIsByteIdenticalForEveryDtypeAndMode) {
  auto c = convert_fixtures();
  const Checkpoint ck = open_checkpoint(c->dir);
  EXPECT_EQ(ck.index.tensors.size(), c->expected.size());
  for (const char* mode : {"by-tensor", "bulk", "direct", "threads", "pinned", "sllm", "safetensors", "torch"}) {
    for (IoBackend io : {IoBackend::kUring, IoBackend::kThreads}) {
      Loader loader(small_loader(io));
      LoadOptions lo;
      lo.mode = mode;
      LoadStats st;
      auto m = loader.load(ck, lo, &st);
      expect_equal_bytes(*m, c->expected, std::string(mode) + "/" + std::string(to_string(io)));
      EXPECT_EQ(st.bytes, ck.index.total_bytes());
    }
  }
}

TEST(CkptFormat, EveryTensorStartsOnA4KiBBoundary) {
  auto c = convert_fixtures(2);
  const Checkpoint ck = open_checkpoint(c->dir);
  ASSERT_EQ(ck.index.partitions.size(), 2u);
  for (const auto& t : ck.index.tensors) EXPECT_EQ(t.offset % 4096, 0u) << t.name;
  for (const auto& p : ck.index.partitions) {
    EXPECT_EQ(p.bytes % 4096, 0u) << p.file;
    EXPECT_EQ(std::filesystem::file_size(ck.dir + "/" + p.file), p.bytes);
  }
  Loader loader(small_loader());
  auto m = loader.load(ck, LoadOptions{}, nullptr);
  for (const auto& v : m->tensors()) EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v.data) % 4096, 0u) << v.name;
  expect_equal_bytes(*m, c->expected, "tp2");
}

TEST(CkptFormat, ContiguousStridesAreRecorded) {
  auto c = convert_fixtures();
  const Checkpoint ck = open_checkpoint(c->dir);
  for (const auto& t : ck.index.tensors) {
    if (t.name == "f16") {
      EXPECT_EQ(t.strides, (std::vector<std::int64_t>{12, 4, 1}));
    }
    if (t.name == "scalar") {
      EXPECT_TRUE(t.strides.empty());
    }
  }
}

TEST(CkptFormat, SharedTensorsAreStoredOnce) {
  TempDir tmp;
  auto embed = fixture_tensor("embed.weight", "F16", 2, {64, 32}, 21);
  auto head = embed;
  head.name = "lm_head.weight";
  auto other = fixture_tensor("norm.weight", "F16", 2, {64, 32}, 22);
  auto same_bytes_other_shape = embed;
  same_bytes_other_shape.name = "reshaped";
  same_bytes_other_shape.shape = {32, 64};
  sllm::test::write_fixture_safetensors(tmp / "m.safetensors", {embed, other, head, same_bytes_other_shape});
  const auto report = convert_safetensors({tmp / "m.safetensors"}, tmp / "ck", 1, kSmallChecksumChunk);
  EXPECT_EQ(report.tensors, 3u);  // a different shape is a different tensor even with equal bytes
  EXPECT_EQ(report.aliases, 1u);
  const Checkpoint ck = open_checkpoint(tmp / "ck");
  ASSERT_EQ(ck.index.aliases.size(), 1u);
  EXPECT_EQ(ck.index.aliases[0].name, "lm_head.weight");
  EXPECT_EQ(ck.index.aliases[0].target, "embed.weight");
  EXPECT_EQ(ck.index.total_bytes(), 3u * 4096u);
  Loader loader(small_loader());
  auto m = loader.load(ck, LoadOptions{}, nullptr);
  ASSERT_NE(m->find("lm_head.weight"), nullptr);
  EXPECT_EQ(m->find("lm_head.weight")->data, m->find("embed.weight")->data);
  EXPECT_EQ(std::memcmp(m->find("lm_head.weight")->data, head.bytes.data(), head.bytes.size()), 0);
}

TEST(CkptFormat, SynthesisedOptTiesTheHeadToTheEmbedding) {
  TempDir tmp;
  const ModelArch& arch = ModelCatalog::builtin().get("tiny-opt", "test");
  synthesize_checkpoint(arch, tmp / "ck", 1, 7, kSmallChecksumChunk, false, 2);
  const Checkpoint ck = open_checkpoint(tmp / "ck");
  const auto layout = tensor_layout(arch);
  std::size_t aliases = 0;
  for (const auto& t : layout) aliases += !t.alias_of.empty();
  EXPECT_EQ(ck.index.aliases.size(), aliases);
  EXPECT_EQ(ck.index.tensors.size() + ck.index.aliases.size(), layout.size());
  std::uint64_t stored = 0;
  for (const auto& t : layout) stored += t.alias_of.empty() ? t.bytes() : 0;
  EXPECT_EQ(ck.index.total_bytes() >= stored, true);
  EXPECT_EQ(stored, arch.checkpoint_bytes());  // the catalog counts tied parameters once
  Loader loader(small_loader());
  auto m = loader.load(ck, LoadOptions{}, nullptr);
  for (const auto& t : layout) {
    const TensorView* v = m->find(t.name);
    ASSERT_NE(v, nullptr) << t.name;
    EXPECT_EQ(v->shape, t.shape);
    if (!t.alias_of.empty()) {
      EXPECT_EQ(v->data, m->find(t.alias_of)->data);
    }
  }
}

// Decodes IEEE half precision independently of the writer.
double half_to_double(std::uint16_t h) {
  const int exp = (h >> 10) & 0x1F;
  const int mant = h & 0x3FF;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant ? NAN : sign * INFINITY;
  return sign * std::ldexp(1024 + mant, exp - 25);
}

TEST(CkptSynth, DeterministicFiniteAndScaledValues) {
  TempDir tmp;
  const ModelArch& arch = ModelCatalog::builtin().get("tiny-llama", "test");
  synthesize_checkpoint(arch, tmp / "a", 1, 42, kSmallChecksumChunk, false, 1);
  synthesize_checkpoint(arch, tmp / "b", 1, 42, kSmallChecksumChunk, false, 4);  // thread count must not matter
  synthesize_checkpoint(arch, tmp / "c", 1, 43, kSmallChecksumChunk, false, 4);
  auto read = [&](const std::string& d) { return read_file(d + "/part-0.bin"); };
  EXPECT_EQ(read(tmp / "a"), read(tmp / "b"));
  EXPECT_NE(read(tmp / "a"), read(tmp / "c"));
  const Checkpoint ck = open_checkpoint(tmp / "a");
  Loader loader(small_loader());
  auto m = loader.load(ck, LoadOptions{}, nullptr);
  for (const auto& v : m->tensors()) {
    ASSERT_EQ(v.dtype, DType::kF16);
    const auto* h = static_cast<const std::uint16_t*>(v.data);
    const double bound = v.shape.size() >= 2 ? 1.0 / std::sqrt(static_cast<double>(v.shape.back())) * 1.001 + 1e-3 : 1.2;
    for (std::uint64_t i = 0; i < v.bytes / 2; ++i) {
      const double x = half_to_double(h[i]);
      ASSERT_TRUE(std::isfinite(x)) << v.name;
      ASSERT_LE(std::fabs(x), bound) << v.name;
    }
    if (v.name.find("norm") != std::string::npos) {
      EXPECT_NEAR(half_to_double(h[0]), 1.0, 0.11) << v.name;
    }
  }
}

TEST(CkptSynth, SafetensorsExportConvertsToTheSameBytes) {
  TempDir tmp;
  const ModelArch& arch = ModelCatalog::builtin().get("tiny-opt", "test");
  synthesize_checkpoint(arch, tmp / "direct", 1, 5, kSmallChecksumChunk, false, 2);
  synthesize_checkpoint(arch, tmp / "m.safetensors", 1, 5, kSmallChecksumChunk, true, 2);
  const SafetensorsFile st(tmp / "m.safetensors");
  EXPECT_EQ(st.header().metadata.at("format"), "pt");
  convert_safetensors({tmp / "m.safetensors"}, tmp / "converted", 1, kSmallChecksumChunk);
  Loader loader(small_loader());
  auto a = loader.load(open_checkpoint(tmp / "direct"), LoadOptions{}, nullptr);
  auto b = loader.load(open_checkpoint(tmp / "converted"), LoadOptions{}, nullptr);
  for (const auto& t : st.header().tensors) {
    const auto bytes = st.bytes(t);
    ASSERT_NE(a->find(t.name), nullptr);
    EXPECT_EQ(std::memcmp(a->find(t.name)->data, bytes.data(), bytes.size()), 0) << t.name;
    EXPECT_EQ(std::memcmp(b->find(t.name)->data, bytes.data(), bytes.size()), 0) << t.name;
  }
}

TEST(CkptSynth, TensorParallelPartitionsKeepLayersWholeAndBalanced) {
  TempDir tmp;
  const ModelArch& arch = ModelCatalog::builtin().get("tiny-llama", "test");
  synthesize_checkpoint(arch, tmp / "ck", 2, 1, kSmallChecksumChunk, false, 2);
  const Checkpoint ck = open_checkpoint(tmp / "ck");
  ASSERT_EQ(ck.index.partitions.size(), 2u);
  std::map<std::string, std::set<int>> layer_parts;
  for (const auto& t : ck.index.tensors) {
    const auto pos = t.name.find("layers.");
    if (pos != std::string::npos) layer_parts[t.name.substr(0, t.name.find('.', pos + 7))].insert(t.partition);
  }
  for (const auto& [layer, parts] : layer_parts) EXPECT_EQ(parts.size(), 1u) << layer;
  EXPECT_GT(ck.index.partitions[0].bytes, 0u);
  EXPECT_GT(ck.index.partitions[1].bytes, 0u);
}

TEST(CkptFormat, AssignPartitionsSplitsGroupsInOrder) {
  // Four layers of 10 bytes + embedding 20 + head 20 = 80 bytes over 2 partitions: the split comes at
  // the first group boundary at or past 40 bytes.
  const std::vector<std::string> names = {"embed", "layers.0.a", "layers.0.b", "layers.1.a", "layers.1.b",
                                          "layers.2.a", "layers.3.a", "head"};
  const std::vector<std::uint64_t> bytes = {20, 5, 5, 5, 5, 10, 10, 20};
  EXPECT_EQ(assign_partitions(names, bytes, 2), (std::vector<int>{0, 0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(assign_partitions(names, bytes, 1), std::vector<int>(8, 0));
}

TEST(CkptCorruption, FlippedByteIsCaughtByVerifyAndByLoadNamingTheTensor) {
  auto c = convert_fixtures();
  Checkpoint ck = open_checkpoint(c->dir);
  const CheckpointTensor* big = nullptr;
  for (const auto& t : ck.index.tensors) {
    if (t.name == "big") big = &t;
  }
  ASSERT_NE(big, nullptr);
  ASSERT_TRUE(verify_checkpoint(ck).problems.empty());
  sllm::test::flip_byte(ck.partition_path(0), big->offset + 10000);
  const VerifyReport r = verify_checkpoint(ck);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("'big'"), std::string::npos) << r.problems[0];
  EXPECT_NE(r.problems[0].find("checksum mismatch"), std::string::npos) << r.problems[0];
  for (const char* mode : {"by-tensor", "bulk", "direct", "threads", "pinned", "sllm"}) {
    Loader loader(small_loader());
    LoadOptions lo;
    lo.mode = mode;
    try {
      loader.load(ck, lo, nullptr);
      ADD_FAILURE() << mode << ": corrupted checkpoint loaded";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("'big'"), std::string::npos) << mode << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("part-0.bin"), std::string::npos) << mode << ": " << e.what();
    }
  }
}

TEST(CkptCorruption, TruncatedPartitionFailsNamingTheCutTensor) {
  auto c = convert_fixtures();
  const Checkpoint ck = open_checkpoint(c->dir);
  const std::string part = ck.partition_path(0);
  std::filesystem::resize_file(part, ck.index.partitions[0].bytes - 4096);
  const CheckpointTensor& last = ck.index.tensors.back();
  for (const char* mode : {"by-tensor", "sllm", "threads", "torch"}) {
    Loader loader(small_loader());
    LoadOptions lo;
    lo.mode = mode;
    try {
      loader.load(ck, lo, nullptr);
      ADD_FAILURE() << mode << ": truncated checkpoint loaded";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("truncated partition 0"), std::string::npos) << msg;
      EXPECT_NE(msg.find("'" + last.name + "'"), std::string::npos) << msg;
    }
  }
  const VerifyReport r = verify_checkpoint(ck);
  ASSERT_FALSE(r.problems.empty());
  EXPECT_NE(r.problems[0].find("truncated"), std::string::npos) << r.problems[0];
}

TEST(CkptCorruption, MissingPartitionFails) {
  auto c = convert_fixtures(2);
  const Checkpoint ck = open_checkpoint(c->dir);
  std::filesystem::remove(ck.partition_path(1));
  Loader loader(small_loader());
  try {
    loader.load(ck, LoadOptions{}, nullptr);
    ADD_FAILURE() << "loaded without partition 1";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing partition 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("part-1.bin"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(verify_checkpoint(ck).problems.empty());
}

TEST(CkptIndex, RejectsUnknownDtypeAndInconsistentEntries) {
  auto c = convert_fixtures();
  const std::string index_path = c->dir + "/index.json";
  const std::string good = read_file(index_path);
  auto expect_rejected = [&](const std::string& from, const std::string& to, const std::string& message) {
    std::string text = good;
    const auto pos = text.find(from);
    ASSERT_NE(pos, std::string::npos) << from;
    text.replace(pos, from.size(), to);
    std::ofstream(index_path, std::ios::trunc) << text;
    sllm::test::reseal_index(index_path);  // reach the field's own check, past the index checksum
    try {
      open_checkpoint(c->dir);
      ADD_FAILURE() << "accepted: " << to;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
    std::ofstream(index_path, std::ios::trunc) << good;
  };
  expect_rejected("\"dtype\": \"F64\"", "\"dtype\": \"Q4\"", "unknown dtype 'Q4'");
  expect_rejected("\"dtype\": \"F64\"", "\"dtype\": \"float64\"", "unknown dtype");  // catalog spelling is not the format's
  expect_rejected("\"version\": 2", "\"version\": 3", "unsupported format version 3");
  expect_rejected("\"alignment\": 4096", "\"alignment\": 8", "alignment");
  expect_rejected("\"file\": \"part-0.bin\"", "\"file\": \"../part-0.bin\"", "plain file name");
  expect_rejected("\"format\": \"sllm-checkpoint\",", "\"format\": \"sllm-checkpoint\", \"extra\": 1,", "unknown key");
  expect_rejected("\"shape\": [3, 5], \"strides\": [5, 1]", "\"shape\": [3, 6], \"strides\": [6, 1]", "disagrees with dtype and shape");
  expect_rejected("\"shape\": [3, 5], \"strides\": [5, 1]", "\"shape\": [3, 5], \"strides\": [1, 3]", "row-major contiguous");
  expect_rejected("\"aliases\": [", "\"aliases\": [{\"name\": \"x\", \"target\": \"nope\"}", "no stored tensor named 'nope'");
  EXPECT_NO_THROW(open_checkpoint(c->dir));
}

TEST(CkptIndex, RejectsMisalignedAndOverlappingTensors) {
  TempDir tmp;
  auto write_index = [&](const std::string& tensors) {
    std::filesystem::create_directories(tmp / "ck");
    std::ofstream(tmp / "ck/index.json", std::ios::trunc)
        << "{\"format\": \"sllm-checkpoint\", \"version\": 1, \"alignment\": 4096,"
           " \"checksum\": {\"algorithm\": \"xxh64\", \"seed\": 0, \"chunk_bytes\": 4096},"
           " \"partitions\": [{\"file\": \"p.bin\", \"bytes\": 8192, \"chunk_xxh64\": [\"0000000000000000\", \"0000000000000000\"]}],"
           " \"tensors\": [" << tensors << "], \"aliases\": []}";
  };
  auto t = [](const std::string& name, int offset, int bytes) {
    return "{\"name\": \"" + name + "\", \"dtype\": \"U8\", \"shape\": [" + std::to_string(bytes) + "], \"strides\": [1], \"partition\": 0, \"offset\": " +
           std::to_string(offset) + ", \"bytes\": " + std::to_string(bytes) + "}";
  };
  write_index(t("a", 0, 5000) + "," + t("b", 4096, 10));
  EXPECT_THROW(open_checkpoint(tmp / "ck"), InputError);
  write_index(t("a", 100, 10));
  EXPECT_THROW(open_checkpoint(tmp / "ck"), InputError);
  write_index(t("a", 4096, 5000));  // past the end of the partition
  EXPECT_THROW(open_checkpoint(tmp / "ck"), InputError);
  write_index(t("a", 0, 4096) + "," + t("b", 4096, 4096));
  EXPECT_NO_THROW(open_checkpoint(tmp / "ck"));
}

// ---- safetensors headers -----------------------------------------------------------------------------

void expect_bad_safetensors(const std::string& header, const std::vector<unsigned char>& data, const std::string& message,
                            std::uint64_t declared_length = ~0ull) {
  TempDir tmp;
  sllm::test::write_raw_safetensors(tmp / "bad.safetensors", header, data, declared_length == ~0ull ? header.size() : declared_length);
  try {
    SafetensorsFile f(tmp / "bad.safetensors");
    ADD_FAILURE() << "accepted header " << header;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, RejectsMalformedHeaders) {
  const std::vector<unsigned char> eight(8, 0);
  const std::string ok = "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}";
  expect_bad_safetensors(ok, eight, "runs past the end", ok.size() + 100);                     // bad length
  expect_bad_safetensors(ok, eight, "100 MB", 1ull << 40);                                     // absurd length
  expect_bad_safetensors("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}", eight, "malformed JSON");  // unclosed
  expect_bad_safetensors("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8],}}", eight, "malformed JSON");  // trailing comma
  expect_bad_safetensors("[1,2]", eight, "JSON object");
  expect_bad_safetensors("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[8],\"data_offsets\":[0,8]}}", eight, "unknown dtype 'F8_E4M3'");
  expect_bad_safetensors("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,16]}}", eight, "out of range");
  expect_bad_safetensors("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"U8\",\"shape\":[6],\"data_offsets\":[2,8]}}",
                         eight, "overlap");
  expect_bad_safetensors("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", eight, "hole");
  expect_bad_safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8]}}", eight, "dtype x shape needs 16");
  expect_bad_safetensors("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[8,0]}}", eight, "end is before begin");
  expect_bad_safetensors("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,8]}}",
                         eight, "duplicate key");
  expect_bad_safetensors("{\"a\":{\"dtype\":\"U8\",\"shape\":[-8],\"data_offsets\":[0,8]}}", eight, "non-negative");
  expect_bad_safetensors("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", eight, "cover 4");  // trailing bytes
  {
    TempDir tmp;
    std::ofstream(tmp / "short.safetensors") << "abc";
    EXPECT_THROW(SafetensorsFile(tmp / "short.safetensors"), InputError);
  }
}

TEST(Safetensors, AcceptsWellFormedFilesWithMetadataAndPadding) {
  TempDir tmp;
  const std::vector<unsigned char> data = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  const std::string header =
      "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"I16\",\"shape\":[1,3],\"data_offsets\":[4,10]},"
      "\"a\":{\"dtype\":\"BOOL\",\"shape\":[4],\"data_offsets\":[0,4]}}    ";
  sllm::test::write_raw_safetensors(tmp / "ok.safetensors", header, data, header.size());
  SafetensorsFile f(tmp / "ok.safetensors");
  ASSERT_EQ(f.header().tensors.size(), 2u);
  EXPECT_EQ(f.header().tensors[0].name, "a");  // data order
  EXPECT_EQ(f.header().tensors[1].shape, (std::vector<std::int64_t>{1, 3}));
  EXPECT_EQ(f.header().data_offset, 8 + header.size());
  EXPECT_EQ(f.bytes(f.header().tensors[1])[0], std::byte{5});
  EXPECT_EQ(f.header().metadata.at("format"), "pt");
}

TEST(CkptConvert, DuplicateNamesAcrossShardsAndUnknownDtypeAreRejected) {
  TempDir tmp;
  auto t = fixture_tensor("w", "F16", 2, {4}, 1);
  sllm::test::write_fixture_safetensors(tmp / "a.safetensors", {t});
  sllm::test::write_fixture_safetensors(tmp / "b.safetensors", {t});
  EXPECT_THROW(convert_safetensors({tmp / "a.safetensors", tmp / "b.safetensors"}, tmp / "ck", 1, 4096), InputError);
  EXPECT_FALSE(std::filesystem::exists(tmp / "ck"));
  auto odd = fixture_tensor("w", "F8_E5M2", 1, {4}, 1);
  sllm::test::write_fixture_safetensors(tmp / "c.safetensors", {odd});
  EXPECT_THROW(convert_safetensors({tmp / "c.safetensors"}, tmp / "ck", 1, 4096), InputError);
  EXPECT_FALSE(std::filesystem::exists(tmp / "ck"));
}

TEST(CkptConvert, RefusesToOverwriteAndLeavesNothingHalfWritten) {
  auto c = convert_fixtures();
  EXPECT_THROW(convert_safetensors({c->tmp / "model-00001-of-00002.safetensors"}, c->dir, 1, 4096), InputError);
  std::size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(c->tmp.path())) entries += e.path().filename().string().find(".tmp-") != std::string::npos;
  EXPECT_EQ(entries, 0u);
}

TEST(Fingerprint, EqualBytesEqualFingerprintsAndPositionMatters) {
  std::vector<unsigned char> a = sllm::test::pattern(3, 1001);
  std::vector<unsigned char> b = a;
  EXPECT_EQ(fingerprint(a.data(), a.size()), fingerprint(b.data(), b.size()));
  b[1000] ^= 1;  // the tail word
  EXPECT_NE(fingerprint(a.data(), a.size()), fingerprint(b.data(), b.size()));
  b = a;
  std::swap_ranges(b.begin(), b.begin() + 8, b.begin() + 8);  // swap two words: same multiset of words
  EXPECT_NE(fingerprint(a.data(), a.size()), fingerprint(b.data(), b.size()));
  EXPECT_NE(fingerprint(a.data(), 0), fingerprint(a.data(), 8));
}

// On tmpfs the loader reads buffered exactly when the kernel refuses O_DIRECT there (before Linux 6.6), and
// the bytes are right either way. (The refusal itself is injected in CkptCli.BufferedFallbackWhereDirectIo-
// IsRefused, which runs on every kernel.)
TEST(CkptLoad, TmpfsLoadsAndReportsAFallbackOnlyWhenDirectIoIsRefused) {
  if (!std::filesystem::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm (tmpfs) on this machine";
  TempDir tmp("/dev/shm");
  const auto a = shard_a();
  sllm::test::write_fixture_safetensors(tmp / "m.safetensors", a);
  convert_safetensors({tmp / "m.safetensors"}, tmp / "ck", 1, kSmallChecksumChunk);
  const int fd = ::open((tmp / "ck/part-0.bin").c_str(), O_RDONLY | O_DIRECT);
  const bool direct_accepted = fd >= 0;
  if (fd >= 0) ::close(fd);
  Loader loader(small_loader());
  LoadStats st;
  auto m = loader.load(open_checkpoint(tmp / "ck"), LoadOptions{}, &st);
  expect_equal_bytes(*m, by_name({a}), "tmpfs");
  EXPECT_EQ(st.buffered_fallback, !direct_accepted);
}

TEST(CkptLoad, CudaDeviceWithoutGpuFailsClearly) {
  if (device_count("cuda") > 0) GTEST_SKIP() << "a GPU is present";
  auto c = convert_fixtures();
  Loader loader(small_loader());
  LoadOptions lo;
  lo.device = Device{"cuda", 0};
  try {
    loader.load(open_checkpoint(c->dir), lo, nullptr);
    ADD_FAILURE() << "loaded onto a GPU that does not exist";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
  }
}

// The CLI end to end: exit codes and messages a user sees.
std::pair<int, std::string> run_cli(const std::string& args, const std::string& env = "") {
  const auto r = sllm::testing::run_sllmsim(args, env);
  return {r.status, r.output};
}

TEST(CkptCli, ConvertInspectVerifyLoad) {
  TempDir tmp;
  sllm::test::write_fixture_safetensors(tmp / "a.safetensors", shard_a());
  sllm::test::write_fixture_safetensors(tmp / "b.safetensors", shard_b());
  auto [rc, out] = run_cli("ckpt convert " + (tmp / "a.safetensors") + " " + (tmp / "b.safetensors") + " -o " + (tmp / "ck") +
                           " --checksum-chunk '4 KiB'");
  ASSERT_EQ(rc, 0) << out;
  std::tie(rc, out) = run_cli("ckpt inspect " + (tmp / "ck"));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("straddle F16 [3000]"), std::string::npos) << out;
  std::tie(rc, out) = run_cli("ckpt verify " + (tmp / "ck"));
  EXPECT_EQ(rc, 0) << out;
  std::tie(rc, out) = run_cli("ckpt load " + (tmp / "ck") + " --chunk '8 KiB' --threads 2 --repeat 2 --compare " + (tmp / "a.safetensors") +
                              " " + (tmp / "b.safetensors"));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("run 2/2"), std::string::npos) << out;
  EXPECT_NE(out.find("of raw O_DIRECT read"), std::string::npos) << out;
  EXPECT_NE(out.find("compare: 14 tensors equal the source"), std::string::npos) << out;
  std::tie(rc, out) = run_cli("ckpt load " + (tmp / "ck") + " --chunk '6 KiB'");
  EXPECT_EQ(rc, 2) << out;
  std::tie(rc, out) = run_cli("ckpt load " + (tmp / "ck") + " --mode fast");
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("unknown loader mode 'fast' (expected one of bulk, by-tensor, direct, pinned, safetensors, sllm, threads, torch"),
            std::string::npos) << out;
  std::tie(rc, out) = run_cli("ckpt load " + (tmp / "ck") + " --mode pipelined");  // the retired name
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("loader mode 'pipelined' was renamed 'sllm'"), std::string::npos) << out;
  const Checkpoint ck = open_checkpoint(tmp / "ck");
  for (const auto& t : ck.index.tensors) {
    if (t.name == "straddle") sllm::test::flip_byte(ck.partition_path(0), t.offset + 5000);
  }
  std::tie(rc, out) = run_cli("ckpt verify " + (tmp / "ck"));
  EXPECT_EQ(rc, 2) << out;  // damaged input: the same status as `ckpt load` below
  EXPECT_NE(out.find("'straddle'"), std::string::npos) << out;
  std::tie(rc, out) = run_cli("ckpt load " + (tmp / "ck") + " --chunk '8 KiB' --no-baselines");
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("'straddle'"), std::string::npos) << out;
}

// Where open(O_DIRECT) is refused (EINVAL, as on some file systems), every direct mode loads the same bytes
// with buffered reads and says so once. The refusal is injected with LD_PRELOAD into the real binary.
TEST(CkptCli, BufferedFallbackWhereDirectIoIsRefused) {
#ifndef SLLM_REFUSE_O_DIRECT_LIB
  GTEST_SKIP() << "needs a dynamically linked build (the O_DIRECT refusal is injected with LD_PRELOAD)";
#else
  TempDir tmp;
  sllm::test::write_fixture_safetensors(tmp / "a.safetensors", shard_a());
  auto [rc, out] = run_cli("ckpt convert " + (tmp / "a.safetensors") + " -o " + (tmp / "ck") + " --checksum-chunk '4 KiB'");
  ASSERT_EQ(rc, 0) << out;
  const std::string refuse = std::string("LD_PRELOAD=") + SLLM_REFUSE_O_DIRECT_LIB + " SLLM_REFUSE_O_DIRECT_UNDER=" + (tmp / "ck");
  for (const char* mode : {"direct", "threads", "pinned", "sllm"}) {
    const std::string load = " ckpt load " + (tmp / "ck") + " --mode " + mode + " --chunk '8 KiB' --request-size '4 KiB' --repeat 2 --compare " +
                             (tmp / "a.safetensors");
    std::tie(rc, out) = run_cli(load);  // control: nothing refused, no warning
    EXPECT_EQ(rc, 0) << out;
    EXPECT_EQ(out.find("O_DIRECT refused"), std::string::npos) << out;
    std::tie(rc, out) = run_cli(load, refuse);
    EXPECT_TRUE(rc == 0) << mode << "\n" << out;
    EXPECT_EQ(out.find("refused 0 opens"), std::string::npos) << mode << ": the injector refused nothing\n" << out;
    EXPECT_NE(out.find("O_DIRECT refused for " + (tmp / "ck")), std::string::npos) << mode << "\n" << out;
    EXPECT_NE(out.find("using buffered reads"), std::string::npos) << mode << "\n" << out;
    EXPECT_NE(out.find("raw read (buffered: O_DIRECT refused"), std::string::npos) << mode << "\n" << out;
    EXPECT_NE(out.find("run 2/2"), std::string::npos) << mode << "\n" << out;
    EXPECT_NE(out.find("tensors equal the source"), std::string::npos) << mode << "\n" << out;
  }
#endif
}

}  // namespace
