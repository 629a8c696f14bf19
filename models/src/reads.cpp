#include "reads.h"

#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "file_io.h"
#include "sllm/sim/error.h"

namespace sllm::models {

void Failure::rethrow() const {
  if (input_error_) throw InputError(message_);
  throw std::runtime_error(message_);
}

namespace {

std::string job_where(const ReadJob& job, const OpenPartition& f, const CheckpointIndex& index) {
  return f.path + " (partition " + std::to_string(job.partition) + ", bytes " + std::to_string(job.offset) + ".." +
         std::to_string(job.offset + job.length) + ", " + index.tensors_in(job.partition, job.offset, job.offset + job.length) + ")";
}

void thread_reader(std::atomic<std::size_t>& next, const std::vector<ReadJob>& jobs, const std::vector<OpenPartition>& files,
                   const CheckpointIndex& index, const ReadCallbacks& cb, Failure& failure) {
  while (!failure.failed()) {
    const std::size_t i = next.fetch_add(1);
    if (i >= jobs.size()) return;
    const ReadJob& job = jobs[i];
    std::byte* buf = nullptr;
    std::int64_t slot = -1;
    if (!cb.acquire(job, true, &buf, &slot)) return;
    const OpenPartition& f = files[static_cast<std::size_t>(job.partition)];
    std::uint64_t got = 0;
    try {
      got = pread_full(f.fd, buf, job.length, job.offset, f.path);
    } catch (const std::exception& e) {
      cb.abandon(job, slot);
      failure.set(job_where(job, f, index) + ": " + e.what(), false);
      return;
    }
    cb.complete(job, buf, slot, got);
  }
}

void uring_reader(std::atomic<std::size_t>& next, int depth, const std::vector<ReadJob>& jobs,
                  const std::vector<OpenPartition>& files, const CheckpointIndex& index, const ReadCallbacks& cb,
                  Failure& failure) {
  io_uring ring{};
  if (const int rc = io_uring_queue_init(static_cast<unsigned>(depth), &ring, 0); rc < 0) {
    failure.set(std::string("io_uring setup failed: ") + std::strerror(-rc), false);
    return;
  }
  struct Op {
    const ReadJob* job = nullptr;
    std::byte* buf = nullptr;
    std::int64_t slot = -1;
    std::uint64_t done = 0;
    bool busy = false;
  };
  std::vector<Op> ops(static_cast<std::size_t>(depth));
  int in_flight = 0;
  const ReadJob* pending = nullptr;
  auto submit = [&](Op& op) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    // Cannot happen: at most `depth` reads are in flight and the ring has `depth` entries.
    if (!sqe) throw std::logic_error("io_uring submission queue full");
    const OpenPartition& f = files[static_cast<std::size_t>(op.job->partition)];
    io_uring_prep_read(sqe, f.fd, op.buf + op.done, static_cast<unsigned>(op.job->length - op.done), op.job->offset + op.done);
    io_uring_sqe_set_data(sqe, &op);
  };
  while (true) {
    // Fill the queue; block for a buffer only when nothing is in flight (a held buffer could be the
    // one another stage is waiting for).
    bool submitted = false;
    while (in_flight < depth && !failure.failed()) {
      if (!pending) {
        const std::size_t i = next.fetch_add(1);
        if (i >= jobs.size()) break;
        pending = &jobs[i];
      }
      std::byte* buf = nullptr;
      std::int64_t slot = -1;
      if (!cb.acquire(*pending, in_flight == 0, &buf, &slot)) break;
      Op* op = nullptr;
      for (auto& o : ops) {
        if (!o.busy) {
          op = &o;
          break;
        }
      }
      if (!op) throw std::logic_error("io_uring reader: no free operation slot");
      *op = Op{pending, buf, slot, 0, true};
      pending = nullptr;
      submit(*op);
      ++in_flight;
      submitted = true;
    }
    if (in_flight == 0) break;
    if (submitted) io_uring_submit(&ring);
    io_uring_cqe* cqe = nullptr;
    int rc = io_uring_wait_cqe(&ring, &cqe);
    if (rc == -EINTR) continue;
    if (rc < 0) {
      failure.set(std::string("io_uring wait failed: ") + std::strerror(-rc), false);
      // Nothing more can be reaped reliably; give the buffers back only after the kernel is done with them.
      io_uring_queue_exit(&ring);
      for (auto& o : ops) {
        if (o.busy) cb.abandon(*o.job, o.slot);
      }
      return;
    }
    bool resubmit = false;
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      Op& op = *static_cast<Op*>(io_uring_cqe_get_data(cqe));
      const int res = cqe->res;
      const OpenPartition& f = files[static_cast<std::size_t>(op.job->partition)];
      if (res == -EINTR || res == -EAGAIN) {
        submit(op);
        resubmit = true;
        continue;
      }
      if (res < 0) {
        op.busy = false;
        --in_flight;
        cb.abandon(*op.job, op.slot);
        failure.set(job_where(*op.job, f, index) + ": read failed: " + std::strerror(-res), false);
        continue;
      }
      op.done += static_cast<std::uint64_t>(res);
      if (res > 0 && op.done < op.job->length) {  // partial read: ask for the rest
        submit(op);
        resubmit = true;
        continue;
      }
      op.busy = false;
      --in_flight;
      if (failure.failed()) cb.abandon(*op.job, op.slot);
      else cb.complete(*op.job, op.buf, op.slot, op.done);
    }
    io_uring_cq_advance(&ring, seen);
    if (resubmit) io_uring_submit(&ring);
    if (failure.failed() && in_flight == 0) break;
  }
  io_uring_queue_exit(&ring);
}

}  // namespace

bool uring_available() {
  io_uring ring{};
  if (io_uring_queue_init(2, &ring, 0) < 0) return false;
  io_uring_queue_exit(&ring);
  return true;
}

void run_reads(IoBackend backend, int threads, int queue_depth, const std::vector<ReadJob>& jobs,
               const std::vector<OpenPartition>& files, const CheckpointIndex& index, const ReadCallbacks& cb,
               Failure& failure) {
  std::atomic<std::size_t> next{0};
  const int n = std::max(1, std::min<int>(threads, static_cast<int>(std::max<std::size_t>(jobs.size(), 1))));
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(n));
  for (int t = 0; t < n; ++t) {
    if (backend == IoBackend::kUring) {
      pool.emplace_back(uring_reader, std::ref(next), std::max(1, queue_depth), std::cref(jobs), std::cref(files), std::cref(index),
                        std::cref(cb), std::ref(failure));
    } else {
      pool.emplace_back(thread_reader, std::ref(next), std::cref(jobs), std::cref(files), std::cref(index), std::cref(cb),
                        std::ref(failure));
    }
  }
  for (auto& t : pool) t.join();
}

}  // namespace sllm::models
