// sllmsim ckpt: convert safetensors to the loading-optimised format, synthesise catalog-shaped
// checkpoints, inspect and verify them, and load them (timed, against raw disk and copy bandwidth).
// GCC 12 reports a false -Wnull-dereference inside Boost.Program_options' vector<string> notifier, which is
// instantiated at the end of this file, so the diagnostic cannot be scoped to the include.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <thread>

#include "sllm/models/checkpoint.h"
#include "sllm/models/device_backend.h"
#include "sllm/models/loader.h"
#include "sllm/models/loader_mode.h"
#include "sllm/models/safetensors.h"
#include "sllm/core/error.h"
#include "sllm/core/model_arch.h"
#include "sllm/core/units.h"
#include "subcommand.h"

namespace {

namespace po = boost::program_options;
using namespace sllm;
using namespace sllm::models;
using sllm::cli::kExitFailure;
using sllm::cli::kExitOk;

std::uint64_t bytes_flag(const po::variables_map& vm, const std::string& name) {
  try {
    return parse_bytes(vm[name].as<std::string>());
  } catch (const std::invalid_argument& e) {
    throw InputError("--" + name, e.what());
  }
}

int positive_flag(const po::variables_map& vm, const std::string& name) {
  const int v = vm[name].as<int>();
  if (v < 1) throw InputError("--" + name, "expected a positive integer, got " + std::to_string(v));
  return v;
}

// io_uring refuses a ring of more than 32768 entries (IORING_MAX_ENTRIES) with a bare EINVAL at load
// time; the direct mode puts every thread's requests in one ring of threads x depth entries. Checked
// up front so the flag, not the kernel, says what is wrong.
int queue_depth_flag(const po::variables_map& vm, int threads) {
  constexpr int kMaxRingEntries = 32768;
  const int depth = vm["queue-depth"].as<int>();
  if (depth < 1 || depth > kMaxRingEntries / threads) {
    throw InputError("--queue-depth", "expected 1 to " + std::to_string(kMaxRingEntries / threads) + " with " +
                                          std::to_string(threads) + " I/O thread(s) (io_uring rings hold at most " +
                                          std::to_string(kMaxRingEntries) + " entries, threads x depth in the direct mode), got " +
                                          std::to_string(depth));
  }
  return depth;
}

double gbps(double bytes_per_second) { return bytes_per_second / 1e9; }

int cmd_convert(const std::vector<std::string>& args) {
  po::options_description options("ckpt convert options");
  options.add_options()
      ("source", po::value<std::vector<std::string>>()->multitoken(), "safetensors files (one or several shards)")
      ("output,o", po::value<std::string>()->required(), "checkpoint directory to create")
      ("tp", po::value<int>()->default_value(1), "partitions (GPUs); whole layers per GPU, balanced by bytes")
      ("checksum-chunk", po::value<std::string>()->default_value("1 MiB"), "bytes per xxHash64 checksum");
  po::positional_options_description positional;
  positional.add("source", -1);
  po::variables_map vm;
  if (!cli::parse_options("sllmsim ckpt convert SRC.safetensors... -o DIR [options]", options, positional, args, vm)) return kExitOk;
  if (!vm.count("source")) throw InputError("ckpt convert", "expected at least one .safetensors source");
  const auto report = convert_safetensors(vm["source"].as<std::vector<std::string>>(), vm["output"].as<std::string>(),
                                          positive_flag(vm, "tp"), bytes_flag(vm, "checksum-chunk"));
  std::cout << "wrote " << vm["output"].as<std::string>() << ": " << report.tensors << " tensors, " << report.aliases
            << " aliases (shared storage), " << format_bytes(report.bytes) << "\n";
  return kExitOk;
}

int cmd_synth(const std::vector<std::string>& args) {
  po::options_description options("ckpt synth options");
  options.add_options()
      ("model", po::value<std::string>()->required(), "catalog model name (sllmsim's models/catalog.yaml)")
      ("output,o", po::value<std::string>()->required(), "checkpoint directory (or .safetensors file with --format safetensors)")
      ("tp", po::value<int>()->default_value(1), "partitions (GPUs); whole layers per GPU, balanced by bytes")
      ("seed", po::value<std::uint64_t>()->default_value(1), "random seed (same seed, same bytes)")
      ("format", po::value<std::string>()->default_value("sllm"), "sllm (checkpoint directory) or safetensors (one file)")
      ("checksum-chunk", po::value<std::string>()->default_value("1 MiB"), "bytes per xxHash64 checksum")
      ("threads", po::value<int>()->default_value(static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))),
       "threads generating random values");
  po::variables_map vm;
  if (!cli::parse_options("sllmsim ckpt synth --model NAME -o OUT [options]", options, {}, args, vm)) return kExitOk;
  const ModelArch& arch = ModelCatalog::builtin().get(vm["model"].as<std::string>(), "--model");
  const std::string format = vm["format"].as<std::string>();
  if (format != "sllm" && format != "safetensors") throw InputError("--format", "expected 'sllm' or 'safetensors', got '" + format + "'");
  if (format == "safetensors" && vm["tp"].as<int>() != 1) throw InputError("--tp", "a safetensors file has no partitions (use --format sllm)");
  synthesize_checkpoint(arch, vm["output"].as<std::string>(), positive_flag(vm, "tp"), vm["seed"].as<std::uint64_t>(),
                        bytes_flag(vm, "checksum-chunk"), format == "safetensors", positive_flag(vm, "threads"));
  std::cout << "wrote " << vm["output"].as<std::string>() << ": " << arch.name << ", " << format_bytes(arch.checkpoint_bytes()) << "\n";
  return kExitOk;
}

