// Safetensors files: the 8-byte length, the JSON header (parse_safetensors_header's tiling rules) and the
// tensor bytes it points at (each read through SafetensorsFile::bytes), then `ckpt convert` of the file
// into a checkpoint that must open and verify intact. Seeds: tests/fuzz/corpus/fuzz_safetensors.
#include <cstdint>
#include <filesystem>
#include <string>

#include "support.h"
#include "sllm/core/error.h"
#include "sllm/models/checkpoint.h"
#include "sllm/models/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace models = sllm::models;
  static const sllm::fuzz::ScratchFile file("model.safetensors");
  static const std::string out = sllm::fuzz::scratch_dir() + "/converted";
  file.write(sllm::fuzz::as_text(data, size));
  try {
    const models::SafetensorsFile st(file.path());
    unsigned sum = 0;
    for (const auto& t : st.header().tensors) {
      for (const std::byte b : st.bytes(t)) sum += static_cast<unsigned>(b);
    }
    (void)sum;
  } catch (const sllm::InputError& e) {
    sllm::fuzz::refused(e);
    return 0;
  }
  std::filesystem::remove_all(out);
  try {
    models::convert_safetensors({file.path()}, out, 1, 4096);
  } catch (const sllm::InputError& e) {
    sllm::fuzz::refused(e);
    return 0;  // a valid file that is no checkpoint (say, no tensors)
  }
  const models::VerifyReport report = models::verify_checkpoint(models::open_checkpoint(out));
  if (!report.problems.empty()) __builtin_trap();  // a fresh conversion is intact
  return 0;
}
