// Sweep YAML (SweepSpec::load, with and without its quick section). The sweep is written beside links to
// configs/paper's files and configs/profiles, so `base: testbed-ii.yaml` resolves as in the real sweeps
// (the seed corpus: configs/paper/fig*.yaml).
#include <cstdint>
#include <filesystem>
#include <string>

#include "support.h"
#include "sllm/core/error.h"
#include "sllm/sim/sweep.h"

namespace {

std::string sweep_path() {
  namespace fs = std::filesystem;
  const fs::path configs = fs::path(SLLM_SOURCE_DIR) / "configs";
  const fs::path scratch(sllm::fuzz::scratch_dir());
  fs::create_directories(scratch / "paper");
  for (const auto& entry : fs::directory_iterator(configs / "paper")) {
    fs::create_symlink(entry.path(), scratch / "paper" / entry.path().filename());
  }
  fs::create_symlink(configs / "profiles", scratch / "profiles");
  return (scratch / "paper" / "fuzz-sweep.yaml").string();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = sweep_path();
  static const sllm::fuzz::ScratchFile file("paper/fuzz-sweep.yaml");
  file.write(sllm::fuzz::as_text(data, size));
  for (const bool quick : {false, true}) {
    try {
      (void)sllm::SweepSpec::load(path, quick);
    } catch (const sllm::InputError& e) {
      sllm::fuzz::refused(e);
    }
  }
  return 0;
}
