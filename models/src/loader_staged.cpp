// The staged steps of the paper's ablation (loader modes bulk, direct, threads and pinned): each
// partition is read whole into one staging buffer, then copied to its destination.
#include <algorithm>
#include <new>
#include <stdexcept>

#include "loader_internal.h"
#include "sllm/core/units.h"

namespace sllm::models::detail {

// Steps 2-5 of the ablation: each partition is read whole into one staging buffer, then copied. Each step
// changes one thing:
//   bulk:    one reader, buffered read() calls of kLargeRead bytes: the kernel's read-ahead runs ahead.
//   direct:  one reader, O_DIRECT, with as many requests in flight as all the `threads` readers of the next
//            step together (threads x queue depth): it loses read-ahead, so it must keep the disk busy
//            itself; a lone blocking reader would measure request latency, not the page cache this step
//            removes. Chunk-sized jobs so that checking one chunk's checksums is a short stall.
//   threads: the same requests in flight, spread over `threads` readers that check checksums in parallel.
//   pinned:  threads into the pinned pool instead of pageable memory.
void load_staged(LoadContext& ctx, StagedStep mode) {
  LoadContext::State& cx = ctx.state();
  const std::vector<OpenPartition>& files = cx.files;
  Failure& failure = cx.failure;
  constexpr std::uint64_t kLargeRead = 256ull << 20;
  const std::uint64_t chunk =
      mode == StagedStep::kBulk ? std::max(cx.lo.chunk_bytes, kLargeRead / cx.lo.chunk_bytes * cx.lo.chunk_bytes) : cx.lo.chunk_bytes;
  ReadPlan plan = mode == StagedStep::kBulk ? ReadPlan{IoBackend::kThreads, 1, 1, chunk} : read_plan(cx.lo, cx.io);
  if (mode == StagedStep::kDirect) {  // (blocking reads have one request in flight whatever the depth)
    if (plan.backend == IoBackend::kUring) plan.queue_depth *= plan.threads;
    plan.threads = 1;
  }
  if (mode == StagedStep::kPinned) cx.pool.clear();  // its memory becomes the staging buffer
  for (std::size_t p = 0; p < cx.ck.index.partitions.size(); ++p) {
    const std::uint64_t bytes = cx.ck.index.partitions[p].bytes;
    std::unique_ptr<std::byte[]> pageable;
    AlignedBuffer aligned;
    std::byte* staging = nullptr;
    std::uint64_t window = bytes;
    if (mode == StagedStep::kBulk) {
      pageable.reset(new (std::nothrow) std::byte[std::max<std::uint64_t>(bytes, 1)]);
      if (!pageable) throw std::runtime_error("cannot allocate " + format_bytes(bytes) + " of host memory for " + files[p].path);
      staging = pageable.get();
    } else if (mode == StagedStep::kPinned) {
      staging = cx.pool.region();
      window = cx.pool.region_bytes();
    } else {
      aligned = aligned_buffer(bytes, files[p].path);
      staging = aligned.get();
    }
    for (std::uint64_t w = 0; w < bytes; w += window) {
      const std::uint64_t len = std::min(window, bytes - w);
      std::vector<ReadJob> jobs;
      add_chunk_jobs(jobs, static_cast<int>(p), w, w + len, chunk);
      ReadCallbacks cb;
      cb.acquire = [&](const ReadJob& job, bool, std::byte** buf, std::int64_t* slot) {
        *buf = staging + (job.offset - w);
        *slot = -1;
        return !failure.failed();
      };
      cb.complete = [&](const ReadJob& job, std::byte* buf, std::int64_t, std::uint64_t got) {
        if (got < job.length) return failure.set(short_read(cx.ck, job, got), true);
        if (cx.opts.verify) {
          const std::string bad = ctx.verify(job.partition, job.offset, buf, job.length);
          if (!bad.empty()) failure.set(bad, true);
        }
      };
      cb.abandon = [](const ReadJob&, std::int64_t) {};
      run_reads(plan, jobs, files, cx.ck.index, cb, failure);
      if (failure.failed()) return;
      ctx.copy_to_destination(static_cast<int>(p), w, staging, len);
    }
  }
}

}  // namespace sllm::models::detail
