// Test fixtures for the checkpoint and loader tests: temporary directories and safetensors files built
// by hand (header JSON and bytes written here, independently of the library's writer), with tensor
// bytes from a closed-form pattern so that expected contents are known without the code under test.
#pragma once

#include <unistd.h>

// Header-only reference xxHash, independent of the library's use of it.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace sllm::test {

class TempDir {
 public:
  explicit TempDir(const std::string& base = std::filesystem::temp_directory_path().string()) {
    std::random_device rd;
    path_ = base + "/sllm-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()) + std::to_string(rd());
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Byte i of the tensor with pattern `seed`: a closed form the tests recompute independently.
inline unsigned char pattern_byte(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull;
  z ^= z >> 29;
  return static_cast<unsigned char>(z * 0x94D049BB133111EBull >> 56);
}

inline std::vector<unsigned char> pattern(std::uint64_t seed, std::uint64_t bytes) {
  std::vector<unsigned char> out(bytes);
  for (std::uint64_t i = 0; i < bytes; ++i) out[i] = pattern_byte(seed, i);
  return out;
}

struct FixtureTensor {
  std::string name;
  std::string dtype;  // safetensors spelling
  std::vector<std::int64_t> shape;
  std::size_t element_size;
  std::vector<unsigned char> bytes;
};

inline std::uint64_t elements(const std::vector<std::int64_t>& shape) {
  std::uint64_t n = 1;
  for (auto d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

inline FixtureTensor fixture_tensor(const std::string& name, const std::string& dtype, std::size_t element_size,
                                    std::vector<std::int64_t> shape, std::uint64_t seed) {
  const std::uint64_t bytes = elements(shape) * element_size;
  return {name, dtype, shape, element_size, pattern(seed, bytes)};
}

// Writes a raw file: 8-byte little-endian header length, the header text as given, then `data`.
inline void write_raw_safetensors(const std::string& path, const std::string& header, const std::vector<unsigned char>& data,
                                  std::uint64_t declared_length) {
  std::ofstream f(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((declared_length >> (8 * i)) & 0xFF));
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// A well-formed safetensors file of `tensors`, in order.
inline void write_fixture_safetensors(const std::string& path, const std::vector<FixtureTensor>& tensors) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::vector<unsigned char> data;
  for (const auto& t : tensors) {
    header += ",\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(data.size()) + "," + std::to_string(data.size() + t.bytes.size()) + "]}";
    data.insert(data.end(), t.bytes.begin(), t.bytes.end());
  }
  header += "}";
  write_raw_safetensors(path, header, data, header.size());
}

inline void flip_byte(const std::string& path, std::uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5A));
}

inline std::string read_whole_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline void write_whole_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// index.json's own checksum as docs/checkpoint-format.md specifies it, computed here from the spec and
// the reference xxHash: XXH64 (seed 0) of the file with the 16 digits of "index_xxh64" read as '0's.
// Rewrites the stored digest so that a test's deliberate edit of an index reaches the check it targets
// instead of stopping at the checksum. An index without "index_xxh64" (version 1) is left as it is.
inline void reseal_index(const std::string& path) {
  std::string text = read_whole_file(path);
  const std::string key = "\"index_xxh64\": \"";
  std::size_t at = text.rfind(key);
  if (at == std::string::npos) return;
  at += key.size();
  text.replace(at, 16, std::string(16, '0'));
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(XXH64(text.data(), text.size(), 0)));
  text.replace(at, 16, hex);
  write_whole_file(path, text);
}

// Replaces the first occurrence of `from` in the index with `to` and reseals it; false when absent.
inline bool edit_index(const std::string& path, const std::string& from, const std::string& to) {
  std::string text = read_whole_file(path);
  const std::size_t at = text.find(from);
  if (at == std::string::npos) return false;
  text.replace(at, from.size(), to);
  write_whole_file(path, text);
  reseal_index(path);
  return true;
}

}  // namespace sllm::test
