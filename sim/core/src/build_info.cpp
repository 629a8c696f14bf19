#include "sllm/core/build_info.h"

#include <dlfcn.h>
#include <link.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string_view>
#include <vector>

#include "sllm/core/hash.h"

namespace sllm {

const char* version() { return SLLM_VERSION; }

namespace {

// The file this code was loaded from: the executable, or the shared object that holds the libraries (the
// Python module), which is then what identifies the build, not the interpreter that loaded it.
std::string code_file() {
  static const char marker = 0;
  Dl_info info;
  link_map* map = nullptr;
  if (::dladdr1(&marker, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) != 0 && map != nullptr &&
      map->l_name != nullptr && map->l_name[0] != '\0') {
    return map->l_name;
  }
  return "/proc/self/exe";  // the main program's link map has no name
}

}  // namespace

const std::string& build_id() {
  static const std::string id = [] {
    std::ifstream exe(code_file(), std::ios::binary);
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
