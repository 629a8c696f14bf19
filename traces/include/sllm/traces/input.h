// A trace file opened once and shared by every pass over it (format detection, rank mapping's counting
// pass, the replay, and the Azure Functions 2019 reader's per-row cursors). Each pass reads with pread at
// its own offsets, so passes never disturb one another.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace sllm::traces {

class TraceInput {
 public:
  // Opens `path` once. A regular file is read in place. Anything else (a pipe, /dev/stdin, a FIFO) can
  // be read only once, so it is copied once, as it is read, into an unlinked temporary file (in
  // $TMPDIR), which then serves every pass: the disk it takes equals the input's size. InputError when
  // the path cannot be opened or read.
  static std::shared_ptr<const TraceInput> open(const std::string& path);
  ~TraceInput();
  TraceInput(const TraceInput&) = delete;
  TraceInput& operator=(const TraceInput&) = delete;

  const std::string& path() const { return path_; }  // as given, for error messages
  int fd() const { return fd_; }                      // read it with pread only (shared)
  bool copied() const { return copied_; }             // a non-seekable input copied to a temporary file

  // Reads up to `size` bytes at `offset`; returns the count (0 at the end). InputError on a read error.
  std::size_t read_at(char* buffer, std::size_t size, std::uint64_t offset) const;

 private:
  TraceInput(std::string path, int fd, bool copied) : path_(std::move(path)), fd_(fd), copied_(copied) {}
  std::string path_;
  int fd_ = -1;
  bool copied_ = false;
};

}  // namespace sllm::traces
