// Benchmark: reading and converting the Azure LLM 2023 traces, against the I/O floor measured in the
// same run (reading the file's bytes and counting lines). With --big, also streams generated 10 M-row
// Azure LLM and 10,000-function x 1,440-minute Azure Functions 2019 files and reports peak RSS, to show
// that memory does not grow with the file.
//
// usage: bench_trace_read [DATA_DIR] [--big]    (DATA_DIR defaults to $SLLM_SHARED_DATA_DIR, then
//                                                ../shared/data)
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "sllm/traces/formats.h"
#include "sllm/traces/mapping.h"
#include "sllm/traces/readers.h"

namespace {

using namespace sllm::traces;
using sllm::RequestSpec;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// The floor: the file's bytes through the same 1 MiB buffer size, counting newlines.
std::uint64_t count_lines(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return 0;
  std::vector<char> buf(1 << 20);
  std::uint64_t lines = 0;
  std::size_t got = 0;
  while ((got = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    for (const char* p = buf.data(); (p = static_cast<const char*>(std::memchr(p, '\n', buf.data() + got - p)));
         ++p) {
      ++lines;
    }
  }
  std::fclose(f);
  return lines;
}

std::uint64_t read_requests(const TraceSourceOptions& o) {
  TraceSource source(o);
  RequestSpec r;
  std::uint64_t n = 0, tokens = 0;
  while (source.next(r)) {
    ++n;
    tokens += r.input_tokens;
  }
  if (tokens == 0 && n > 0 && o.lengths.kind == LengthsKind::trace) std::fprintf(stderr, "no tokens read?\n");
  return n;
}

std::uint64_t convert(const TraceSourceOptions& o, const std::string& out) {
  TraceSource source(o);
  CanonicalCsvWriter writer(out);
  RequestSpec r;
  std::uint64_t n = 0;
  while (source.next(r)) {
    writer.write(r);
    ++n;
  }
  writer.commit();
  return n;
}

// Best of `reps` runs (the least disturbed by other work on the machine).
template <typename Fn>
double best_time(int reps, Fn&& fn) {
  double best = 1e300;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    fn();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

void bench_file(const std::string& path, const TraceFormat& format, const std::string& tmp_dir, int reps,
                const LengthsOptions& lengths = {}) {
  TraceSourceOptions o;
  o.path = path;
  o.format = &format;
  o.lengths = lengths;
  o.mapping = ModelMapping::round_robin;
  o.model_count = 16;
  std::uint64_t lines = 0, requests = 0, converted = 0;
  const double t_floor = best_time(reps, [&] { lines = count_lines(path); });
  const double t_read = best_time(reps, [&] { requests = read_requests(o); });
  const std::string out = tmp_dir + "/converted.csv";
  const double t_convert = best_time(reps, [&] { converted = convert(o, out); });
  const double mb = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
  std::printf("%s\n  %.1f MB, %llu lines, %llu requests (converted %llu)\n", path.c_str(), mb,
              static_cast<unsigned long long>(lines), static_cast<unsigned long long>(requests),
              static_cast<unsigned long long>(converted));
  std::printf("  I/O floor (read + count lines) %8.4f s\n", t_floor);
  std::printf("  read (parse, map)              %8.4f s  %6.2f M requests/s  %5.1fx the floor\n", t_read,
              static_cast<double>(requests) / t_read / 1e6, t_read / t_floor);
  std::printf("  convert to canonical CSV       %8.4f s  %6.2f M requests/s  %5.1fx the floor\n", t_convert,
              static_cast<double>(converted) / t_convert / 1e6, t_convert / t_floor);
  std::printf("  peak RSS so far                %ld KiB\n", peak_rss_kib());
  std::filesystem::remove(out);
}

void generate_big_llm(const std::string& path, std::uint64_t rows) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  std::fputs("TIMESTAMP,ContextTokens,GeneratedTokens\n", f);
  std::uint64_t state = 12345;
  // 10 M rows over ~11.6 days at ~10 requests/s: timestamps advance by 0-199 ms.
  std::uint64_t t_us = 0;
  for (std::uint64_t i = 0; i < rows; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    t_us += (state >> 33) % 200'000;
    const std::uint64_t s = t_us / 1'000'000;
    std::fprintf(f, "2023-11-%02llu %02llu:%02llu:%02llu.%06llu0,%llu,%llu\n",
                 static_cast<unsigned long long>(1 + s / 86400), static_cast<unsigned long long>(s / 3600 % 24),
                 static_cast<unsigned long long>(s / 60 % 60), static_cast<unsigned long long>(s % 60),
                 static_cast<unsigned long long>(t_us % 1'000'000), static_cast<unsigned long long>(state >> 52),
                 static_cast<unsigned long long>((state >> 40) % 500));
  }
  std::fclose(f);
}

void generate_big_2019(const std::string& path, int functions) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  std::fputs("HashOwner,HashApp,HashFunction,Trigger", f);
  for (int m = 1; m <= 1440; ++m) std::fprintf(f, ",%d", m);
  std::fputc('\n', f);
  std::uint64_t state = 777;
  for (int fn = 0; fn < functions; ++fn) {
    std::fprintf(f, "owner%d,app%d,func%d,http", fn, fn, fn);
    for (int m = 0; m < 1440; ++m) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      std::fprintf(f, ",%llu", static_cast<unsigned long long>((state >> 60) % 3));  // 0, 1 or 2
    }
    std::fputc('\n', f);
  }
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_dir = std::getenv("SLLM_SHARED_DATA_DIR") ? std::getenv("SLLM_SHARED_DATA_DIR") : "../shared/data";
  bool big = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--big") == 0) big = true;
    else data_dir = argv[i];
  }
  std::string tmp = (std::filesystem::temp_directory_path() / "sllm_bench_traceXXXXXX").string();
  if (::mkdtemp(tmp.data()) == nullptr) return 1;

  const std::string llm = data_dir + "/traces/azure-llm-2023/";
  bool any = false;
  for (const char* name : {"AzureLLMInferenceTrace_code.csv", "AzureLLMInferenceTrace_conv.csv"}) {
    if (!std::filesystem::exists(llm + name)) continue;
    bench_file(llm + name, trace_format("azure-llm"), tmp, 10);
    any = true;
  }
  if (!any) std::printf("no Azure LLM 2023 traces under %s (give DATA_DIR)\n", data_dir.c_str());

  if (big) {
    const std::string big_llm = tmp + "/big_llm.csv";
    generate_big_llm(big_llm, 10'000'000);
    bench_file(big_llm, trace_format("azure-llm"), tmp, 1);
    std::filesystem::remove(big_llm);
    const std::string big_2019 = tmp + "/big_2019.csv";
    generate_big_2019(big_2019, 10'000);
    LengthsOptions lengths;
    lengths.kind = LengthsKind::none;
    bench_file(big_2019, trace_format("azure-functions-2019"), tmp, 1, lengths);
  }
  std::filesystem::remove_all(tmp);
  return 0;
}
