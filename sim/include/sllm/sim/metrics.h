// The run's metrics in one table, behind every output: the summary printed on stdout, summary.json and a
// sweep's results.csv. Each metric has one results.csv column, one place in summary.json (its keys joined
// by '.') and one formula, so the three outputs cannot drift apart.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sllm {

struct RunSummary;  // sllm/sim/outputs.h

struct Metric {
  enum class Kind : unsigned char {
    kCount,   // an integer
    kReal,    // a real number (seconds, fractions, rates)
    kText,    // a string (policy name, fingerprint)
    kJson,    // JSON text written as is (lists); never a results.csv column
  };
  std::string_view column;  // results.csv column; empty: not in results.csv (the sweep writes its own)
  std::string_view json;    // summary.json path, e.g. "requests.arrived"
  Kind kind;
  bool timing = false;      // machine-dependent: left out of results.csv, and of summary.json without timing
  std::uint64_t (*count)(const RunSummary&) = nullptr;  // kCount (exact: seeds use all 64 bits)
  double (*real)(const RunSummary&) = nullptr;          // kReal
  std::string (*text)(const RunSummary&) = nullptr;     // kText, kJson
};

// Every metric, in summary.json order (metrics sharing a JSON object are contiguous).
std::span<const Metric> metrics();
// The metric with this results.csv column or summary.json path; throws std::logic_error when unknown.
const Metric& metric(std::string_view name);
// The value as written in results.csv and summary.json: integers exactly, reals with 9 significant
// digits ("nan"/"inf" in CSV, null in JSON), text as is (JSON quotes it).
std::string metric_text(const Metric& m, const RunSummary& s);
double metric_value(std::string_view name, const RunSummary& s);
// `text` as a JSON string literal (quotes, backslashes and control characters escaped).
std::string json_quoted(std::string_view text);

}  // namespace sllm
