// Names of the checkpoint loader's modes (docs/loader.md). Each mode is one file under
// models/src/loader_modes/ that registers its code with the loader (sllm/models/loader_mode.h) and, through
// that, its name here: the simulator's profiles and scenarios, the calibration and `sllmsim ckpt load`
// check and list mode names without depending on the loader. Registration runs from static initialisers
// of the whole-archive library sllm_models_plugins, so executables that link it know every mode.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sllm {

// The ServerlessLLM loader: chunks pipelined from SSD through the DRAM pool to the destination.
inline constexpr std::string_view kDefaultLoaderMode = "sllm";

void register_loader_mode_name(std::string_view name);
bool is_loader_mode(std::string_view name);
std::vector<std::string> loader_mode_names();  // sorted
// Why `name` is not a loader mode, for an InputError: lists the modes, and names the replacement of a
// retired name ("pipelined" is now "sllm").
std::string unknown_loader_mode_message(std::string_view name);

}  // namespace sllm
