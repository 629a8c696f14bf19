// `sllmsim trace inspect|convert`: statistics of a request trace, and conversion to the canonical CSV,
// both streaming (docs/traces.md).
// GCC 12 at -O3 reports a false "potential null pointer dereference" inside Boost's
// typed_value<std::string>::notify (inlined std::string assignment), so string options need this before
// Boost's headers are read.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <string>

#include "sllm/core/config_node.h"
#include "sllm/core/error.h"
#include "sllm/traces/formats.h"
#include "sllm/traces/inspect.h"
#include "sllm/traces/mapping.h"
#include "sllm/traces/readers.h"
#include "subcommand.h"

namespace {

namespace po = boost::program_options;
using namespace sllm::traces;
using sllm::RequestSpec;

constexpr const char* kUsage =
    "sllmsim trace inspect FILE [--format F] [options]\n"
    "       sllmsim trace convert FILE [--format F] -o OUT.csv [options]\n\n"
    "inspect prints requests, duration, mean rate, burstiness (CV of inter-arrival times) and token-length\n"
    "percentiles; convert writes the canonical request CSV (id,arrival_s,model,input_tokens,output_tokens).\n"
    "FILE may be a pipe or /dev/stdin (read once). The options below mirror the keys of a scenario's\n"
    "`workload: {kind: trace}` section (docs/traces.md) and are read by the same parser, with the same\n"
    "defaults and checks; mapping and scaling options apply to both actions.";

// The flags that are `workload:` keys of a trace: each becomes an override of that key, so the config's
// parser (traces::trace_source_options) reads, checks and defaults it. No default is repeated here.
struct WorkloadFlag {
  const char* flag;
  const char* key;
  const char* help;
};
constexpr WorkloadFlag kWorkloadFlags[] = {
    {"format", "format", "format: a registered name or auto (default: auto, from the header)"},
    {"mapping", "mapping.by", "mapping.by: rank | first-seen | round-robin | trace (default: trace when the "
                              "format's keys are model indices, else rank)"},
    {"extra-functions", "mapping.extra_functions", "mapping.extra_functions: wrap | drop (default: wrap)"},
    {"rate-scale", "rate_scale", "rate_scale: divide arrival times by this, 1e-6..1e6 (default: 1)"},
    {"start", "start", "start: window start on the trace's clock (default: 0 s)"},
    {"duration", "duration", "duration: window length (default: to the end)"},
    {"spread", "spread", "spread: azure-functions-2019 arrivals within a minute, poisson | uniform "
                         "(default: poisson)"},
    {"reorder-window", "reorder_window", "reorder_window: how far out of time order rows may be (default: 60 s)"},
};

// A YAML double-quoted scalar of `text`, so a flag's value is always a string (a path such as "a: b"
// stays a path); the config's getters parse numbers and durations from the scalar's text.
std::string yaml_quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// The `workload:` section the flags describe (errors name "set on the command line: KEY").
sllm::ConfigNode workload_section(const po::variables_map& vm) {
  sllm::ConfigNode workload = sllm::ConfigNode::load_string("kind: trace", "command line");
  const auto set = [&](const std::string& key, const std::string& value) {
    workload.apply_override(key + "=" + yaml_quoted(value));
  };
  set("path", vm["file"].as<std::string>());
  for (const WorkloadFlag& f : kWorkloadFlags) {
    if (vm.count(f.flag)) set(f.key, vm[f.flag].as<std::string>());
  }
  if (vm["skip-bad-rows"].as<bool>()) workload.apply_override("skip_bad_rows=true");
  const std::string lengths = vm.count("lengths") ? vm["lengths"].as<std::string>() : "";
  const bool csv = lengths.rfind("csv:", 0) == 0;
  if (csv) {
    set("lengths.kind", "csv");
    set("lengths.path", lengths.substr(4));
    if (vm.count("lengths-order")) set("lengths.order", vm["lengths-order"].as<std::string>());
  } else {
    // Unquoted: any form of the config's `lengths` works, e.g. '{kind: fixed, input: 128, output: 64}'.
    if (!lengths.empty()) workload.apply_override("lengths=" + lengths);
    if (vm.count("lengths-order")) throw sllm::InputError("--lengths-order", "applies to --lengths csv:PATH only");
  }
  return workload;
}

const char* mapping_name(ModelMapping m) {
  switch (m) {
    case ModelMapping::rank: return "rank";
    case ModelMapping::first_seen: return "first-seen";
    case ModelMapping::round_robin: return "round-robin";
    case ModelMapping::trace: return "trace";
  }
  return "?";
}

int run_trace(const std::vector<std::string>& args) {
  po::options_description options("trace options");
  options.add_options()("output,o", po::value<std::string>(), "convert: the canonical CSV to write")(
      "models", po::value<std::uint32_t>()->default_value(0),
      "deployed models to map onto (0: one index per function)")(
      "seed", po::value<std::uint64_t>()->default_value(1), "seed for spreading and length sampling");
  for (const WorkloadFlag& f : kWorkloadFlags) options.add_options()(f.flag, po::value<std::string>(), f.help);
  options.add_options()("lengths", po::value<std::string>(),
                        "lengths: trace | csv:PATH (a CSV input_tokens,output_tokens) | a preset: gsm8k, sharegpt | "
                        "any YAML form of the key (default: trace; inspect of a format without token columns: "
                        "none)")(
      "lengths-order", po::value<std::string>(), "lengths.order for csv:PATH: sample | cycle (default: sample)")(
      "skip-bad-rows", po::bool_switch(), "skip_bad_rows: count and skip malformed rows instead of failing");
  po::options_description hidden;
  hidden.add_options()("action", po::value<std::string>())("file", po::value<std::string>());
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("action", 1).add("file", 1);
  po::variables_map vm;
  // --help lists only the visible options.
  if (std::find(args.begin(), args.end(), "--help") != args.end() ||
      std::find(args.begin(), args.end(), "-h") != args.end()) {
    std::cout << "usage: " << kUsage << "\n\n" << options << "\n";
    std::cout << "formats (--format):\n";
    for (const TraceFormat* f : trace_formats()) {
      std::cout << "  " << std::left << std::setw(22) << f->name() << f->summary() << "\n";
    }
    return sllm::cli::kExitOk;
  }
  if (!sllm::cli::parse_options(kUsage, all, positional, args, vm)) return sllm::cli::kExitOk;
  if (!vm.count("action") || !vm.count("file")) {
    throw sllm::InputError("command line", "expected 'inspect FILE' or 'convert FILE -o OUT.csv' (see --help)");
  }
  const std::string action = vm["action"].as<std::string>();
  if (action != "inspect" && action != "convert") {
    throw sllm::InputError("command line", "unknown action '" + action + "' (expected inspect or convert)");
  }
  const bool convert = action == "convert";
  if (convert && !vm.count("output")) throw sllm::InputError("--output", "convert needs -o OUT.csv");

  // inspect shows arrival statistics even for formats without token columns (lengths n/a).
  const TraceSourceOptions o = trace_source_options(workload_section(vm), vm["models"].as<std::uint32_t>(),
                                                    vm["seed"].as<std::uint64_t>(), /*lengths_optional=*/!convert);

  TraceSource source(o);
  RequestSpec r;
  if (convert) {
    const std::string out = vm["output"].as<std::string>();
    CanonicalCsvWriter writer(out);
    std::uint64_t n = 0;
    while (source.next(r)) {
      writer.write(r);
      ++n;
    }
    // A header-only file would only fail later, when replayed ("the workload produced no requests"):
    // fail now, and leave no file behind (the writer removes its temporary file).
    if (n == 0) {
      throw sllm::InputError(o.path, "no requests to convert after the window, mapping and dropping (nothing "
                                     "written); check --start, --duration and --extra-functions");
    }
    writer.commit();
    std::printf("wrote %llu requests to %s\n", static_cast<unsigned long long>(n), out.c_str());
  } else {
    TraceStatistics stats;
    while (source.next(r)) stats.add(r);
    const TraceSummary s = stats.summary();
    if (s.requests == 0) {
      std::fprintf(stderr, "warning: %s: no requests after the window, mapping and dropping\n", o.path.c_str());
    }
    std::printf("trace            %s (%s)\n", o.path.c_str(), std::string(o.format->name()).c_str());
    std::printf("requests         %llu\n", static_cast<unsigned long long>(s.requests));
    std::printf("duration         %.3f s (first to last arrival)\n", s.duration_s);
    std::printf("mean rate        %.4f req/s\n", s.mean_rate);
    if (s.requests >= 3) {
      std::printf("burstiness (CV)  %.4f (std/mean of inter-arrival times; Poisson = 1)\n", s.interarrival_cv);
    } else {
      std::printf("burstiness (CV)  n/a (fewer than 3 requests)\n");
    }
    std::printf("models           %u distinct indices (mapping: %s)\n", s.models, mapping_name(o.mapping));
    const auto print_lengths = [&](const char* name, const LengthHistogram& h) {
      if (o.lengths.kind == LengthsKind::none) {
        std::printf("%-16s n/a (the format has no token columns; see --lengths)\n", name);
        return;
      }
      std::printf("%-16s p50 %u  p90 %u  p99 %u  max %u  mean %.1f\n", name, h.percentile(0.5), h.percentile(0.9),
                  h.percentile(0.99), h.max(), h.mean());
    };
    print_lengths("input tokens", stats.input_tokens());
    print_lengths("output tokens", stats.output_tokens());
  }
  if (source.dropped_requests() > 0) {
    std::printf("dropped          %llu requests of functions beyond --models %u (--extra-functions drop)\n",
                static_cast<unsigned long long>(source.dropped_requests()), o.model_count);
  }
  if (o.reader.skip_bad_rows) {
    std::printf("skipped rows     %llu%s%s\n", static_cast<unsigned long long>(source.skipped_rows()),
                source.skipped_rows() > 0 ? " (first: " : "",
                source.skipped_rows() > 0 ? (source.first_skip_reason() + ")").c_str() : "");
  }
  return sllm::cli::kExitOk;
}

SLLM_SUBCOMMAND("trace", "inspect request traces and convert them to the canonical CSV", run_trace);

}  // namespace
