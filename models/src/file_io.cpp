#include "file_io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace sllm::models {

FileHandle::~FileHandle() {
  if (fd_ >= 0) ::close(fd_);
}

FileHandle& FileHandle::operator=(FileHandle&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

std::string errno_message(const std::string& path, const std::string& what, int err) {
  return path + ": " + what + ": " + std::strerror(err);
}

std::uint64_t pread_full(int fd, void* buf, std::uint64_t bytes, std::uint64_t offset, const std::string& path) {
  auto* p = static_cast<char*>(buf);
  std::uint64_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::pread(fd, p + done, bytes - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(errno_message(path, "read of " + std::to_string(bytes) + " bytes at offset " +
                                                       std::to_string(offset) + " failed", errno));
    }
    if (n == 0) break;
    done += static_cast<std::uint64_t>(n);
  }
  return done;
}

void write_all(int fd, const void* buf, std::uint64_t bytes, const std::string& path) {
  const auto* p = static_cast<const char*>(buf);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(errno_message(path, "write failed", errno));
    }
    p += n;
    bytes -= static_cast<std::uint64_t>(n);
  }
}

std::uint64_t file_size(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw std::runtime_error(errno_message(path, "stat failed", errno));
  return static_cast<std::uint64_t>(st.st_size);
}

std::string hex64(std::uint64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i) {
    s[static_cast<std::size_t>(i)] = kHex[v & 0xF];
    v >>= 4;
  }
  return s;
}

bool parse_hex64(const std::string& s, std::uint64_t* out) {
  if (s.size() != 16) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= static_cast<std::uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint64_t>(c - 'a' + 10);
    else return false;
  }
  *out = v;
  return true;
}

}  // namespace sllm::models
