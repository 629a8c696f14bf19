#include "reads.h"

#include <liburing.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "file_io.h"
#include "sllm/core/error.h"

namespace sllm::models {

void Failure::rethrow() const {
  if (input_error_) throw InputError(message_);
  throw std::runtime_error(message_);
}

std::string range_where(const std::string& path, const CheckpointIndex& index, int partition, std::uint64_t begin,
                        std::uint64_t end) {
  return path + " (partition " + std::to_string(partition) + ", bytes " + std::to_string(begin) + ".." +
         std::to_string(end) + ", " + index.tensors_in(partition, begin, end) + ")";
}

namespace {

std::string job_where(const ReadJob& job, const OpenPartition& f, const CheckpointIndex& index) {
  return range_where(f.path, index, job.partition, job.offset, job.offset + job.length);
}

// Blocking reads: one job at a time per thread, its requests one after another.
void thread_reader(std::atomic<std::size_t>& next, const ReadPlan& plan, const std::vector<ReadJob>& jobs,
                   const std::vector<OpenPartition>& files, const CheckpointIndex& index, const ReadCallbacks& cb,
                   Failure& failure) {
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
      while (got < job.length) {
        const std::uint64_t want = std::min(plan.request_bytes, job.length - got);
        const std::uint64_t n = pread_full(f.fd.get(), buf + got, want, job.offset + got, f.path);
        if (n < want) {  // end of file
          got += n;
          break;
        }
        if (cb.landed && !cb.landed(job, buf, got, n)) {
          cb.abandon(job, slot);
          return;
        }
        got += n;
      }
    } catch (const std::exception& e) {
      cb.abandon(job, slot);
      failure.set(job_where(job, f, index) + ": " + e.what(), false);
      return;
    }
    cb.complete(job, buf, slot, got);
  }
}

// The first free entry of a fixed table; the tables are sized so that one always is.
template <typename T, typename IsFree>
T* free_slot(std::vector<T>& table, IsFree is_free, const char* what) {
  const auto it = std::find_if(table.begin(), table.end(), is_free);
  if (it == table.end()) throw std::logic_error(std::string("io_uring reader: no free ") + what + " slot");
  return &*it;
}

