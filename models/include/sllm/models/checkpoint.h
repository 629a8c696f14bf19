// The sllm checkpoint format (docs/checkpoint-format.md): a directory holding index.json and one
// partition file of raw tensor bytes per target GPU. Every tensor starts on a 4 KiB boundary so that
// every read can use O_DIRECT; partitions are checksummed per fixed-size chunk with xxHash64, and
// index.json carries an xxHash64 of its own bytes (version 2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "sllm/core/model_arch.h"

namespace sllm::models {

// Version 2 added the index's own checksum ("index_xxh64"); version 1 indexes are still read.
inline constexpr int kCheckpointVersion = 2;
inline constexpr std::uint64_t kCheckpointAlignment = 4096;
inline constexpr std::uint64_t kDefaultChecksumChunk = 1ull << 20;
// Readers buffer a whole checksum chunk to verify it, so an index cannot ask for more than this.
inline constexpr std::uint64_t kMaxChecksumChunk = 1ull << 30;
// All partitions together (4 EiB, beyond any storage): sums of a checkpoint size and a chunk or pool
// size can then never wrap around 2^64.
inline constexpr std::uint64_t kMaxCheckpointBytes = 1ull << 62;
inline constexpr const char* kCheckpointIndexFile = "index.json";

struct CheckpointTensor {
  std::string name;
  DType dtype = DType::kF16;
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> strides;  // in elements, row-major contiguous in version 1
  int partition = 0;
  std::uint64_t offset = 0;  // within the partition file, a multiple of kCheckpointAlignment
  std::uint64_t bytes = 0;
};

struct CheckpointPartition {
  std::string file;  // a plain file name inside the checkpoint directory
  std::uint64_t bytes = 0;                   // file size, a multiple of kCheckpointAlignment
  std::vector<std::uint64_t> chunk_xxh64;   // one per checksum chunk of the file
};

struct CheckpointAlias {
  std::string name;
  std::string target;  // a tensor stored in a partition
};

struct CheckpointIndex {
  int version = kCheckpointVersion;  // as read; the writer always writes kCheckpointVersion
  std::string model;  // catalog name when synthesised, informational
  std::uint64_t checksum_chunk = kDefaultChecksumChunk;
  std::vector<CheckpointPartition> partitions;
  std::vector<CheckpointTensor> tensors;  // sorted by (partition, offset)
  std::vector<CheckpointAlias> aliases;

  std::uint64_t total_bytes() const;
  // Names of the tensors overlapping bytes [begin, end) of a partition, for error messages
  // ("'a', 'b'" or "padding only"); at most a few names, then a count.
  std::string tensors_in(int partition, std::uint64_t begin, std::uint64_t end) const;
};

struct Checkpoint {
  std::string dir;
  CheckpointIndex index;
  std::string partition_path(int p) const { return dir + "/" + index.partitions.at(static_cast<std::size_t>(p)).file; }
  // Stable while the checkpoint is unchanged (path, index file identity): keys the DRAM chunk cache.
  std::uint64_t identity = 0;
};

// Reads and validates DIR/index.json (strict: unknown keys, misaligned or overlapping tensors, sizes
// that disagree with dtype x shape, bounds that only hold modulo 2^64, an index whose bytes do not match
// its index_xxh64, a partition that exists but is not a regular file are InputErrors naming the file and
// field). An I/O error reading the index is a std::runtime_error naming errno. Does not read partitions.
Checkpoint open_checkpoint(const std::string& dir);

// Serialises an index to its JSON text in the current version, index_xxh64 included (what the writer
// stores in index.json).
std::string index_to_json(const CheckpointIndex& index);

// Splits tensors (in checkpoint order) across `partitions` GPUs: layers stay whole and each partition
// gets a contiguous run of layers of about equal bytes (a balanced device map). Returns a partition per
// tensor. Tensors outside numbered layers (embeddings, final norm) count as their own group.
std::vector<int> assign_partitions(const std::vector<std::string>& names, const std::vector<std::uint64_t>& bytes,
                                   int partitions);

// Writes a checkpoint into a temporary sibling directory and renames it to `dir` in finish(), so a
// failed conversion never leaves a checkpoint that looks complete. `dir` must not exist (or be empty).
class CheckpointWriter {
 public:
  CheckpointWriter(std::string dir, int partitions, std::uint64_t checksum_chunk = kDefaultChecksumChunk,
                   std::string model = {});
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  void add(const std::string& name, DType dtype, const std::vector<std::int64_t>& shape, int partition,
           std::span<const std::byte> bytes);
  void add_alias(const std::string& name, const std::string& target);
  void finish();

 private:
  struct PartitionFile;
  void write_padding(PartitionFile& p, std::uint64_t bytes);
  void write(PartitionFile& p, std::span<const std::byte> bytes);

  std::string dir_;
  std::string tmp_dir_;
  CheckpointIndex index_;
  std::vector<PartitionFile> files_;
  bool finished_ = false;
};

struct VerifyReport {
  std::uint64_t bytes_checked = 0;
  std::uint64_t chunks_checked = 0;
  std::vector<std::string> problems;  // empty when the checkpoint is intact
};

// `ckpt synth`: a checkpoint of `arch` with its real tensor names and shapes (tensor_layout()) and random
// weights of a sane scale (uniform +-1/sqrt(fan_in); norms near 1), deterministic in `seed` whatever the
// thread count. Tied tensors become aliases. With `safetensors_file` true, `out` is one .safetensors file
// holding the same tensors (aliases left out, as Hugging Face saves tied weights) instead.
void synthesize_checkpoint(const ModelArch& arch, const std::string& out, int partitions, std::uint64_t seed,
                           std::uint64_t checksum_chunk, bool safetensors_file, int threads);

struct ConvertReport {
  std::size_t tensors = 0;
  std::size_t aliases = 0;  // byte-identical tensors (same dtype and shape) stored once
  std::uint64_t bytes = 0;
};
// `ckpt convert`: safetensors shards -> checkpoint. Tensor names must be unique across shards.
ConvertReport convert_safetensors(const std::vector<std::string>& sources, const std::string& out, int partitions,
                                  std::uint64_t checksum_chunk);

// Re-reads every partition and compares each chunk's xxHash64 with the index; also reports missing or
// truncated partitions. Problems name the partition, the byte range and the tensors in it.
VerifyReport verify_checkpoint(const Checkpoint& ckpt);

}  // namespace sllm::models
