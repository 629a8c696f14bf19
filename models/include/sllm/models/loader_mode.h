// A loader mode: how the Loader moves a checkpoint's partitions from disk into the destination memory it
// has allocated (docs/loader.md). Each mode is one file under models/src/loader_modes/ that registers
// itself with SLLM_REGISTER_LOADER_MODE; its name is then known to the Loader, `sllmsim ckpt load --mode`,
// the calibration and the simulator's profiles (sllm/core/loader_modes.h). Adding a mode is adding a file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sllm/models/loader.h"

namespace sllm::models {

struct LoaderModeTraits {
  bool direct_io = false;  // partitions are opened with O_DIRECT (buffered where the file system refuses)
  bool chunked = false;    // reads in the loader's chunks: --chunk must be a multiple of the checksum chunk
  bool uses_pool = false;  // stages through the DRAM pool (`ckpt load` then sizes it to the checkpoint)
  // Checks the chunk checksums while loading (unless LoadOptions::verify is off). The foreign formats'
  // modes (safetensors, torch) copy what the files hold unchecked, as the libraries they model do.
  bool verifies_checksums = true;
};

// What a mode works with during one Loader::load: the open partitions and their destinations. The
// loader's own modes also reach its internals (the pool, the readers) through state().
class LoadContext {
 public:
  struct State;  // models/src/loader_internal.h
  explicit LoadContext(State& state) : state_(state) {}

  const Checkpoint& checkpoint() const;
  const LoaderOptions& loader_options() const;
  const LoadOptions& load_options() const;
  int partitions() const;
  const std::string& path(int partition) const;
  // Reads up to `bytes` at `offset` of the partition file; returns the bytes read (short at its end).
  std::uint64_t read(int partition, void* buf, std::uint64_t bytes, std::uint64_t offset) const;
  // "" when the bytes at [offset, offset + bytes) of the partition match its checksum chunks (offset and
  // bytes on checksum-chunk boundaries, or bytes reaching the partition's end), else the mismatch.
  std::string verify(int partition, std::uint64_t offset, const void* data, std::uint64_t bytes) const;
  // Copies host bytes to the partition's destination (host memory or a device) at `offset`.
  void copy_to_destination(int partition, std::uint64_t offset, const void* src, std::uint64_t bytes) const;
  // Records the first failure; the load then throws it (InputError when `input_error`).
  void fail(const std::string& message, bool input_error);
  bool failed() const;

  State& state() const { return state_; }

 private:
  State& state_;
};

class LoaderMode {
 public:
  virtual ~LoaderMode() = default;
  virtual std::string_view name() const = 0;
  virtual LoaderModeTraits traits() const = 0;
  // Fills every partition's destination, or records a failure in `ctx` (or throws) and returns.
  virtual void load(LoadContext& ctx) const = 0;
};

// The mode named `name`; InputError naming `where` (and listing the modes) when there is none.
const LoaderMode& loader_mode(std::string_view name, const std::string& where);
void register_loader_mode(std::unique_ptr<LoaderMode> mode);

template <class Mode>
struct LoaderModeRegistration {
  LoaderModeRegistration() { register_loader_mode(std::make_unique<Mode>()); }
};

}  // namespace sllm::models

#define SLLM_LOADER_MODE_CONCAT2(a, b) a##b
#define SLLM_LOADER_MODE_CONCAT(a, b) SLLM_LOADER_MODE_CONCAT2(a, b)
// SLLM_REGISTER_LOADER_MODE(MyMode); the class's name() is the registered name.
#define SLLM_REGISTER_LOADER_MODE(Mode)                                                                  \
  static const ::sllm::models::LoaderModeRegistration<Mode> SLLM_LOADER_MODE_CONCAT(sllm_loader_mode_, \
                                                                                    __LINE__) {}
