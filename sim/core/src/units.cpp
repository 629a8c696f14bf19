#include "sllm/core/units.h"

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <utility>

namespace sllm {
namespace {

struct Unit {
  std::string_view name;
  double factor;
};

// Splits "12.5 GiB" into (12.5, "GiB"). The number must be finite and non-negative.
std::pair<double, std::string_view> split_quantity(std::string_view text, std::string_view kind) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data()) {
    throw std::invalid_argument("expected " + std::string(kind) + " as a number with a unit, got '" +
                                std::string(text) + "'");
  }
  if (!std::isfinite(value) || value < 0) {
    throw std::invalid_argument(std::string(kind) + " must be finite and non-negative, got '" +
                                std::string(text) + "'");
  }
  std::string_view unit = text.substr(static_cast<std::size_t>(end - text.data()));
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.front()))) unit.remove_prefix(1);
  return {value, unit};
}

template <std::size_t N>
double scale(std::string_view text, std::string_view kind, const std::array<Unit, N>& units,
             std::string_view examples) {
  auto [value, unit] = split_quantity(text, kind);
  for (const Unit& u : units) {
    if (unit == u.name) return value * u.factor;
  }
  throw std::invalid_argument("unknown " + std::string(kind) + " unit '" + std::string(unit) + "' in '" +
                              std::string(text) + "' (expected e.g. " + std::string(examples) + ")");
}

constexpr double kKi = 1024.0, kMi = kKi * 1024, kGi = kMi * 1024, kTi = kGi * 1024;

}  // namespace

Nanos from_seconds(double s) { return static_cast<Nanos>(std::llround(s * 1e9)); }

std::uint64_t parse_bytes(std::string_view text) {
  static constexpr std::array<Unit, 14> units{{{"B", 1},         {"KB", 1e3},   {"MB", 1e6},
                                               {"GB", 1e9},      {"TB", 1e12},  {"kB", 1e3},
                                               {"KiB", kKi},     {"MiB", kMi},  {"GiB", kGi},
                                               {"TiB", kTi},     {"bytes", 1},  {"byte", 1},
                                               {"PB", 1e15},     {"PiB", kTi * 1024}}};
  double bytes = scale(text, "size", units, "'4096 B', '32 MiB', '512 GiB', '2 TB'");
  if (bytes > 9.0e18) throw std::invalid_argument("size '" + std::string(text) + "' is too large");
  return static_cast<std::uint64_t>(std::llround(bytes));
}

double parse_bandwidth(std::string_view text) {
  static constexpr std::array<Unit, 16> units{{{"B/s", 1},          {"KB/s", 1e3},        {"MB/s", 1e6},
                                               {"GB/s", 1e9},       {"TB/s", 1e12},       {"KiB/s", kKi},
                                               {"MiB/s", kMi},      {"GiB/s", kGi},       {"TiB/s", kTi},
                                               {"bps", 1.0 / 8},    {"Kbps", 1e3 / 8},    {"Mbps", 1e6 / 8},
                                               {"Gbps", 1e9 / 8},   {"Tbps", 1e12 / 8},   {"Gbit/s", 1e9 / 8},
                                               {"Mbit/s", 1e6 / 8}}};
  return scale(text, "bandwidth", units, "'12 GB/s', '10 Gbps', '25 GiB/s'");
}

Nanos parse_duration(std::string_view text) {
  static constexpr std::array<Unit, 9> units{{{"ns", 1},
                                              {"us", 1e3},
                                              {"ms", 1e6},
                                              {"s", 1e9},
                                              {"sec", 1e9},
                                              {"min", 60e9},
                                              {"h", 3600e9},
                                              {"hour", 3600e9},
                                              {"µs", 1e3}}};
  double ns = scale(text, "duration", units, "'300 s', '10 ms', '2 min'");
  if (ns > 9.0e18) throw std::invalid_argument("duration '" + std::string(text) + "' is too long");
  return static_cast<Nanos>(std::llround(ns));
}

double parse_flops(std::string_view text) {
  static constexpr std::array<Unit, 8> units{{{"FLOP/s", 1},
                                              {"GFLOP/s", 1e9},
                                              {"TFLOP/s", 1e12},
                                              {"PFLOP/s", 1e15},
                                              {"FLOPS", 1},
                                              {"GFLOPS", 1e9},
                                              {"TFLOPS", 1e12},
                                              {"PFLOPS", 1e15}}};
  return scale(text, "compute rate", units, "'149.7 TFLOP/s', '312 TFLOPS'");
}

std::string format_bytes(std::uint64_t bytes) {
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (b >= kTi) std::snprintf(buf, sizeof buf, "%.2f TiB", b / kTi);
  else if (b >= kGi) std::snprintf(buf, sizeof buf, "%.2f GiB", b / kGi);
  else if (b >= kMi) std::snprintf(buf, sizeof buf, "%.2f MiB", b / kMi);
  else if (b >= kKi) std::snprintf(buf, sizeof buf, "%.2f KiB", b / kKi);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  return buf;
}

std::string format_bandwidth(double bps) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GB/s", bps / 1e9);
  return buf;
}

std::string format_duration(Nanos t) {
  char buf[32];
  const double s = to_seconds(t);
  if (s >= 1.0) std::snprintf(buf, sizeof buf, "%.3f s", s);
  else if (s >= 1e-3) std::snprintf(buf, sizeof buf, "%.3f ms", s * 1e3);
  else std::snprintf(buf, sizeof buf, "%.3f us", s * 1e6);
  return buf;
}

}  // namespace sllm
