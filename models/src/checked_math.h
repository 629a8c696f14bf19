// Size arithmetic on numbers read from files (checkpoint indexes, safetensors headers): a crafted value
// must fail a bounds check, never wrap around 2^64 and slip past it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>

namespace sllm::models {

inline std::optional<std::uint64_t> checked_add(std::uint64_t a, std::uint64_t b) {
  std::uint64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

inline std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// ceil(a / b) for b > 0, without forming a + b - 1.
inline std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) { return a / b + (a % b != 0); }

// Bytes of a row-major tensor, product(shape) * element_size; nullopt when a dimension is negative or
// when a product of trailing dimensions (a row-major stride, or the element count) exceeds INT64_MAX or
// the byte count exceeds 2^64 - 1. A shape that passes has strides and sizes that fit their types.
inline std::optional<std::uint64_t> checked_tensor_bytes(std::span<const std::int64_t> shape, std::size_t element_size) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t elements = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    if (shape[i] < 0) return std::nullopt;
    const auto next = checked_mul(elements, static_cast<std::uint64_t>(shape[i]));
    if (!next || *next > kMax) return std::nullopt;
    elements = *next;
  }
  return checked_mul(elements, element_size);
}

}  // namespace sllm::models
