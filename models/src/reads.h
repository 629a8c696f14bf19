// The SSD tier: reads a list of byte ranges of partition files with O_DIRECT, on a pool of threads with
// blocking pread or with io_uring (each I/O thread keeps queue_depth requests in flight). A job (a pool
// chunk) is sent to the device as requests of at most request_bytes: the chunk is the unit of caching and
// copying, the request the unit the device is asked to serve. A finished job's callback runs on its I/O
// thread (io_uring: after the thread has refilled its ring, so the disk stays busy meanwhile).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "file_io.h"
#include "sllm/models/loader.h"

namespace sllm::models {

// First failure of a load; the rest of the pipeline stops taking new work once it is set.
class Failure {
 public:
  void set(const std::string& message, bool input_error) {
    std::lock_guard lock(mu_);
    if (failed_.load()) return;
    message_ = message;
    input_error_ = input_error;
    failed_.store(true);
  }
  bool failed() const { return failed_.load(); }
  const std::atomic<bool>& flag() const { return failed_; }
  [[noreturn]] void rethrow() const;

 private:
  std::atomic<bool> failed_{false};
  std::mutex mu_;
  std::string message_;
  bool input_error_ = false;
};

struct ReadJob {
  int partition = 0;
  std::uint64_t index = 0;   // chunk index within the partition
  std::uint64_t offset = 0;  // byte offset within the partition
  std::uint64_t length = 0;
};

struct ReadCallbacks {
  // Where to read `job` into; false = none now (may_block false) or the load failed. `slot` is the
  // caller's handle for the buffer (pool slot), passed back below.
  std::function<bool(const ReadJob& job, bool may_block, std::byte** buffer, std::int64_t* slot)> acquire;
  // The read finished with `got` bytes (got < job.length: end of file). Runs on the I/O thread.
  std::function<void(const ReadJob& job, std::byte* buffer, std::int64_t slot, std::uint64_t got)> complete;
  // The read failed or was abandoned after a failure: give the buffer back.
  std::function<void(const ReadJob& job, std::int64_t slot)> abandon;
  // Optional: each request of a job once all its bytes have landed, on the I/O thread that read it, while
  // they are still in that core's cache: bytes [at, at + bytes) of the job, at `buffer + at`. Requests of a
  // job may land in any order; a short request (end of file) is not passed. False refuses the bytes: the
  // job is abandoned (the callback has recorded the failure).
  std::function<bool(const ReadJob& job, std::byte* buffer, std::uint64_t at, std::uint64_t bytes)> landed;
};

// A partition file open for reading; jobs name it by their partition number (its index in the list).
struct OpenPartition {
  FileHandle fd;
  std::string path;
};

struct ReadPlan {
  IoBackend backend = IoBackend::kUring;
  int threads = 1;
  int queue_depth = 1;             // io_uring requests in flight per thread
  std::uint64_t request_bytes = 0; // multiple of 4 KiB (O_DIRECT)
};

// The plan a loader's options describe, on `backend` (theirs, or the fallback when io_uring is missing).
inline ReadPlan read_plan(const LoaderOptions& o, IoBackend backend) { return {backend, o.threads, o.queue_depth, o.request_bytes}; }

// "PATH (partition P, bytes B..E, TENSORS)": where a byte range of a partition is, for error messages.
std::string range_where(const std::string& path, const CheckpointIndex& index, int partition, std::uint64_t begin,
                        std::uint64_t end);

// Runs every job; failures go to `failure` (messages name partition, bytes and tensors via `ckpt`).
void run_reads(const ReadPlan& plan, const std::vector<ReadJob>& jobs, const std::vector<OpenPartition>& files,
               const CheckpointIndex& index, const ReadCallbacks& cb, Failure& failure);

// True when this kernel lets us set up an io_uring (gVisor or seccomp may refuse).
bool uring_available();

}  // namespace sllm::models
