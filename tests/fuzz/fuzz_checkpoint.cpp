// Checkpoint index.json (open_checkpoint), then what runs on an index that opens: verify_checkpoint and a
// load into host memory in every registered loader mode. The partition files are a small real checkpoint
// written once per process (CheckpointWriter: three tensors and an alias in two partitions, 4 KiB checksum
// chunks); the seed is its index (tests/fuzz/corpus/fuzz_checkpoint). Only index.json varies.
//
// The index carries an XXH64 of its own bytes, which nearly every mutation would break, leaving the
// checks behind it unexplored. So the harness writes the correct digest into the mutated text before
// opening it (the digest's 16 digits counted as '0's, as docs/checkpoint-format.md defines), except for one
// input in eight, which keeps the digest it has and exercises the check itself.
//
// Loads are skipped when the index's checksum chunk is over 1 MiB (a reader buffers whole chunks: a legal
// 1 GiB chunk would make each run allocate gigabytes, which tests memory, not parsing).
#include <xxhash.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "support.h"
#include "sllm/core/error.h"
#include "sllm/core/loader_modes.h"
#include "sllm/models/checkpoint.h"
#include "sllm/models/loader.h"

namespace {

namespace models = sllm::models;

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> bytes(n);
  for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::byte>((i * 131 + seed * 17) % 251);
  return bytes;
}

std::string write_base_checkpoint() {
  const std::string dir = sllm::fuzz::scratch_dir() + "/ckpt";
  models::CheckpointWriter writer(dir, 2, 4096, "fuzz");
  writer.add("a.weight", sllm::DType::kF16, {64, 32}, 0, pattern(4096, 1));
  writer.add("b.bias", sllm::DType::kF32, {3, 5}, 0, pattern(60, 2));
  writer.add("c.weight", sllm::DType::kBF16, {2048}, 1, pattern(4096, 3));
  writer.add_alias("d.weight", "a.weight");
  writer.finish();
  if (std::getenv("SLLM_FUZZ_PRINT_SEED")) {  // how the seed corpus's index was made
    std::ifstream in(dir + "/" + models::kCheckpointIndexFile);
    std::cout << in.rdbuf();
  }
  return dir;
}

// Writes the index's correct self-checksum over the digits of "index_xxh64": "<16 characters>", if the
// text has that shape.
void fix_index_digest(std::string& text) {
  static const std::string key = "\"index_xxh64\": \"";
  const std::size_t at = text.find(key);
  constexpr std::size_t kDigits = 16;
  if (at == std::string::npos || text.size() < at + key.size() + kDigits) return;
  const std::size_t digits = at + key.size();
  text.replace(digits, kDigits, kDigits, '0');
  char hex[kDigits + 1];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(XXH64(text.data(), text.size(), 0)));
  text.replace(digits, kDigits, hex);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string dir = write_base_checkpoint();
  static const sllm::fuzz::ScratchFile index("ckpt/" + std::string(models::kCheckpointIndexFile));
  std::string text(sllm::fuzz::as_text(data, size));
  if (size % 8 != 7) fix_index_digest(text);
  index.write(text);
  models::Checkpoint ckpt;
  try {
    ckpt = models::open_checkpoint(dir);
  } catch (const sllm::InputError& e) {
    sllm::fuzz::refused(e);
    return 0;
  }
  (void)models::verify_checkpoint(ckpt);
  if (ckpt.index.checksum_chunk > (1u << 20)) return 0;
  models::LoaderOptions options;
  options.chunk_bytes = ckpt.index.checksum_chunk;
  options.pool_bytes = 4 * options.chunk_bytes;
  options.io = models::IoBackend::kThreads;
  options.threads = 1;
  options.copy_streams = 1;
  options.request_bytes = 4096;
  models::Loader loader(options);
  for (const std::string& mode : sllm::loader_mode_names()) {
    models::LoadOptions load;
    load.mode = mode;
    try {
      (void)loader.load(ckpt, load);
    } catch (const sllm::InputError& e) {
      sllm::fuzz::refused(e);
    }
  }
  return 0;
}
