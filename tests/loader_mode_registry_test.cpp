// Loader modes are a registry: a mode defined and registered in this file alone (no other file names it)
// is listed with the built-in ones, loads a checkpoint through the public LoadContext, reports checksum
// failures through it, and is a valid mode for profiles and scenarios, which know names only.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ckpt_test_fixtures.h"
#include "sllm/core/error.h"
#include "sllm/core/loader_modes.h"
#include "sllm/models/checkpoint.h"
#include "sllm/models/loader.h"
#include "sllm/models/loader_mode.h"

namespace {

using namespace sllm;
using namespace sllm::models;
using sllm::test::FixtureTensor;
using sllm::test::TempDir;
using sllm::test::fixture_tensor;

// Reads every partition from its last checksum chunk to its first, checks each, copies each: an order
// no built-in mode uses, so a correct result shows the loader placed the bytes by this mode's offsets.
class BackwardsMode final : public LoaderMode {
 public:
  std::string_view name() const override { return "test-backwards"; }
  LoaderModeTraits traits() const override { return {}; }
  void load(LoadContext& ctx) const override {
    const CheckpointIndex& idx = ctx.checkpoint().index;
    const std::uint64_t c = idx.checksum_chunk;
    std::vector<std::byte> buf(c);
    for (int p = 0; p < ctx.partitions(); ++p) {
      const std::uint64_t bytes = idx.partitions[static_cast<std::size_t>(p)].bytes;
      for (std::uint64_t k = (bytes + c - 1) / c; k-- > 0;) {
        const std::uint64_t offset = k * c, len = std::min(c, bytes - offset);
        if (ctx.read(p, buf.data(), len, offset) < len) return ctx.fail(ctx.path(p) + ": short read", true);
        if (ctx.load_options().verify) {
          const std::string bad = ctx.verify(p, offset, buf.data(), len);
          if (!bad.empty()) return ctx.fail(bad, true);
        }
        ctx.copy_to_destination(p, offset, buf.data(), len);
      }
    }
  }
};

SLLM_REGISTER_LOADER_MODE(BackwardsMode);

struct Fixture {
  TempDir tmp;
  std::vector<FixtureTensor> tensors = {fixture_tensor("a", "F16", 2, {3000}, 1),  // crosses 4 KiB chunks
                                        fixture_tensor("b", "F32", 4, {7, 5}, 2), fixture_tensor("c", "U8", 1, {1}, 3)};
  std::string dir = tmp / "ckpt";
  Fixture() {
    sllm::test::write_fixture_safetensors(tmp / "m.safetensors", tensors);
    convert_safetensors({tmp / "m.safetensors"}, dir, 2, 4096);
  }
};

LoaderOptions small_loader() {
  LoaderOptions o;
  o.chunk_bytes = 8192;
  o.pool_bytes = 1 << 20;
  return o;
}

TEST(LoaderModeRegistry, ATestModeIsListedWithTheBuiltInOnes) {
  const std::vector<std::string> names = loader_mode_names();
  for (const char* m : {"by-tensor", "bulk", "direct", "threads", "pinned", "sllm", "safetensors", "torch", "test-backwards"}) {
    EXPECT_TRUE(is_loader_mode(m)) << m;
    EXPECT_NE(std::find(names.begin(), names.end(), m), names.end()) << m;
  }
  EXPECT_EQ(names.size(), 9u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_NE(unknown_loader_mode_message("fast").find("test-backwards"), std::string::npos);
}

TEST(LoaderModeRegistry, TheTestModeLoadsEveryTensorByteForByte) {
  Fixture f;
  Loader loader(small_loader());
  LoadOptions lo;
  lo.mode = "test-backwards";
  auto model = loader.load(open_checkpoint(f.dir), lo, nullptr);
  for (const FixtureTensor& t : f.tensors) {
    const TensorView* v = model->find(t.name);
    ASSERT_NE(v, nullptr) << t.name;
    ASSERT_EQ(v->bytes, t.bytes.size()) << t.name;
    EXPECT_EQ(std::memcmp(v->data, t.bytes.data(), t.bytes.size()), 0) << t.name;
  }
}

TEST(LoaderModeRegistry, TheTestModesFailureNamesTheCorruptChunk) {
  Fixture f;
  const Checkpoint ck = open_checkpoint(f.dir);
  sllm::test::flip_byte(ck.partition_path(0), ck.index.tensors.front().offset + 1);
  Loader loader(small_loader());
  LoadOptions lo;
  lo.mode = "test-backwards";
  try {
    loader.load(ck, lo, nullptr);
    ADD_FAILURE() << "a corrupt checkpoint loaded";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
  lo.verify = false;  // the mode honours the option: the flipped byte then loads as it is
  EXPECT_NO_THROW(loader.load(ck, lo, nullptr));
}

TEST(LoaderModeRegistry, UnknownAndRetiredNamesAreInputErrorsNamingTheFix) {
  Fixture f;
  Loader loader(small_loader());
  LoadOptions lo;
  lo.mode = "pipelined";
  try {
    loader.load(open_checkpoint(f.dir), lo, nullptr);
    ADD_FAILURE() << "the retired name loaded";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("renamed 'sllm'"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(is_loader_mode("pipelined"));
}

}  // namespace