std::string dims(const std::vector<std::int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

int cmd_inspect(const std::vector<std::string>& args) {
  po::options_description options("ckpt inspect options");
  options.add_options()("dir", po::value<std::string>()->required(), "checkpoint directory")
      ("summary", po::bool_switch(), "omit the per-tensor listing");
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map vm;
  if (!cli::parse_options("sllmsim ckpt inspect DIR [--summary]", options, positional, args, vm)) return kExitOk;
  const Checkpoint ck = open_checkpoint(vm["dir"].as<std::string>());
  const CheckpointIndex& idx = ck.index;
  std::cout << "checkpoint " << ck.dir << ": format version " << idx.version << (idx.model.empty() ? "" : ", model " + idx.model) << "\n"
            << "  " << idx.tensors.size() << " tensors stored, " << idx.aliases.size() << " aliases, " << format_bytes(idx.total_bytes())
            << " in " << idx.partitions.size() << " partition(s); checksums: xxh64 per " << format_bytes(idx.checksum_chunk) << "\n";
  for (std::size_t p = 0; p < idx.partitions.size(); ++p) {
    std::size_t n = 0;
    for (const auto& t : idx.tensors) n += static_cast<std::size_t>(t.partition) == p;
    std::cout << "  partition " << p << ": " << idx.partitions[p].file << ", " << idx.partitions[p].bytes << " bytes, " << n
              << " tensors, " << idx.partitions[p].chunk_xxh64.size() << " checksum chunks\n";
  }
  std::map<std::string, std::uint64_t> by_dtype;
  for (const auto& t : idx.tensors) by_dtype[std::string(to_string(t.dtype))] += t.bytes;
  for (const auto& [d, b] : by_dtype) std::cout << "  " << d << ": " << format_bytes(b) << "\n";
  if (!vm["summary"].as<bool>()) {
    std::cout << "tensors (name dtype shape partition offset bytes):\n";
    for (const auto& t : idx.tensors) {
      std::cout << "  " << t.name << " " << to_string(t.dtype) << " " << dims(t.shape) << " " << t.partition << " " << t.offset << " "
                << t.bytes << "\n";
    }
    for (const auto& a : idx.aliases) std::cout << "  " << a.name << " -> " << a.target << "\n";
  }
  return kExitOk;
}

int cmd_verify(const std::vector<std::string>& args) {
  po::options_description options("ckpt verify options");
  options.add_options()("dir", po::value<std::string>()->required(), "checkpoint directory");
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map vm;
  if (!cli::parse_options("sllmsim ckpt verify DIR", options, positional, args, vm)) return kExitOk;
  const Checkpoint ck = open_checkpoint(vm["dir"].as<std::string>());
  const VerifyReport r = verify_checkpoint(ck);
  for (const auto& p : r.problems) std::cerr << "sllmsim ckpt verify: " << p << "\n";
  if (!r.problems.empty()) {
    std::cerr << "sllmsim ckpt verify: " << ck.dir << ": " << r.problems.size() << " problem(s)\n";
    return cli::kExitBadInput;  // a damaged checkpoint is bad input, as for `ckpt load` (docs/checkpoint-format.md)
  }
  std::cout << "ok: " << ck.dir << ": " << r.chunks_checked << " chunks, " << format_bytes(r.bytes_checked) << " match their checksums\n";
  return kExitOk;
}

// Compares every source tensor with the loaded one by fingerprint, computed where the loaded bytes live.
int compare_with_sources(const LoadedModel& model, const std::vector<std::string>& sources) {
  std::size_t matched = 0;
  std::size_t problems = 0;
  for (const std::string& src : sources) {
    const SafetensorsFile file(src);
    for (const SafetensorsTensor& t : file.header().tensors) {
      const TensorView* v = model.find(t.name);
      if (!v) {
        std::cerr << "compare: " << src << ": tensor '" << t.name << "' is missing from the loaded model\n";
        ++problems;
        continue;
      }
      const auto bytes = file.bytes(t);
      if (v->dtype != t.dtype || v->shape != t.shape || v->bytes != bytes.size() || fingerprint(*v) != fingerprint(bytes.data(), bytes.size())) {
        std::cerr << "compare: " << src << ": tensor '" << t.name << "' differs from the source\n";
        ++problems;
        continue;
      }
      ++matched;
    }
  }
  std::cout << "compare: " << matched << " tensors equal the source (fingerprints computed on " << model.device().to_string() << ")"
            << (problems ? ", " + std::to_string(problems) + " differ or are missing" : "") << "\n";
  return problems ? kExitFailure : kExitOk;
}

int cmd_load(const std::vector<std::string>& args) {
  std::string mode_help = "loader mode:";
  for (const std::string& m : loader_mode_names()) mode_help += " " + m;
  po::options_description options("ckpt load options");
  options.add_options()
      ("dir", po::value<std::string>()->required(), "checkpoint directory")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu or cuda:N (partition p goes to cuda:N+p)")
      ("mode", po::value<std::string>()->default_value(std::string(kDefaultLoaderMode)), mode_help.c_str())
      ("threads", po::value<std::string>()->default_value("auto"), "I/O threads, or auto: chosen from the CPUs and the storage (docs/loader.md)")
      ("chunk", po::value<std::string>()->default_value("32 MiB"), "chunk size (a multiple of the checksum chunk)")
      ("repeat", po::value<int>()->default_value(1), "loads in this invocation (the DRAM pool persists between them)")
      ("drop-caches", po::bool_switch(), "drop the page cache and the DRAM pool before every load (needs root)")
      ("io", po::value<std::string>()->default_value("auto"), "uring, threads, or auto: threads from memory (tmpfs), else uring")
      ("queue-depth", po::value<int>()->default_value(8), "io_uring requests in flight per I/O thread")
      ("request-size", po::value<std::string>()->default_value("1 MiB"), "largest single read request (a multiple of 4 KiB)")
      ("streams", po::value<int>()->default_value(4), "CUDA streams per GPU (copy threads for cpu)")
      ("pool", po::value<std::string>(), "DRAM pool size (default: the checkpoint, for the modes that use the pool: sllm, pinned)")
      ("no-verify", po::bool_switch(), "skip chunk checksums")
      ("no-baselines", po::bool_switch(), "skip the raw read and copy bandwidth probes")
      ("compare", po::value<std::vector<std::string>>()->multitoken(),
       "safetensors sources to compare the loaded tensors with (fingerprints computed on the device)");
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map vm;
  if (!cli::parse_options("sllmsim ckpt load DIR [options]", options, positional, args, vm)) return kExitOk;

  const Checkpoint ck = open_checkpoint(vm["dir"].as<std::string>());
  LoadOptions lo;
  lo.device = Device::parse(vm["device"].as<std::string>(), "--device");
  lo.mode = vm["mode"].as<std::string>();
  const LoaderModeTraits mode = loader_mode(lo.mode, "--mode").traits();
  lo.verify = !vm["no-verify"].as<bool>();
  LoaderOptions opts;
  opts.chunk_bytes = bytes_flag(vm, "chunk");
  // Checked here, not only by the Loader: the pool size below divides by it first.
  if (opts.chunk_bytes == 0 || opts.chunk_bytes % kCheckpointAlignment != 0) {
    throw InputError("--chunk", "expected a positive multiple of 4 KiB, got " + vm["chunk"].as<std::string>());
  }
  std::string threads_note;
  if (const std::string t = vm["threads"].as<std::string>(); t == "auto") {
    const StorageInfo storage = probe_storage(ck.partition_path(0));
    opts.threads = read_threads_for(ck, opts);
    threads_note = " chosen for " + std::to_string(usable_cpus()) + " CPUs and " + std::string(to_string(storage.medium)) +
                   " storage" + (storage.device.empty() ? "" : " (" + storage.device + ")");
  } else {
    std::size_t used = 0;
    int n = 0;
    try {
      n = std::stoi(t, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != t.size() || n < 1) throw InputError("--threads", "expected a positive integer or auto, got '" + t + "'");
    opts.threads = n;
  }
  opts.queue_depth = queue_depth_flag(vm, opts.threads);
  opts.request_bytes = bytes_flag(vm, "request-size");
  opts.copy_streams = positive_flag(vm, "streams");
  opts.io = parse_io_backend(vm["io"].as<std::string>(), "--io");
  const bool io_chosen = opts.io == IoBackend::kAuto;
  if (io_chosen) opts.io = io_backend_for(ck, opts);
  opts.pool_backend = lo.device.backend;
  const std::uint64_t total = ck.index.total_bytes();
  if (vm.count("pool")) {
    opts.pool_bytes = bytes_flag(vm, "pool");
  } else if (mode.uses_pool) {
    opts.pool_bytes = std::max(opts.chunk_bytes, (total + opts.chunk_bytes - 1) / opts.chunk_bytes * opts.chunk_bytes);
  } else {
    opts.pool_bytes = opts.chunk_bytes;  // unused by the other modes
  }
  const int repeat = positive_flag(vm, "repeat");
  const bool drop = vm["drop-caches"].as<bool>();
  const DeviceBackend& backend = device_backend(lo.device);  // loads the backend (CUDA) or says why not
  if (!backend.host_memory() && lo.device.index + static_cast<int>(ck.index.partitions.size()) > backend.device_count()) {
    throw std::runtime_error("the checkpoint has " + std::to_string(ck.index.partitions.size()) + " partition(s) for " +
                             lo.device.to_string() + ".. but " + std::to_string(backend.device_count()) + " " + lo.device.backend +
                             " device(s) are visible");
  }

  Loader loader(opts);
  std::cout << "checkpoint " << ck.dir << ": " << format_bytes(total) << " in " << ck.index.partitions.size() << " partition(s); mode "
            << lo.mode << ", device " << lo.device.to_string() << ", " << opts.threads << " I/O threads" << threads_note << " (" << to_string(opts.io)
            << (io_chosen ? ", chosen" : "") << "), chunk " << format_bytes(opts.chunk_bytes) << " in requests of " << format_bytes(opts.request_bytes) << ", pool " << format_bytes(loader.pool_chunks() * opts.chunk_bytes) << "\n";

  if (!mode.verifies_checksums && lo.verify) {
    std::cout << "mode " << lo.mode << " does not verify checksums (as the library it models); `sllmsim ckpt verify "
              << ck.dir << "` checks the checkpoint\n";
  }

  double raw_read = 0;
  std::string raw_backend;
  if (!vm["no-baselines"].as<bool>()) {
    for (IoBackend b : {IoBackend::kUring, IoBackend::kThreads}) {
      LoaderOptions probe = opts;
      probe.io = b;
      bool buffered = false;
      const double bw = measure_direct_read(ck, probe, &buffered);
      std::cout << (buffered ? "raw read (buffered: O_DIRECT refused, " : "raw O_DIRECT read (") << to_string(b) << ", " << opts.threads << " threads, " << format_bytes(opts.chunk_bytes)
                << " chunks in " << format_bytes(opts.request_bytes) << " requests): " << format_bandwidth(bw) << "\n";
      if (bw > raw_read) {
        raw_read = bw;
        raw_backend = std::string(to_string(b));
      }
    }
  }

  std::unique_ptr<LoadedModel> model;
  std::vector<LoadStats> runs;
  for (int r = 1; r <= repeat; ++r) {
    model.reset();  // free the previous copy first: the destination may not hold two
    if (drop) {
      drop_page_cache();
      loader.drop_cache();
    }
    LoadStats st;
    model = loader.load(ck, lo, &st);
    runs.push_back(st);
    std::printf("run %d/%d: %.3f s, %.2f GB/s", r, repeat, st.seconds, gbps(static_cast<double>(st.bytes) / st.seconds));
    if (mode.uses_pool && st.chunks > 0) {
      std::printf(" (%llu of %llu chunks from DRAM)", static_cast<unsigned long long>(st.chunks_from_dram),
                  static_cast<unsigned long long>(st.chunks));
    }
    std::printf(", device allocation %.1f ms%s\n", st.alloc_seconds * 1e3, st.buffered_fallback ? " [buffered reads: O_DIRECT refused]" : "");
    std::fflush(stdout);
  }

  if (!vm["no-baselines"].as<bool>()) {
    const std::uint64_t probe_bytes = std::clamp<std::uint64_t>(total, 64ull << 20, 1ull << 30);
    model.reset();
    const double copy = backend.copy_bandwidth(lo.device.index, probe_bytes, opts.copy_streams);
    const std::string copy_name = backend.host_memory() ? "host memcpy" : "pinned host-to-device copy (" + lo.device.to_string() + ")";
    std::cout << copy_name << ": " << format_bandwidth(copy) << "\n";
    for (std::size_t r = 0; r < runs.size(); ++r) {
      const double bw = static_cast<double>(runs[r].bytes) / runs[r].seconds;
      std::printf("run %zu: %.1f%% of raw O_DIRECT read, %.1f%% of %s\n", r + 1, 100.0 * bw / raw_read, 100.0 * bw / copy,
                  backend.host_memory() ? "memcpy" : "pinned H2D");
      std::printf("result mode=%s device=%s run=%zu seconds=%.4f alloc_seconds=%.4f gbps=%.3f dram_chunks=%llu chunks=%llu "
                  "raw_read_gbps=%.3f raw_read_io=%s copy_gbps=%.3f\n",
                  lo.mode.c_str(), lo.device.to_string().c_str(), r + 1, runs[r].seconds, runs[r].alloc_seconds, gbps(bw),
                  static_cast<unsigned long long>(runs[r].chunks_from_dram), static_cast<unsigned long long>(runs[r].chunks),
                  gbps(raw_read), raw_backend.c_str(), gbps(copy));
    }
    if (vm.count("compare")) {
      model = loader.load(ck, lo, nullptr);  // the probe freed it; a warm reload
    }
  }
  if (vm.count("compare")) return compare_with_sources(*model, vm["compare"].as<std::vector<std::string>>());
  return kExitOk;
}

int run_ckpt(const std::vector<std::string>& args) {
  static const std::map<std::string, int (*)(const std::vector<std::string>&)> kCommands = {
      {"convert", cmd_convert}, {"synth", cmd_synth}, {"inspect", cmd_inspect}, {"verify", cmd_verify}, {"load", cmd_load}};
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << "usage: sllmsim ckpt <convert|synth|inspect|verify|load> [options]   (--help after one for its options)\n";
    return args.empty() ? cli::kExitBadInput : kExitOk;
  }
  auto it = kCommands.find(args[0]);
  if (it == kCommands.end()) throw InputError("ckpt", "unknown action '" + args[0] + "' (expected convert, synth, inspect, verify or load)");
  return it->second(std::vector<std::string>(args.begin() + 1, args.end()));
}

SLLM_SUBCOMMAND("ckpt", "convert, synthesise, inspect, verify and load checkpoints", run_ckpt);

}  // namespace