// io_uring: up to `depth` requests in flight, taken from the current job until it is all submitted, then
// from the next. A job completes when its last request does.
void uring_reader(std::atomic<std::size_t>& next, const ReadPlan& plan, const std::vector<ReadJob>& jobs,
                  const std::vector<OpenPartition>& files, const CheckpointIndex& index, const ReadCallbacks& cb,
                  Failure& failure) {
  const int depth = std::max(1, plan.queue_depth);
  io_uring ring{};
  if (const int rc = io_uring_queue_init(static_cast<unsigned>(depth), &ring, 0); rc < 0) {
    failure.set(std::string("io_uring setup failed: ") + std::strerror(-rc), false);
    return;
  }
  struct Job {
    const ReadJob* job = nullptr;
    std::byte* buf = nullptr;
    std::int64_t slot = -1;
    std::uint64_t submitted = 0;  // bytes handed to requests so far
    int outstanding = 0;          // requests in flight
    std::uint64_t got = 0;        // bytes before the first short request (end of file) or the whole job
    bool error = false;
    bool open = false;
  };
  struct Request {
    Job* job = nullptr;
    std::uint64_t offset = 0;  // within the job
    std::uint64_t length = 0;
    std::uint64_t done = 0;
    bool busy = false;
  };
  // At most `depth` jobs have requests in flight, plus the one being submitted.
  std::vector<Job> open_jobs(static_cast<std::size_t>(depth) + 1);
  std::vector<Request> requests(static_cast<std::size_t>(depth));
  Job* filling = nullptr;  // the job whose requests are being submitted
  int in_flight = 0;
  const ReadJob* pending = nullptr;
  auto submit = [&](Request& r) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    // Cannot happen: at most `depth` requests are in flight and the ring has `depth` entries.
    if (!sqe) throw std::logic_error("io_uring submission queue full");
    const ReadJob& job = *r.job->job;
    io_uring_prep_read(sqe, files[static_cast<std::size_t>(job.partition)].fd.get(), r.job->buf + r.offset + r.done,
                       static_cast<unsigned>(r.length - r.done), job.offset + r.offset + r.done);
    io_uring_sqe_set_data(sqe, &r);
  };
  // A finished job's callback (the chunk's checksums) runs only after the ring has been refilled, so that
  // the disk is never left without this thread's requests while it runs. Finished jobs are copied out of
  // open_jobs, whose entry is free again at once.
  std::vector<Job> finished;
  finished.reserve(open_jobs.size());
  auto finish_if_done = [&](Job& j) {
    if (j.outstanding > 0 || (&j == filling && j.submitted < j.job->length && !j.error && !failure.failed())) return;
    if (&j == filling) filling = nullptr;
    j.open = false;
    finished.push_back(j);
  };
  auto run_finished = [&] {
    for (const Job& f : finished) {
      if (f.error || failure.failed()) cb.abandon(*f.job, f.slot);
      else cb.complete(*f.job, f.buf, f.slot, f.got);
    }
    finished.clear();
  };
  while (true) {
    // Fill the ring; block for a buffer only when nothing is in flight and no finished job holds one (a
    // held buffer could be the one another stage is waiting for).
    bool submitted = false;
    while (in_flight < depth && !failure.failed()) {
      if (!filling) {
        if (!pending) {
          const std::size_t i = next.fetch_add(1);
          if (i >= jobs.size()) break;
          pending = &jobs[i];
        }
        std::byte* buf = nullptr;
        std::int64_t slot = -1;
        if (!cb.acquire(*pending, in_flight == 0 && finished.empty(), &buf, &slot)) break;
        Job* j = free_slot(open_jobs, [](const Job& o) { return !o.open; }, "job");
        *j = Job{pending, buf, slot, 0, 0, pending->length, false, true};
        pending = nullptr;
        filling = j;
        if (j->job->length == 0) {
          finish_if_done(*j);
          continue;
        }
      }
      Request* r = free_slot(requests, [](const Request& o) { return !o.busy; }, "request");
      const std::uint64_t len = std::min(plan.request_bytes, filling->job->length - filling->submitted);
      *r = Request{filling, filling->submitted, len, 0, true};
      filling->submitted += len;
      ++filling->outstanding;
      if (filling->submitted == filling->job->length) filling = nullptr;
      submit(*r);
      ++in_flight;
      submitted = true;
    }
    if (in_flight == 0) {
      if (!finished.empty()) {  // their buffers may be the ones the next job waits for
        run_finished();
        continue;
      }
      if (filling) finish_if_done(*filling);  // a failure stopped its submission
      run_finished();
      break;
    }
    if (submitted) io_uring_submit(&ring);
    run_finished();
    io_uring_cqe* cqe = nullptr;
    int rc = io_uring_wait_cqe(&ring, &cqe);
    if (rc == -EINTR) continue;
    if (rc < 0) {
      failure.set(std::string("io_uring wait failed: ") + std::strerror(-rc), false);
      // Nothing more can be reaped reliably; give the buffers back only after the kernel is done with them.
      io_uring_queue_exit(&ring);
      for (auto& j : open_jobs) {
        if (j.open) cb.abandon(*j.job, j.slot);
      }
      run_finished();
      return;
    }
    bool resubmit = false;
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      Request& r = *static_cast<Request*>(io_uring_cqe_get_data(cqe));
      Job& j = *r.job;
      const int res = cqe->res;
      if (res == -EINTR || res == -EAGAIN) {
        submit(r);
        resubmit = true;
        continue;
      }
      if (res > 0) {
        r.done += static_cast<std::uint64_t>(res);
        if (r.done < r.length) {  // partial read: ask for the rest
          submit(r);
          resubmit = true;
          continue;
        }
        if (cb.landed && !j.error && !failure.failed() && !cb.landed(*j.job, j.buf, r.offset, r.length)) j.error = true;
      } else if (res == 0) {
        j.got = std::min(j.got, r.offset + r.done);  // end of file inside this request
      } else {
        j.error = true;
        failure.set(job_where(*j.job, files[static_cast<std::size_t>(j.job->partition)], index) +
                        ": read failed: " + std::strerror(-res),
                    false);
      }
      r.busy = false;
      --in_flight;
      --j.outstanding;
      finish_if_done(j);
    }
    io_uring_cq_advance(&ring, seen);
    if (resubmit) io_uring_submit(&ring);
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

