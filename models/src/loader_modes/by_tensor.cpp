// Loader mode "by-tensor", step 1 of the paper's ablation: one buffered read and one copy per tensor, each
// into its own buffer, checksums fed tensor by tensor. The bytes between tensors are read and hashed too
// when verifying: the format says they are zero (docs/checkpoint-format.md), but hashing assumed zeros
// would let damage there pass unseen here while every other mode reports it.
#include <new>
#include <stdexcept>

#include "chunk_hash.h"
#include "loader_internal.h"
#include "sllm/core/units.h"

namespace sllm::models {
namespace {

void load_by_tensor(LoadContext& ctx) {
  const CheckpointIndex& idx = ctx.checkpoint().index;
  std::vector<ChunkHasher> hashers(idx.partitions.size(), ChunkHasher(idx.checksum_chunk));
  std::vector<std::uint64_t> hashed(idx.partitions.size(), 0);
  std::vector<std::size_t> checked(idx.partitions.size(), 0);
  auto check_new_digests = [&](std::size_t p) {
    const auto& d = hashers[p].digests();
    for (; checked[p] < d.size(); ++checked[p]) {
      const std::uint64_t k = checked[p];
      if (d[k] != idx.partitions[p].chunk_xxh64[k]) {
        const std::uint64_t begin = k * idx.checksum_chunk;
        ctx.fail(detail::chunk_where(ctx.checkpoint(), static_cast<int>(p), begin, std::min(begin + idx.checksum_chunk, idx.partitions[p].bytes)) +
                        ": checksum mismatch in checksum chunk " + std::to_string(k), true);
        return;
      }
    }
  };
  std::vector<std::byte> gap;
  // Reads and hashes partition p's bytes from hashed[p] to `end` (padding; empty when verify is off).
  auto hash_gap = [&](std::size_t p, std::uint64_t end) {
    if (end <= hashed[p]) return;
    gap.resize(end - hashed[p]);
    const std::uint64_t got = ctx.read(static_cast<int>(p), gap.data(), gap.size(), hashed[p]);
    if (got < gap.size()) {
      return ctx.fail(detail::short_read(ctx.checkpoint(), ReadJob{static_cast<int>(p), 0, hashed[p], gap.size()}, got), true);
    }
    hashers[p].feed(gap.data(), gap.size());
    hashed[p] = end;
  };
  for (const CheckpointTensor& t : idx.tensors) {  // sorted by (partition, offset)
    const auto p = static_cast<std::size_t>(t.partition);
    std::unique_ptr<std::byte[]> buf(new (std::nothrow) std::byte[std::max<std::uint64_t>(t.bytes, 1)]);
    if (!buf) throw std::runtime_error("cannot allocate " + format_bytes(t.bytes) + " for tensor '" + t.name + "'");
    const std::uint64_t got = ctx.read(t.partition, buf.get(), t.bytes, t.offset);
    if (got < t.bytes) {
      return ctx.fail(detail::short_read(ctx.checkpoint(), ReadJob{t.partition, 0, t.offset, t.bytes}, got), true);
    }
    if (ctx.load_options().verify) {
      hash_gap(p, t.offset);
      if (ctx.failed()) return;
      hashers[p].feed(buf.get(), t.bytes);
      hashed[p] = t.offset + t.bytes;
      check_new_digests(p);
      if (ctx.failed()) return;
    }
    ctx.copy_to_destination(t.partition, t.offset, buf.get(), t.bytes);
  }
  if (ctx.load_options().verify) {
    for (std::size_t p = 0; p < idx.partitions.size(); ++p) {
      hash_gap(p, idx.partitions[p].bytes);
      if (ctx.failed()) return;
      hashers[p].finish();
      check_new_digests(p);
    }
  }
}

class ByTensorMode final : public LoaderMode {
 public:
  std::string_view name() const override { return "by-tensor"; }
  LoaderModeTraits traits() const override { return {}; }
  void load(LoadContext& ctx) const override { load_by_tensor(ctx); }
};

}  // namespace

SLLM_REGISTER_LOADER_MODE(ByTensorMode);

}  // namespace sllm::models
