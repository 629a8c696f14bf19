// Physical quantities written with their units in configs and on the command line ("512 GiB",
// "10 Gbps", "12 GB/s", "300 s", "312 TFLOP/s"). The simulation clock is integer nanoseconds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sllm {

using Nanos = std::int64_t;  // simulated time and durations

constexpr Nanos kNanosPerMicro = 1'000;
constexpr Nanos kNanosPerMilli = 1'000'000;
constexpr Nanos kNanosPerSecond = 1'000'000'000;

constexpr double to_seconds(Nanos t) { return static_cast<double>(t) * 1e-9; }
// Rounds to the nearest nanosecond so that derived durations stay deterministic.
Nanos from_seconds(double s);

// Each parser throws std::invalid_argument with a message saying what was expected; callers that know
// the input's location (ConfigNode, the CLI) wrap it into an InputError.
std::uint64_t parse_bytes(std::string_view text);      // "32 MiB", "1.5 TB", "4096 B"
double parse_bandwidth(std::string_view text);         // bytes/s: "12 GB/s", "10 Gbps", "25 Gbit/s"
Nanos parse_duration(std::string_view text);           // "300 s", "2 ms", "1.5 min", "100 ns"
double parse_flops(std::string_view text);             // FLOP/s: "149.7 TFLOP/s", "312 TFLOPS"

std::string format_bytes(std::uint64_t bytes);         // "12.4 GiB"
std::string format_bandwidth(double bytes_per_second); // "11.2 GB/s"
std::string format_duration(Nanos t);                  // "1.234 s", "12.0 ms"

}  // namespace sllm
