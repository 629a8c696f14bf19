// Thin POSIX file helpers shared by the checkpoint writer, the safetensors reader and the loader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sllm::models {

// Owns a file descriptor.
class FileHandle {
 public:
  FileHandle() = default;
  explicit FileHandle(int fd) : fd_(fd) {}
  ~FileHandle();
  FileHandle(FileHandle&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileHandle& operator=(FileHandle&& o) noexcept;
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// "path: what: strerror(errno)"
std::string errno_message(const std::string& path, const std::string& what, int err);

// Reads exactly `bytes` at `offset` (looping over partial reads). Returns the number of bytes read,
// which is less than `bytes` only at end of file; throws std::runtime_error on an I/O error.
std::uint64_t pread_full(int fd, void* buf, std::uint64_t bytes, std::uint64_t offset, const std::string& path);
void write_all(int fd, const void* buf, std::uint64_t bytes, const std::string& path);
std::uint64_t file_size(int fd, const std::string& path);

std::string hex64(std::uint64_t v);  // 16 lowercase hex digits
bool parse_hex64(const std::string& s, std::uint64_t* out);

}  // namespace sllm::models
