#include "sllm/core/build_info.h"

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string_view>
#include <vector>

#include "sllm/core/hash.h"

namespace sllm {

const char* version() { return SLLM_VERSION; }

const std::string& build_id() {
  static const std::string id = [] {
    std::ifstream exe("/proc/self/exe", std::ios::binary);
    if (!exe) return std::string("unknown");
    std::uint64_t hash = kFnv1a64Offset;
    std::vector<char> buf(1 << 20);
    while (exe.read(buf.data(), static_cast<std::streamsize>(buf.size())) || exe.gcount() > 0) {
      const auto n = static_cast<std::size_t>(exe.gcount());
      hash = fnv1a64(std::string_view(buf.data(), n), hash);
      if (n < buf.size()) break;
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
    return std::string(hex);
  }();
  return id;
}

}  // namespace sllm
