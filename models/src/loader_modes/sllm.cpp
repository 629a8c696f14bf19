// Loader mode "sllm", the ServerlessLLM loader and the default (the last step of the paper's ablation,
// +pipelining): fixed-size chunks flow SSD -> DRAM pool -> destination as soon as each lands, and the
// pool is an LRU cache, so resident chunks skip the disk.
#include <algorithm>
#include <cstring>
#include <optional>
#include <thread>

#include "blocking_queue.h"
#include "loader_internal.h"

namespace sllm::models {
namespace {

struct Landed {
  std::int64_t slot = -1;
  int partition = 0;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// The ServerlessLLM pipeline: chunks flow SSD -> pool -> destination as soon as each lands; resident
// chunks skip the disk.
void load_pipelined(LoadContext& ctx) {
  LoadContext::State& cx = ctx.state();
  const std::vector<OpenPartition>& files = cx.files;
  Failure& failure = cx.failure;
  const CheckpointIndex& idx = cx.ck.index;
  const std::uint64_t chunk = cx.pool.chunk_bytes();
  // Interleave partitions so that every GPU's link has work from the start.
  std::vector<ReadJob> all;
  std::uint64_t most = 0;
  for (const auto& p : idx.partitions) most = std::max(most, (p.bytes + chunk - 1) / chunk);
  for (std::uint64_t i = 0; i < most; ++i) {
    for (std::size_t p = 0; p < idx.partitions.size(); ++p) {
      const std::uint64_t bytes = idx.partitions[p].bytes;
      if (i * chunk < bytes) all.push_back({static_cast<int>(p), i, i * chunk, std::min(chunk, bytes - i * chunk)});
    }
  }
  cx.chunks = all.size();
  auto key_of = [&](const ReadJob& j) { return ChunkKey{cx.ck.identity, static_cast<std::uint32_t>(j.partition), j.index}; };

  // One queue per destination: a GPU each, or one shared by the host copy threads.
  const bool to_gpu = !cx.backend.host_memory();
  const std::size_t queues = to_gpu ? idx.partitions.size() : 1;
  std::vector<BlockingQueue<Landed>> landed(queues);
  auto queue_of = [&](int partition) -> BlockingQueue<Landed>& { return landed[to_gpu ? static_cast<std::size_t>(partition) : 0]; };
  auto fail = [&](const std::string& m, bool input) {
    failure.set(m, input);
    cx.pool.wake_all();
  };

  std::vector<ReadJob> missing;
  std::uint64_t from_dram = 0;
  std::vector<Landed> resident;
  for (const ReadJob& j : all) {
    const std::int64_t slot = cx.pool.acquire_resident(key_of(j));
    if (slot >= 0) {
      resident.push_back({slot, j.partition, j.offset, j.length});
      ++from_dram;
    } else {
      missing.push_back(j);
    }
  }
  for (const Landed& l : resident) queue_of(l.partition).push(l);

  auto drain_queue = [&](BlockingQueue<Landed>& q) {
    while (auto item = q.pop()) cx.pool.release(item->slot);
  };
  std::vector<std::thread> copiers;
  if (to_gpu) {
    for (std::size_t p = 0; p < queues; ++p) {
      copiers.emplace_back([&, p] {
        BlockingQueue<Landed>& q = landed[p];
        const int device = cx.devices[p].index;
        try {
          const std::unique_ptr<CopyQueue> queue = cx.backend.copy_queue(device, cx.lo.copy_streams);
          CopyQueue& cq = *queue;
          const std::size_t max_in_flight = static_cast<std::size_t>(cx.lo.copy_streams) * 2;
          auto finish_one = [&] { cx.pool.release(static_cast<std::int64_t>(cq.wait_oldest())); };
          try {
            while (true) {
              const bool idle = cq.in_flight() == 0;
              const std::optional<Landed> item = idle ? q.pop() : q.try_pop();
              if (!item) {
                if (idle) break;  // closed and drained
                finish_one();     // nothing new yet: retire the oldest copy meanwhile
                continue;
              }
              if (failure.failed()) {
                cx.pool.release(item->slot);
                continue;
              }
              if (cq.in_flight() >= max_in_flight) finish_one();
              cq.submit(static_cast<std::byte*>(cx.dest[p]) + item->offset, cx.pool.data(item->slot), item->length,
                        static_cast<std::uint64_t>(item->slot));
            }
            while (cq.in_flight() > 0) finish_one();
          } catch (const std::exception& e) {
            fail(std::string(e.what()) + " (partition " + std::to_string(p) + ")", false);
            while (cq.in_flight() > 0) {
              std::int64_t slot = -1;
              try {
                slot = static_cast<std::int64_t>(cq.wait_oldest());
              } catch (const std::exception&) {
              }
              if (slot >= 0) cx.pool.release(slot);
            }
            drain_queue(q);
          }
        } catch (const std::exception& e) {
          fail(std::string(e.what()) + " (partition " + std::to_string(p) + ")", false);
          drain_queue(q);
        }
      });
    }
  } else {
    for (int t = 0; t < cx.lo.copy_streams; ++t) {
      copiers.emplace_back([&] {
        while (auto item = landed[0].pop()) {
          if (!failure.failed()) {
            std::memcpy(static_cast<std::byte*>(cx.dest[static_cast<std::size_t>(item->partition)]) + item->offset,
                        cx.pool.data(item->slot), item->length);
          }
          cx.pool.release(item->slot);
        }
      });
    }
  }

  ReadCallbacks cb;
  cb.acquire = [&](const ReadJob& job, bool may_block, std::byte** buf, std::int64_t* slot) {
    *slot = cx.pool.acquire_for_load(key_of(job), may_block, failure.flag());
    if (*slot < 0) return false;
    *buf = cx.pool.data(*slot);
    return true;
  };
  // Checksums are checked by the I/O thread that read the bytes, in parallel over all of them. Where every
  // request covers whole checksum chunks (the default: 1 MiB requests, 1 MiB checksum chunks), each is
  // checked as soon as it lands, while it is still in that core's cache, instead of re-reading the whole
  // chunk from memory once it is complete: the checksum then costs a pass over cached bytes, not a second
  // trip to DRAM. Either way a chunk is published to the pool and queued for its destination only once all
  // its bytes have been checked, so unverified bytes never reach the destination or the cache.
  const bool verify_per_request = cx.opts.verify && cx.lo.request_bytes % idx.checksum_chunk == 0;
  if (verify_per_request) {
    cb.landed = [&](const ReadJob& job, std::byte* buf, std::uint64_t at, std::uint64_t bytes) {
      const std::string bad = ctx.verify(job.partition, job.offset + at, buf + at, bytes);
      if (bad.empty()) return true;
      fail(bad, true);
      return false;
    };
  }
  cb.complete = [&](const ReadJob& job, std::byte* buf, std::int64_t slot, std::uint64_t got) {
    if (got < job.length) {
      cx.pool.release(slot);
      return fail(detail::short_read(cx.ck, job, got), true);
    }
    if (cx.opts.verify && !verify_per_request) {
      const std::string bad = ctx.verify(job.partition, job.offset, buf, job.length);
      if (!bad.empty()) {
        cx.pool.release(slot);  // never cached: it was not published
        return fail(bad, true);
      }
    }
    cx.pool.publish(slot);
    queue_of(job.partition).push({slot, job.partition, job.offset, job.length});
  };
  cb.abandon = [&](const ReadJob&, std::int64_t slot) {
    cx.pool.release(slot);
    cx.pool.wake_all();
  };
  run_reads(read_plan(cx.lo, cx.io), missing, files, idx, cb, failure);
  cx.pool.wake_all();
  for (auto& q : landed) q.close();
  for (auto& t : copiers) t.join();
  cx.chunks_from_dram = from_dram;
}

class SllmMode final : public LoaderMode {
 public:
  std::string_view name() const override { return kDefaultLoaderMode; }
  LoaderModeTraits traits() const override { return {.direct_io = true, .chunked = true, .uses_pool = true}; }
  void load(LoadContext& ctx) const override { load_pipelined(ctx); }
};

}  // namespace

SLLM_REGISTER_LOADER_MODE(SllmMode);

}  // namespace sllm::models
