// Calibration profile YAML (parse_profile; seeds: configs/profiles/*.yaml). A profile that parses must
// survive its own round trip: written back (profile_to_yaml) and re-read, it is equal.
#include <cstdint>
#include <cstdio>
#include <string>

#include "support.h"
#include "sllm/core/error.h"
#include "sllm/sim/profile.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string name = std::string(SLLM_SOURCE_DIR) + "/configs/profiles/fuzz-input.yaml";
  sllm::Profile profile;
  try {
    profile = sllm::parse_profile(std::string(sllm::fuzz::as_text(data, size)), name);
  } catch (const sllm::InputError& e) {
    sllm::fuzz::refused(e);
    return 0;
  }
  const std::string written = sllm::profile_to_yaml(profile);
  const sllm::Profile again = sllm::parse_profile(written, name);
  if (!(again == profile)) {
    std::fprintf(stderr, "round trip changed the profile:\n--- written\n%s\n--- written again\n%s\n", written.c_str(),
                 sllm::profile_to_yaml(again).c_str());
    __builtin_trap();
  }
  return 0;
}
