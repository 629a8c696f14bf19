#include "sllm/models/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "checked_math.h"
#include "file_io.h"
#include "json.h"
#include "sllm/core/error.h"
#include "sllm/core/files.h"

namespace sllm::models {

namespace {
// The reference implementation refuses headers above 100 MB; so do we, before allocating. (Above the
// 64 MiB metadata cap of sllm/core/files.h on purpose: files the reference writes must stay readable.)
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
}  // namespace

SafetensorsHeader parse_safetensors_header(std::string_view json_text, std::uint64_t data_bytes, const std::string& where) {
  json::Value root;
  try {
    root = json::parse(json_text);
  } catch (const std::invalid_argument& e) {
    throw InputError(where, std::string("malformed JSON header: ") + e.what());
  }
  if (!root.is_object()) throw InputError(where, "header must be a JSON object");
  SafetensorsHeader h;
  for (const auto& [name, v] : root.members()) {
    const std::string at = where + ": tensor '" + name + "'";
    if (name == "__metadata__") {
      if (!v.is_object()) throw InputError(where + ": __metadata__", "expected an object of strings");
      for (const auto& [k, mv] : v.members()) {
        if (!mv.is_string()) throw InputError(where + ": __metadata__." + k, "expected a string");
        h.metadata[k] = mv.str();
      }
      continue;
    }
    if (!v.is_object()) throw InputError(at, "expected an object with dtype, shape and data_offsets");
    for (const auto& [k, unused] : v.members()) {
      if (k != "dtype" && k != "shape" && k != "data_offsets") throw InputError(at + "." + k, "unknown key");
    }
    const json::Value* dtype = v.get("dtype");
    const json::Value* shape = v.get("shape");
    const json::Value* offsets = v.get("data_offsets");
    if (!dtype || !shape || !offsets) throw InputError(at, "missing dtype, shape or data_offsets");
    SafetensorsTensor t;
    t.name = name;
    if (!dtype->is_string() || !parse_dtype(dtype->str(), &t.dtype) || to_string(t.dtype) != dtype->str()) {
      throw InputError(at + ".dtype", "unknown dtype " + (dtype->is_string() ? "'" + dtype->str() + "'" : std::string("(not a string)")) +
                                          " (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
    }
    if (!shape->is_array()) throw InputError(at + ".shape", "expected an array of non-negative integers");
    for (const json::Value& d : shape->items()) {
      if (!d.is_signed() || d.as_signed() < 0) throw InputError(at + ".shape", "expected an array of non-negative integers");
      t.shape.push_back(d.as_signed());
    }
    const auto bytes = checked_tensor_bytes(t.shape, dtype_size(t.dtype));
    if (!bytes) throw InputError(at + ".shape", "element count, strides or bytes do not fit in 64 bits");
    if (!offsets->is_array() || offsets->items().size() != 2 || !offsets->items()[0].is_unsigned() || !offsets->items()[1].is_unsigned()) {
      throw InputError(at + ".data_offsets", "expected [begin, end] as two non-negative integers");
    }
    t.begin = offsets->items()[0].as_unsigned();
    t.end = offsets->items()[1].as_unsigned();
    if (t.end < t.begin) throw InputError(at + ".data_offsets", "end is before begin");
    if (t.end > data_bytes) {
      throw InputError(at + ".data_offsets", "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                                                 "] is out of range: the data section has " + std::to_string(data_bytes) + " bytes");
    }
    if (t.end - t.begin != *bytes) {
      throw InputError(at + ".data_offsets", "span of " + std::to_string(t.end - t.begin) + " bytes, dtype x shape needs " +
                                                 std::to_string(*bytes));
    }
    h.tensors.push_back(std::move(t));
  }
  std::sort(h.tensors.begin(), h.tensors.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  std::uint64_t expected = 0;
  for (std::size_t i = 0; i < h.tensors.size(); ++i) {
    const SafetensorsTensor& t = h.tensors[i];
    if (t.begin < expected) {
      throw InputError(where + ": tensor '" + t.name + "'", "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                                                                "] overlap tensor '" + h.tensors[i - 1].name + "'");
    }
    if (t.begin > expected) {
      throw InputError(where + ": tensor '" + t.name + "'", "data_offsets leave a hole of " + std::to_string(t.begin - expected) +
                                                                " bytes before it (entries must tile the data section)");
    }
    expected = t.end;
  }
  if (expected != data_bytes) {
    throw InputError(where, "the data section has " + std::to_string(data_bytes) + " bytes but the tensors cover " + std::to_string(expected));
  }
  return h;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  FileHandle fd(open_regular_file(path, "safetensors file"));  // a FIFO would block, a device never end
  size_ = file_size(fd.get(), path);
  if (size_ < 8) throw InputError(path, "not a safetensors file: shorter than the 8-byte header length");
  unsigned char len_bytes[8];
  if (pread_full(fd.get(), len_bytes, 8, 0, path) != 8) throw InputError(path, "short read of the header length");
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > kMaxHeaderBytes) {
    throw InputError(path, "header length " + std::to_string(header_len) + " is larger than the 100 MB safetensors limit");
  }
  if (header_len > size_ - 8) {
    throw InputError(path, "header length " + std::to_string(header_len) + " runs past the end of the " + std::to_string(size_) + "-byte file");
  }
  std::string text(header_len, '\0');
  if (pread_full(fd.get(), text.data(), header_len, 8, path) != header_len) throw InputError(path, "short read of the header");
  header_ = parse_safetensors_header(text, size_ - 8 - header_len, path);
  header_.data_offset = 8 + header_len;
  void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (m == MAP_FAILED) throw std::runtime_error(errno_message(path, "mmap failed", errno));
  map_ = static_cast<const std::byte*>(m);
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(const_cast<std::byte*>(map_), size_);
}

std::span<const std::byte> SafetensorsFile::bytes(const SafetensorsTensor& t) const {
  return {map_ + header_.data_offset + t.begin, t.end - t.begin};
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsInput>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::string header = "{";
  bool first = true;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool f = true;
    for (const auto& [k, v] : metadata) {
      header += (f ? "" : ",") + json::quote(k) + ":" + json::quote(v);
      f = false;
    }
    header += "}";
    first = false;
  }
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    header += (first ? "" : ",") + json::quote(t.name) + ":{\"dtype\":\"" + std::string(to_string(t.dtype)) + "\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.bytes.size()) + "]}";
    offset += t.bytes.size();
    first = false;
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';
  const std::string tmp = path + ".tmp";
  {
    FileHandle fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw std::runtime_error(errno_message(tmp, "cannot create", errno));
    unsigned char len[8];
    std::uint64_t n = header.size();
    for (unsigned char& b : len) {
      b = static_cast<unsigned char>(n & 0xFF);
      n >>= 8;
    }
    write_all(fd.get(), len, 8, tmp);
    write_all(fd.get(), header.data(), header.size(), tmp);
    for (const auto& t : tensors) write_all(fd.get(), t.bytes.data(), t.bytes.size(), tmp);
    if (::fsync(fd.get()) != 0) throw std::runtime_error(errno_message(tmp, "fsync failed", errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error(errno_message(tmp, "rename failed", errno));
}

}  // namespace sllm::models
