#include "sllm/traces/input.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "sllm/core/error.h"

namespace sllm::traces {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw InputError(path, what + ": " + std::strerror(errno));
}

// An unlinked temporary file: it disappears when its descriptor is closed, whatever happens.
int unlinked_temporary(const std::string& for_path) {
  std::string name = (std::filesystem::temp_directory_path() / "sllm_trace_XXXXXX").string();
  const int fd = ::mkstemp(name.data());
  if (fd < 0) fail(for_path, "cannot create a temporary copy of the (non-seekable) input");
  ::unlink(name.c_str());
  return fd;
}

void write_all(int fd, const char* data, std::size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t w = ::write(fd, data, size);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail(path, "cannot write the temporary copy of the input");
    data += w;
    size -= static_cast<std::size_t>(w);
  }
}

}  // namespace

std::shared_ptr<const TraceInput> TraceInput::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open trace file");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail(path, "cannot stat trace file");
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw InputError(path, "cannot open trace file: is a directory");
  }
  if (S_ISREG(st.st_mode)) return std::shared_ptr<const TraceInput>(new TraceInput(path, fd, false));
  // Not seekable (or not reliably so): read it exactly once, into a copy every pass can read.
  int copy = -1;
  try {
    copy = unlinked_temporary(path);
    std::vector<char> buffer(std::size_t{1} << 20);
    for (;;) {
      const ssize_t r = ::read(fd, buffer.data(), buffer.size());
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) fail(path, "read error");
      if (r == 0) break;
      write_all(copy, buffer.data(), static_cast<std::size_t>(r), path);
    }
  } catch (...) {
    ::close(fd);
    if (copy >= 0) ::close(copy);
    throw;
  }
  ::close(fd);
  return std::shared_ptr<const TraceInput>(new TraceInput(path, copy, true));
}

TraceInput::~TraceInput() {
  if (fd_ >= 0) ::close(fd_);
}

std::size_t TraceInput::read_at(char* buffer, std::size_t size, std::uint64_t offset) const {
  for (;;) {
    const ssize_t r = ::pread(fd_, buffer, size, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(path_, "read error");
    return static_cast<std::size_t>(r);
  }
}

}  // namespace sllm::traces
