// Producing checkpoints: `ckpt synth` (random weights, real layouts) and `ckpt convert` (safetensors).
#include <algorithm>
#include <atomic>
#include <memory>
#include <cmath>
#include <cstring>
#include <map>
#include <thread>

#include "chunk_hash.h"
#include "sllm/models/checkpoint.h"
#include "sllm/models/engine.h"
#include "sllm/models/safetensors.h"
#include "sllm/models/tensor_layout.h"
#include "sllm/core/error.h"
#include "sllm/core/random.h"

namespace sllm::models {

namespace {

// Uniform in [-1, 1) from the top 24 bits: exactly representable in a float.
float symmetric(Rng& rng) { return static_cast<float>(rng.next() >> 40) * (2.0f / 16777216.0f) - 1.0f; }

struct ValueScale {
  float center = 0;
  float spread = 0;
};

ValueScale scale_for(const TensorSpec& t) {
  if (t.shape.size() >= 2) return {0.0f, 1.0f / std::sqrt(static_cast<float>(std::max<std::int64_t>(1, t.shape.back())))};
  const bool norm = t.name.find("norm") != std::string::npos;
  const bool weight = t.name.size() >= 6 && t.name.compare(t.name.size() - 6, 6, "weight") == 0;
  if (norm && weight) return {1.0f, 0.1f};
  return {0.0f, 0.02f};
}

// Fills `out` with the tensor's values: blocks of 64 Ki elements, each from its own generator seeded by
// (seed, name, block), so the bytes do not depend on how many threads share the work.
void fill_tensor(const TensorSpec& t, std::uint64_t seed, std::vector<std::byte>& out, int threads) {
  const std::uint64_t n = t.elements();
  const std::size_t esize = dtype_size(t.dtype);
  out.resize(n * esize);
  const ValueScale sc = scale_for(t);
  const std::uint64_t name_seed = XXH64(t.name.data(), t.name.size(), seed);
  constexpr std::uint64_t kBlock = 1 << 16;
  const std::uint64_t blocks = (n + kBlock - 1) / kBlock;
  std::atomic<std::uint64_t> next{0};
  auto work = [&] {
    for (std::uint64_t b = next.fetch_add(1); b < blocks; b = next.fetch_add(1)) {
      Rng rng(name_seed, /*stream=*/b);
      const std::uint64_t end = std::min(n, (b + 1) * kBlock);
      for (std::uint64_t i = b * kBlock; i < end; ++i) {
        const float v = sc.center + sc.spread * symmetric(rng);
        std::byte* dst = out.data() + i * esize;
        if (t.dtype == DType::kF16) {
          const std::uint16_t h = float_to_half(v);
          std::memcpy(dst, &h, 2);
        } else if (t.dtype == DType::kBF16) {
          const std::uint16_t h = float_to_bf16(v);
          std::memcpy(dst, &h, 2);
        } else if (t.dtype == DType::kF32) {
          std::memcpy(dst, &v, 4);
        } else {
          const double d = v;
          std::memcpy(dst, &d, 8);
        }
      }
    }
  };
  const int n_threads = static_cast<int>(std::min<std::uint64_t>(static_cast<std::uint64_t>(std::max(1, threads)), blocks));
  std::vector<std::thread> pool;
  for (int i = 1; i < n_threads; ++i) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
}

}  // namespace

void synthesize_checkpoint(const ModelArch& arch, const std::string& out, int partitions, std::uint64_t seed,
                           std::uint64_t checksum_chunk, bool safetensors_file, int threads) {
  const std::vector<TensorSpec> layout = tensor_layout(arch);
  if (safetensors_file) {
    // Generate everything first: a safetensors file is written in one go with its header up front.
    std::vector<std::vector<std::byte>> data;
    std::vector<SafetensorsInput> inputs;
    for (const TensorSpec& t : layout) {
      if (!t.alias_of.empty()) continue;
      data.emplace_back();
      fill_tensor(t, seed, data.back(), threads);
    }
    std::size_t i = 0;
    for (const TensorSpec& t : layout) {
      if (!t.alias_of.empty()) continue;
      inputs.push_back({t.name, t.dtype, t.shape, data[i++]});
    }
    write_safetensors(out, inputs, {{"format", "pt"}, {"sllm_model", arch.name}});
    return;
  }
  std::vector<std::string> names;
  std::vector<std::uint64_t> sizes;
  for (const TensorSpec& t : layout) {
    if (!t.alias_of.empty()) continue;
    names.push_back(t.name);
    sizes.push_back(t.bytes());
  }
  const std::vector<int> part = assign_partitions(names, sizes, partitions);
  CheckpointWriter writer(out, partitions, checksum_chunk, arch.name);
  std::vector<std::byte> buf;
  std::size_t i = 0;
  for (const TensorSpec& t : layout) {
    if (!t.alias_of.empty()) {
      writer.add_alias(t.name, t.alias_of);
      continue;
    }
    fill_tensor(t, seed, buf, threads);
    writer.add(t.name, t.dtype, t.shape, part[i++], buf);
  }
  writer.finish();
}

ConvertReport convert_safetensors(const std::vector<std::string>& sources, const std::string& out, int partitions,
                                  std::uint64_t checksum_chunk) {
  if (sources.empty()) throw InputError("ckpt convert", "expected at least one .safetensors source");
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  struct Item {
    const SafetensorsFile* file;
    const SafetensorsTensor* tensor;
  };
  std::vector<Item> items;
  std::map<std::string, std::string> seen;  // name -> file
  for (const std::string& src : sources) {
    files.push_back(std::make_unique<SafetensorsFile>(src));
    for (const SafetensorsTensor& t : files.back()->header().tensors) {
      auto [it, inserted] = seen.emplace(t.name, src);
      if (!inserted) throw InputError(src + ": tensor '" + t.name + "'", "also present in " + it->second);
      items.push_back({files.back().get(), &t});
    }
  }
  // Byte-identical tensors of the same dtype and shape (tied weights saved twice) are stored once.
  std::vector<std::string> aliases_of(items.size());
  std::map<std::uint64_t, std::vector<std::size_t>> by_hash;
  std::vector<std::string> names;
  std::vector<std::uint64_t> sizes;
  ConvertReport report;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto bytes = items[i].file->bytes(*items[i].tensor);
    if (!bytes.empty()) {
      const std::uint64_t h = XXH64(bytes.data(), bytes.size(), 0);
      for (std::size_t j : by_hash[h]) {
        const auto other = items[j].file->bytes(*items[j].tensor);
        if (items[j].tensor->dtype == items[i].tensor->dtype && items[j].tensor->shape == items[i].tensor->shape &&
            std::memcmp(other.data(), bytes.data(), bytes.size()) == 0) {
          aliases_of[i] = items[j].tensor->name;
          break;
        }
      }
      if (aliases_of[i].empty()) by_hash[h].push_back(i);
    }
    if (aliases_of[i].empty()) {
      names.push_back(items[i].tensor->name);
      sizes.push_back(bytes.size());
    }
  }
  const std::vector<int> part = assign_partitions(names, sizes, partitions);
  CheckpointWriter writer(out, partitions, checksum_chunk, {});
  std::size_t stored = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const SafetensorsTensor& t = *items[i].tensor;
    if (!aliases_of[i].empty()) {
      writer.add_alias(t.name, aliases_of[i]);
      ++report.aliases;
      continue;
    }
    const auto bytes = items[i].file->bytes(t);
    writer.add(t.name, t.dtype, t.shape, part[stored++], bytes);
    ++report.tensors;
    report.bytes += bytes.size();
  }
  writer.finish();
  return report;
}

}  // namespace sllm::models
