// FNV-1a 64: the project's content hash for keys, fingerprints of configs and builds (not for
// integrity against an adversary). `hash` continues an earlier call over preceding text.
#pragma once

#include <cstdint>
#include <string_view>

namespace sllm {

inline constexpr std::uint64_t kFnv1a64Offset = 0xcbf29ce484222325ull;

constexpr std::uint64_t fnv1a64(std::string_view text, std::uint64_t hash = kFnv1a64Offset) {
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ull;
  }
  return hash;
}

}  // namespace sllm
