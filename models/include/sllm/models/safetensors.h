// Reading and writing Hugging Face safetensors files: 8-byte little-endian header length N, N bytes of
// JSON header ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}), then
// the tensor bytes (offsets relative to the start of that data).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/core/model_arch.h"

namespace sllm::models {

struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::kF16;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // relative to the data section
  std::uint64_t end = 0;
};

struct SafetensorsHeader {
  std::uint64_t data_offset = 0;  // 8 + header length: where the data section starts in the file
  std::vector<SafetensorsTensor> tensors;  // in data order
  std::map<std::string, std::string> metadata;
};

// Validates a header as the reference implementation does: every entry has a known dtype, a shape and
// [begin, end] offsets that match dtype x shape; entries tile the data section exactly (no overlap, no
// hole, nothing past its end). `where` names the file in InputErrors.
SafetensorsHeader parse_safetensors_header(std::string_view json_text, std::uint64_t data_bytes, const std::string& where);

// A safetensors file mapped read-only.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // InputError on a malformed file
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const SafetensorsHeader& header() const { return header_; }
  std::span<const std::byte> bytes(const SafetensorsTensor& t) const;

 private:
  std::string path_;
  SafetensorsHeader header_;
  const std::byte* map_ = nullptr;
  std::uint64_t size_ = 0;
};

struct SafetensorsInput {
  std::string name;
  DType dtype = DType::kF16;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;
};

// Writes a safetensors file (header padded with spaces to a multiple of 8 bytes, as the reference
// writer does) to a temporary name and renames it when complete.
void write_safetensors(const std::string& path, const std::vector<SafetensorsInput>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace sllm::models
