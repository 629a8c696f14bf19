// `sllmsim trace inspect|convert`: statistics of a request trace, and conversion to the canonical CSV,
// both streaming (docs/traces.md).
// GCC 12 at -O3 reports a false "potential null pointer dereference" inside Boost's
// typed_value<std::string>::notify (inlined std::string assignment), so string options need this before
// Boost's headers are read.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

#include "sllm/core/error.h"
#include "sllm/traces/inspect.h"
#include "sllm/traces/mapping.h"
#include "sllm/traces/readers.h"
#include "sllm/traces/token_lengths.h"
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
    "Formats: azure-llm, azure-functions-2019, azure-functions-2021, burstgpt, canonical (default: from the\n"
    "header). Mapping and scaling options apply to both.";

template <typename T>
T choice(const std::string& flag, const std::string& value,
         std::initializer_list<std::pair<const char*, T>> choices) {
  std::string names;
  for (const auto& [name, v] : choices) {
    if (value == name) return v;
    names += (names.empty() ? "'" : ", '") + std::string(name) + "'";
  }
  throw sllm::InputError("--" + flag, "unknown value '" + value + "' (expected one of " + names + ")");
}

sllm::Nanos duration_flag(const std::string& flag, const std::string& text) {
  try {
    return sllm::parse_duration(text);
  } catch (const std::invalid_argument& e) {
    throw sllm::InputError("--" + flag, e.what());
  }
}

int run_trace(const std::vector<std::string>& args) {
  po::options_description options("trace options");
  options.add_options()
      ("format", po::value<std::string>()->default_value("auto"), "trace format, or auto (from the header)")
      ("output,o", po::value<std::string>(), "convert: the canonical CSV to write")
      ("models", po::value<std::uint32_t>()->default_value(0),
       "deployed models to map onto (0: one index per function)")
      ("mapping", po::value<std::string>(),
       "rank | first-seen | round-robin | trace (default: trace for canonical, else rank)")
      ("extra-functions", po::value<std::string>()->default_value("wrap"),
       "functions beyond --models: wrap | drop")
      ("lengths", po::value<std::string>(),
       "token lengths: trace | csv:PATH (a CSV input_tokens,output_tokens) | a preset: gsm8k, sharegpt "
       "(default: trace)")
      ("lengths-order", po::value<std::string>()->default_value("sample"), "csv lengths: sample | cycle")
      ("rate-scale", po::value<double>()->default_value(1.0), "divide arrival times by this (2 = twice the rate)")
      ("start", po::value<std::string>()->default_value("0 s"), "window start on the trace's clock")
      ("duration", po::value<std::string>(), "window length (default: to the end)")
      ("spread", po::value<std::string>()->default_value("poisson"),
       "azure-functions-2019 arrivals within a minute: poisson | uniform")
      ("seed", po::value<std::uint64_t>()->default_value(1), "seed for spreading and length sampling")
      ("reorder-window", po::value<std::string>()->default_value("60 s"),
       "how far out of time order rows may be")
      ("skip-bad-rows", po::bool_switch(), "count and skip malformed rows instead of failing");
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

  TraceSourceOptions o;
  o.path = vm["file"].as<std::string>();
  const std::string format = vm["format"].as<std::string>();
  if (format == "auto") {
    o.format = detect_trace_format(o.path);
  } else {
    try {
      o.format = parse_trace_format(format);
    } catch (const std::invalid_argument& e) {
      throw sllm::InputError("--format", e.what());
    }
  }
  o.model_count = vm["models"].as<std::uint32_t>();
  o.mapping = o.format == TraceFormat::canonical ? ModelMapping::trace : ModelMapping::rank;
  if (vm.count("mapping")) {
    o.mapping = choice<ModelMapping>("mapping", vm["mapping"].as<std::string>(),
                                     {{"rank", ModelMapping::rank},
                                      {"first-seen", ModelMapping::first_seen},
                                      {"round-robin", ModelMapping::round_robin},
                                      {"trace", ModelMapping::trace}});
  }
  o.extra_functions = choice<ExtraFunctions>("extra-functions", vm["extra-functions"].as<std::string>(),
                                             {{"wrap", ExtraFunctions::wrap}, {"drop", ExtraFunctions::drop}});
  const bool has_tokens = format_has_token_lengths(o.format);
  if (vm.count("lengths")) {
    const std::string lengths = vm["lengths"].as<std::string>();
    if (lengths == "trace") {
      o.lengths.kind = LengthsKind::trace;
    } else if (lengths.rfind("csv:", 0) == 0 && lengths.size() > 4) {
      o.lengths.kind = LengthsKind::csv;
      o.lengths.csv_path = lengths.substr(4);
    } else if (auto preset = token_length_preset(lengths)) {
      o.lengths.kind = LengthsKind::sampler;
      o.lengths.sampler = std::move(preset);
    } else {
      std::string presets;
      for (const std::string& name : token_length_preset_names()) presets += ", " + name;
      throw sllm::InputError("--lengths", "expected trace, csv:PATH or a preset" + presets + "; got '" + lengths + "'");
    }
  } else if (!has_tokens) {
    if (convert) {
      throw sllm::InputError("--lengths", "the " + std::string(trace_format_name(o.format)) +
                                              " format has no token columns: give --lengths csv:PATH");
    }
    o.lengths.kind = LengthsKind::none;  // inspect: arrival statistics only
  }
  o.lengths.order = choice<LengthsOrder>("lengths-order", vm["lengths-order"].as<std::string>(),
                                         {{"sample", LengthsOrder::sample}, {"cycle", LengthsOrder::cycle}});
  o.rate_scale = vm["rate-scale"].as<double>();
  if (!(o.rate_scale > 0)) throw sllm::InputError("--rate-scale", "must be a positive number");
  o.start = duration_flag("start", vm["start"].as<std::string>());
  if (vm.count("duration")) o.duration = duration_flag("duration", vm["duration"].as<std::string>());
  o.reader.spread = choice<MinuteSpread>("spread", vm["spread"].as<std::string>(),
                                         {{"poisson", MinuteSpread::poisson}, {"uniform", MinuteSpread::uniform}});
  o.seed = o.reader.seed = vm["seed"].as<std::uint64_t>();
  o.reader.reorder_window = duration_flag("reorder-window", vm["reorder-window"].as<std::string>());
  o.reader.skip_bad_rows = vm["skip-bad-rows"].as<bool>();

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
    writer.commit();
    std::printf("wrote %llu requests to %s\n", static_cast<unsigned long long>(n), out.c_str());
  } else {
    TraceStatistics stats;
    while (source.next(r)) stats.add(r);
    const TraceSummary s = stats.summary();
    std::printf("trace            %s (%s)\n", o.path.c_str(), std::string(trace_format_name(o.format)).c_str());
    std::printf("requests         %llu\n", static_cast<unsigned long long>(s.requests));
    std::printf("duration         %.3f s (first to last arrival)\n", s.duration_s);
    std::printf("mean rate        %.4f req/s\n", s.mean_rate);
    if (s.requests >= 3) {
      std::printf("burstiness (CV)  %.4f (std/mean of inter-arrival times; Poisson = 1)\n", s.interarrival_cv);
    } else {
      std::printf("burstiness (CV)  n/a (fewer than 3 requests)\n");
    }
    std::printf("models           %u distinct indices (mapping: %s)\n", s.models,
                o.mapping == ModelMapping::rank ? "rank" : o.mapping == ModelMapping::first_seen ? "first-seen"
                                                 : o.mapping == ModelMapping::round_robin       ? "round-robin"
                                                                                                : "trace");
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