void run_reads(const ReadPlan& plan, const std::vector<ReadJob>& jobs, const std::vector<OpenPartition>& files,
               const CheckpointIndex& index, const ReadCallbacks& cb, Failure& failure) {
  if (plan.request_bytes == 0 || plan.request_bytes % 4096 != 0) {
    throw std::logic_error("read request size must be a positive multiple of 4 KiB");
  }
  if (plan.backend == IoBackend::kAuto) throw std::logic_error("run_reads: the I/O backend must be chosen first");
  std::atomic<std::size_t> next{0};
  const int n = std::max(1, std::min<int>(plan.threads, static_cast<int>(std::max<std::size_t>(jobs.size(), 1))));
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(n));
  for (int t = 0; t < n; ++t) {
    if (plan.backend == IoBackend::kUring) {
      pool.emplace_back(uring_reader, std::ref(next), std::cref(plan), std::cref(jobs), std::cref(files), std::cref(index),
                        std::cref(cb), std::ref(failure));
    } else {
      pool.emplace_back(thread_reader, std::ref(next), std::cref(plan), std::cref(jobs), std::cref(files), std::cref(index),
                        std::cref(cb), std::ref(failure));
    }
  }
  for (auto& t : pool) t.join();
}

// ---------------------------------------------------------------------------------------------------------
// Choosing the readers' parallelism from the host and the storage

std::string_view to_string(StorageMedium m) {
  switch (m) {
    case StorageMedium::kMemory: return "memory";
    case StorageMedium::kSolidState: return "solid-state";
    case StorageMedium::kRotational: return "rotational";
    case StorageMedium::kUnknown: return "unknown";
  }
  return "?";
}

namespace {

namespace fs = std::filesystem;

// blk-mq hardware queues of a whole disk (/sys/block/X): the entries of its mq/ folder; for a RAID (md)
// or device-mapper device, the sum over the disks it is built on (slaves/).
int hw_queues_of(const fs::path& disk, int depth = 0) {
  std::error_code ec;
  int n = 0;
  for (const auto& e : fs::directory_iterator(disk / "mq", ec)) n += e.is_directory(ec) ? 1 : 0;
  if (n > 0 || depth > 3) return n;
  for (const auto& e : fs::directory_iterator(disk / "slaves", ec)) {
    const fs::path member = fs::canonical(e.path(), ec);
    if (ec) continue;
    // A member may be a partition: its disk is the folder above it.
    n += hw_queues_of(fs::exists(member / "partition") ? member.parent_path() : member, depth + 1);
  }
  return n;
}

}  // namespace

StorageInfo probe_storage(const std::string& path) {
  StorageInfo info;
  struct statfs sfs {};
  if (::statfs(path.c_str(), &sfs) == 0) {
    constexpr long kTmpfsMagic = 0x01021994, kRamfsMagic = static_cast<long>(0x858458f6);
    if (static_cast<long>(sfs.f_type) == kTmpfsMagic || static_cast<long>(sfs.f_type) == kRamfsMagic) {
      info.medium = StorageMedium::kMemory;
      info.device = "tmpfs";
      return info;
    }
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || major(st.st_dev) == 0) return info;  // anonymous: overlay, NFS, FUSE
  std::error_code ec;
  fs::path dev = fs::canonical("/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)), ec);
  if (ec) return info;
  if (fs::exists(dev / "partition", ec)) dev = dev.parent_path();
  info.device = dev.filename().string();
  std::ifstream rot(dev / "queue" / "rotational");
  int rotational = -1;
  if (rot >> rotational) info.medium = rotational ? StorageMedium::kRotational : StorageMedium::kSolidState;
  info.hw_queues = hw_queues_of(dev);
  return info;
}

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

IoBackend choose_io_backend(const StorageInfo& storage) {
  return storage.medium == StorageMedium::kMemory ? IoBackend::kThreads : IoBackend::kUring;
}

int choose_read_threads(const StorageInfo& storage, int cpus) {
  cpus = std::max(1, cpus);
  switch (storage.medium) {
    case StorageMedium::kMemory: return cpus;
    case StorageMedium::kSolidState: return std::min(cpus, std::max(4, storage.hw_queues));
    case StorageMedium::kRotational: return 1;
    case StorageMedium::kUnknown: return std::min(cpus, 4);
  }
  return 1;
}

}  // namespace sllm::models
