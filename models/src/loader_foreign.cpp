// The loaders users pick today, reproduced on the same bytes (loader modes safetensors and torch).
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>

#include "file_io.h"
#include "loader_internal.h"
#include "sllm/core/error.h"
#include "sllm/core/units.h"

namespace sllm::models::detail {

// The loaders users pick today, on the same bytes: safetensors maps the file and copies tensor by
// tensor into fresh CPU tensors before .to(device); torch.load reads the whole file into pageable
// memory and then copies tensor by tensor. Neither checks checksums.
void load_foreign(LoadContext& ctx, ForeignLoader loader) {
  const LoadContext::State& cx = ctx.state();
  const std::vector<OpenPartition>& files = cx.files;
  const CheckpointIndex& idx = cx.ck.index;
  for (std::size_t p = 0; p < idx.partitions.size(); ++p) {
    const std::uint64_t bytes = idx.partitions[p].bytes;
    const std::byte* base = nullptr;
    void* map = MAP_FAILED;
    std::unique_ptr<std::byte[]> whole;
    if (loader == ForeignLoader::kSafetensors) {
      if (bytes > 0) {
        map = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, files[p].fd.get(), 0);
        if (map == MAP_FAILED) throw std::runtime_error(errno_message(files[p].path, "mmap failed", errno));
        base = static_cast<const std::byte*>(map);
      }
    } else {
      whole.reset(new (std::nothrow) std::byte[std::max<std::uint64_t>(bytes, 1)]);
      if (!whole) throw std::runtime_error("cannot allocate " + format_bytes(bytes) + " for " + files[p].path);
      // torch.load reads through a buffered file object.
      const std::uint64_t got = pread_full(files[p].fd.get(), whole.get(), bytes, 0, files[p].path);
      if (got < bytes) throw InputError(files[p].path, "short read");
      base = whole.get();
    }
    for (const CheckpointTensor& t : idx.tensors) {
      if (static_cast<std::size_t>(t.partition) != p) continue;
      if (loader == ForeignLoader::kSafetensors && !cx.backend.host_memory()) {
        std::unique_ptr<std::byte[]> cpu_tensor(new std::byte[std::max<std::uint64_t>(t.bytes, 1)]);
        if (t.bytes) std::memcpy(cpu_tensor.get(), base + t.offset, t.bytes);
        ctx.copy_to_destination(t.partition, t.offset, cpu_tensor.get(), t.bytes);
      } else {
        ctx.copy_to_destination(t.partition, t.offset, base + t.offset, t.bytes);
      }
    }
    if (map != MAP_FAILED) ::munmap(map, bytes);
  }
}

}  // namespace sllm::models::detail
