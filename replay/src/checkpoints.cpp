// The replay's checkpoints: one sllm-format checkpoint per deployed model on the local disk.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include <unistd.h>

#include "sllm/core/error.h"
#include "sllm/models/checkpoint.h"
#include "sllm/replay/replay.h"

namespace sllm::replay {

std::string checkpoint_path(const std::string& dir, const DeployedModel& model) {
  std::string name = model.name;
  std::replace(name.begin(), name.end(), '/', '_');
  return (std::filesystem::path(dir) / name).string();
}

void prepare_checkpoints(const Scenario& scenario, const std::string& dir, int threads, std::ostream* log) {
  std::filesystem::create_directories(dir);
  bool wrote = false;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (const DeployedModel& m : scenario.models) {
    const std::string path = checkpoint_path(dir, m);
    if (std::filesystem::exists(std::filesystem::path(path) / models::kCheckpointIndexFile)) {
      const models::Checkpoint ck = models::open_checkpoint(path);
      if (ck.index.model != m.arch->name) {
        throw InputError(path, "holds a checkpoint of " + ck.index.model + ", not " + m.arch->name +
                                   " (remove it or choose another --checkpoints directory)");
      }
      continue;
    }
    // The checksum chunk must divide the loader's chunk (the server's dram.chunk_size).
    std::uint64_t chunk = scenario.cluster.groups.front().chunk_size;
    const std::uint64_t checksum = std::min<std::uint64_t>(models::kDefaultChecksumChunk, chunk & (~chunk + 1));
    const auto partitions = static_cast<int>(scenario.deployments[m.deployment].gpus_per_instance);
    const auto t0 = std::chrono::steady_clock::now();
    // A distinct seed per checkpoint: fine-tunes of one architecture are distinct bytes.
    models::synthesize_checkpoint(*m.arch, path, partitions, 1000 + m.index, checksum, false, threads);
    wrote = true;
    if (log != nullptr) {
      *log << "synthesised " << m.name << " (" << format_bytes(m.checkpoint_bytes) << ") in " << path << " in "
           << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
    }
  }
  // The disk is idle when the replay's clock starts: no write-back of fresh checkpoints under its reads.
  if (wrote) ::sync();
}

}  // namespace sllm::replay
