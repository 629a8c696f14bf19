#include "sllm/calibrate/calibration.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>
#include <variant>

#include "probes.h"
#include "sllm/calibrate/fit.h"
#include "sllm/core/loader_modes.h"
#include "sllm/models/checkpoint.h"
#include "sllm/models/device_backend.h"
#include "sllm/models/engine.h"
#include "sllm/models/loader.h"
#include "sllm/models/migration.h"
#include "sllm/core/error.h"
#include "sllm/core/files.h"
#include "sllm/core/model_arch.h"
#include "sllm/sim/outputs.h"

namespace sllm::calibrate {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1ull << 20;
// A load point is measured well enough when the 90% interval of its median is within +-2%: the noise
// then takes well under half of the 5% target.
constexpr double kLoadUncertainty = 0.02;

void say(const CalibrationOptions& o, const std::string& line) {
  if (o.log) *o.log << line << std::endl;
}

std::string gbps(double bw) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GB/s", bw / 1e9);
  return buf;
}

// A checkpoint of `bytes` in 16 MiB fp16 tensors (names and shapes do not matter to the loader).
models::Checkpoint synth_blob_checkpoint(const std::string& dir, std::uint64_t bytes) {
  models::CheckpointWriter writer(dir, 1, models::kDefaultChecksumChunk, "calibration-blob");
  const std::uint64_t tensor = std::min<std::uint64_t>(kProbeTensorBytes, bytes);
  std::vector<std::uint16_t> data(tensor / 2);
  std::uint64_t x = bytes;
  for (auto& h : data) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    h = models::float_to_half(static_cast<float>(static_cast<double>(x >> 40) / 16777216.0 - 0.5));
  }
  const std::span<const std::byte> span(reinterpret_cast<const std::byte*>(data.data()), tensor);
  for (std::uint64_t i = 0; i * tensor < bytes; ++i) {
    writer.add("blob." + std::to_string(i), DType::kF16, {static_cast<std::int64_t>(tensor / 2)}, 0, span);
  }
  writer.finish();
  return models::open_checkpoint(dir);
}

void probe_storage(const CalibrationOptions& o, Profile& p) {
  const std::string file = o.scratch + "/read-probe.bin";
  const std::uint64_t size = (o.quick ? 128 : 1024) * kMiB;
  write_scratch_file(file, size);
  const std::vector<std::uint64_t> chunks = o.quick ? std::vector<std::uint64_t>{1 * kMiB, 8 * kMiB}
                                                     : std::vector<std::uint64_t>{256 << 10, 1 * kMiB, 4 * kMiB, 16 * kMiB, 32 * kMiB};
  const std::vector<std::pair<int, int>> configs = o.quick ? std::vector<std::pair<int, int>>{{1, 1}, {4, 4}}
                                                           : std::vector<std::pair<int, int>>{{1, 1}, {1, 8}, {4, 1}, {4, 4}, {8, 8}};
  double best = 0;
  for (auto chunk : chunks) {
    for (auto [threads, qd] : configs) {
      evict_from_page_cache(file);
      const DirectReadResult r = direct_read(file, chunk, threads, qd);
      const double bw = static_cast<double>(r.bytes) / r.seconds;
      best = std::max(best, bw);
      char key[96];
      std::snprintf(key, sizeof key, "ssd_read_%s_chunk%lluKiB_threads%d_qd%d", r.direct ? "direct" : "buffered",
                    static_cast<unsigned long long>(chunk >> 10), threads, qd);
      p.probes[key] = bw;
      say(o, std::string("  ") + key + ": " + gbps(bw));
    }
  }
  p.probes["ssd_read_best"] = best;
  fs::remove(file);
  const std::uint64_t copy = (o.quick ? 64 : 512) * kMiB;
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int threads : {1, hw}) {
    const double bw = dram_copy_bandwidth(copy, threads);
    p.probes["dram_copy_threads" + std::to_string(threads)] = bw;
    say(o, "  dram copy, " + std::to_string(threads) + " thread(s): " + gbps(bw));
    if (hw == 1) break;
  }
  for (const CopyProbe& c : gpu_copy_probes(models::Device::parse(o.device, "--device"), (o.quick ? 64 : 512) * kMiB)) {
    const std::string key = c.key();
    p.probes[key] = c.bandwidth;
    say(o, "  " + key + ": " + gbps(c.bandwidth));
  }
}

struct EngineShape {
  std::string model;
  std::vector<int> prompts;
  std::vector<int> batches;
  std::vector<int> contexts;
  std::vector<int> migration_prompts;
  int migration_min_tokens = 0;       // output tokens of a probe migration at least
  double migration_max_seconds = 0;   // of decoding per probe migration at most
};

// Appends the shape's rows to `out` only when every probe ran: a model whose probes failed part way
// (out of memory) leaves no law with too few points behind.
void probe_engine(const CalibrationOptions& o, const models::Device& device, const EngineShape& shape,
                  std::vector<Measurement>& out) {
  std::vector<Measurement> rows;
  const ModelArch& arch = ModelCatalog::builtin().get(shape.model, "calibration model");
  const auto t_weights = Clock::now();
  const models::RandomWeights weights(arch, 7);
  say(o, "  " + shape.model + ": random weights in " + std::to_string(since(t_weights)) + " s");
  const int max_batch = *std::max_element(shape.batches.begin(), shape.batches.end());
  models::EngineConfig config;
  config.max_sequences = max_batch;
  config.max_context = arch.max_positions;
  auto engine = models::Engine::create(arch, weights, device, config);
  const int repeats = o.quick ? 3 : 5;
  std::uint64_t seed = 1;
  // Warm-up: first passes allocate workspaces and (CUDA) capture graphs.
  {
    const auto warm = models::random_tokens(seed++, shape.prompts.back(), arch.vocab);
    models::generate_greedy(*engine, 0, warm, 4);
    engine->reset(0);
  }
  // Prefill: one prompt of L tokens.
  for (int len : shape.prompts) {
    std::vector<double> t;
    for (int r = 0; r < repeats; ++r) {
      const auto prompt = models::random_tokens(seed++, len, arch.vocab);
      engine->reset(0);
      const models::SequenceChunk chunk{0, prompt};
      const auto t0 = Clock::now();
      engine->forward(std::span(&chunk, 1));
      t.push_back(since(t0));
    }
    engine->reset(0);
    const auto tokens = static_cast<std::uint64_t>(len);
    rows.push_back({PrefillOperation{shape.model, tokens, tokens * tokens}, median(t)});
  }
  // Decode: `batch` sequences of `ctx` tokens each, then single-token steps.
  const int steps = o.quick ? 3 : 6;
  for (int batch : shape.batches) {
    for (int ctx : shape.contexts) {
      std::vector<std::vector<models::TokenId>> last(static_cast<std::size_t>(batch));
      for (int s = 0; s < batch; ++s) {
        engine->reset(s);
        const auto prompt = models::random_tokens(seed++, ctx, arch.vocab);
        const models::SequenceChunk chunk{s, prompt};
        last[static_cast<std::size_t>(s)] = {engine->forward(std::span(&chunk, 1)).front()};
      }
      std::vector<double> t;
      std::uint64_t context = 0;
      for (int step = 0; step < steps; ++step) {
        std::vector<models::SequenceChunk> chunks;
        for (int s = 0; s < batch; ++s) chunks.push_back({s, last[static_cast<std::size_t>(s)]});
        const auto t0 = Clock::now();
        const auto next = engine->forward(chunks);
        t.push_back(since(t0));
        for (int s = 0; s < batch; ++s) last[static_cast<std::size_t>(s)] = {next[static_cast<std::size_t>(s)]};
        if (step == steps / 2) context = static_cast<std::uint64_t>(batch) * static_cast<std::uint64_t>(ctx + step + 1);
      }
      // The median step (its context is the middle step's: the steps differ by `batch` tokens only).
      rows.push_back({DecodeOperation{shape.model, static_cast<std::uint64_t>(batch), context}, median(t)});
    }
  }
  for (int s = 0; s < max_batch; ++s) engine->reset(s);
  // Live migrations: the source decodes while the destination recomputes; every round is a point. The
  // simulator migrates between servers, so the destination gets a GPU of its own when there is one
  // (on one GPU the two engines' kernels contend, which inflates and scatters the recompute times).
  engine.reset();
  models::Device destination = device;
  if (models::device_count(device.backend) > device.index + 1) destination.index = device.index + 1;
  say(o, "  " + shape.model + ": migrations from " + device.to_string() + " to " + destination.to_string());
  models::EngineConfig one;
  one.max_sequences = 1;
  one.max_context = arch.max_positions;
  // The destination's load is creating this engine again from the host weights: time it to size the
  // probes (then the probes' own loads, which run next to a decoding source, take over when longer).
  const auto t_load = Clock::now();
  auto source = models::Engine::create(arch, weights, device, one);
  double load_seconds = since(t_load);
  double step_seconds = 0;  // the fastest measured single-sequence step: the most tokens per second
  for (const Measurement& m : rows) {
    const auto* decode = std::get_if<DecodeOperation>(&m.operation);
    if (decode && decode->batch == 1 && (step_seconds == 0 || m.seconds < step_seconds)) step_seconds = m.seconds;
  }
  std::vector<Measurement> migration_rows;
  models::MigrationConfig mc;
  for (int prompt_len : shape.migration_prompts) {
    for (int r = 0; r < (o.quick ? 1 : 2); ++r) {
      models::LiveMigrationRequest req;
      req.prompt = models::random_tokens(seed++, prompt_len, arch.vocab);
      source->reset(0);
      const models::SequenceChunk chunk{0, req.prompt};
      const auto t_prefill = Clock::now();
      source->forward(std::span(&chunk, 1));
      const double prefill_seconds = since(t_prefill);
      const MigrationProbeSize size =
          size_migration_probe(load_seconds, step_seconds, prefill_seconds, prompt_len, arch.max_positions,
                               shape.migration_min_tokens, shape.migration_max_seconds);
      req.new_tokens = size.new_tokens;
      req.migrate_at_token = size.migrate_at_token;
      // The destination loads from the same host weights (the load is not what is measured here) and warms
      // up as a serving instance does before it takes requests (vLLM's profiling run): one forward at the
      // longest sequence it accepts sizes every workspace, and a decode step captures its graph. Without
      // it the first round pays those allocations (device syncs included), which no recompute law models.
      // The source decodes while the destination loads, as in service. When it cannot outlast the load
      // (capped by the model's positions: tiny models on a CPU decode far faster than an engine is
      // created) or finished first anyway, the probe runs (again) with the source waiting at the migration
      // point until the destination is ready: the rounds and the pause are what is measured, not the load.
      auto migrate = [&](bool hold) {
        std::promise<void> loaded;
        const std::shared_future<void> ready = loaded.get_future().share();
        models::LiveMigrationHooks hooks;
        if (hold) {
          hooks.on_source_token = [&req, ready](int produced) {
            if (produced == req.migrate_at_token) ready.wait();
          };
        }
        return models::run_live_migration(
            *source,
            [&] {
              struct SignalReady {  // also when creating the engine throws: the source must not wait forever
                std::promise<void>& p;
                ~SignalReady() { p.set_value(); }
              } signal{loaded};
              auto e = models::Engine::create(arch, weights, destination, one);
              models::generate_greedy(*e, 0, models::random_tokens(1, arch.max_positions - 1, arch.vocab), 1);
              e->reset(0);
              return e;
            },
            req, mc, hooks);
      };
      models::LiveMigrationReport report;
      for (bool hold = !size.fits;; hold = true) {
        report = migrate(hold);
        load_seconds = std::max(load_seconds, report.load_seconds);
        if (report.decode_step_seconds > 0 && (step_seconds == 0 || report.decode_step_seconds < step_seconds)) {
          step_seconds = report.decode_step_seconds;
        }
        char line[220];
        std::snprintf(line, sizeof line, "  migration %s prompt %d, %d new tokens%s%s: load %.3f s, %s", shape.model.c_str(),
                      prompt_len, req.new_tokens, size.fits ? "" : " (capped)", hold ? ", source held during the load" : "",
                      report.load_seconds,
                      report.dropped ? "dropped (the source finished first)"
                                     : (std::to_string(report.rounds.size()) + " rounds").c_str());
        say(o, line);
        if (!report.dropped || hold) break;
      }
      if (report.dropped) continue;
      for (const auto& round : report.rounds) {
        migration_rows.push_back({RecomputeOperation{shape.model, static_cast<std::uint64_t>(round.end - round.begin),
                                                     static_cast<std::uint64_t>(round.begin)},
                                  round.recompute_seconds});
      }
      if (!report.rounds.empty()) {
        const auto& fin = report.rounds.back();
        migration_rows.push_back({PauseOperation{shape.model, static_cast<std::uint64_t>(fin.end - fin.begin),
                                                 static_cast<std::uint64_t>(fin.begin)},
                                  report.pause_seconds});
      }
    }
  }
  // Migrations dropped (the source finished first) can leave too few rounds for the migration law: then
  // none is measured, as a refit of the written measurements would conclude.
  try {
    require_enough_points(measured_points(migration_rows), "migration probes");
    rows.insert(rows.end(), migration_rows.begin(), migration_rows.end());
  } catch (const InputError& e) {
    say(o, "  " + shape.model + ": no migration law: " + e.what());
  }
  out.insert(out.end(), rows.begin(), rows.end());
  say(o, "  " + shape.model + ": engine and migration probes done");
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::stringstream ss(line);
  while (std::getline(ss, cell, ',')) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

// The whole cell must be one finite number ("1.5abc", "", "nan" are errors naming the column).
double parse_number(const std::string& cell, const std::string& where, const char* column) {
  double v = 0;
  const char* end = cell.data() + cell.size();
  const auto [ptr, ec] = std::from_chars(cell.data(), end, v);
  if (ec != std::errc() || ptr != end || !std::isfinite(v)) {
    throw InputError(where, std::string("column ") + column + ": expected a finite number, got '" + cell + "'");
  }
  return v;
}

// A count (bytes, tokens, a batch): a whole number a double holds exactly.
std::uint64_t to_count(double v, const std::string& cell, const std::string& where, const char* column) {
  if (!(v >= 0 && v <= 9007199254740992.0 && v == std::floor(v))) {
    throw InputError(where, std::string("column ") + column + ": expected a whole number, got '" + cell + "'");
  }
  return static_cast<std::uint64_t>(v);
}

// The cells a row's operation fills: model, mode, tier, x0, x1.
struct Cells {
  std::string model, mode, tier;
  std::uint64_t x0 = 0, x1 = 0;
};
Cells cells_of(const Operation& op) {
  struct Visitor {
    Cells operator()(const LoadOperation& l) const { return {"", l.mode, to_string(l.tier), l.bytes, 0}; }
    Cells operator()(const PrefillOperation& p) const { return {p.model, "", "", p.tokens, p.sum_squares}; }
    Cells operator()(const DecodeOperation& d) const { return {d.model, "", "", d.batch, d.context}; }
    Cells operator()(const RecomputeOperation& r) const { return {r.model, "", "", r.tokens, r.cached}; }
    Cells operator()(const PauseOperation& p) const { return {p.model, "", "", p.tokens, p.cached}; }
  };
  return std::visit(Visitor{}, op);
}

// A law and the distinct points it is fitted to, named as the validation summary names it ("load sllm
// ssd", "prefill tiny-opt", ...), in order of first appearance. A pause is charged as the final round's
// recompute plus the hand-off: it belongs to the model's recompute law without being one of its points.
enum class LawKind { kLoad, kPrefill, kDecode, kRecompute };
struct LawPoints {
  LawKind kind;
  std::string name;
  std::vector<const MeasuredPoint*> points;
};
std::vector<LawPoints> points_by_law(const std::vector<MeasuredPoint>& points) {
  std::vector<LawPoints> laws;
  std::map<std::string, std::size_t> index;
  for (const MeasuredPoint& pt : points) {
    const Operation& op = pt.median.operation;
    const Cells c = cells_of(op);
    const bool pause = std::holds_alternative<PauseOperation>(op);
    const LawKind kind = pause ? LawKind::kRecompute : static_cast<LawKind>(op.index());  // Operation's order
    const std::string name = kind == LawKind::kLoad ? "load " + c.mode + " " + c.tier
                                                    : std::string(pause ? "recompute" : kind_name(op)) + " " + c.model;
    const auto [it, fresh] = index.try_emplace(name, laws.size());
    if (fresh) laws.push_back({kind, name, {}});
    if (!pause) laws[it->second].points.push_back(&pt);
  }
  return laws;
}

}  // namespace

void probe_loader(const CalibrationOptions& o, const models::Device& device, const LoaderRun& run, Profile& p,
                  std::vector<Measurement>& out) {
  const std::vector<std::uint64_t>& sizes = run.sizes;
  // Rounds go over every mode and size in turn (not one point's repeats back to back): a disk's throughput
  // drifts by more than the 5% target over minutes (docs/loader.md: 1.57-2.34 GB/s for one read within
  // half an hour; slow spells of tens of seconds, calibration.md), and interleaving spreads a slow period
  // over the rounds. Within a round one mode's sizes run back to back, so that a slow spell slows all of a
  // law's points together (its bandwidth in that round) instead of bending its shape.
  const int base_rounds = run.base_rounds;
  // Then modes with a point whose median is not yet pinned down get more rounds, up to a cap in rounds and
  // in time: a shared virtual disk's reads scatter by +-15-20% (calibration.md), far more than the target.
  const int max_rounds = std::max(run.max_rounds, base_rounds);
  const double extra_seconds = run.extra_seconds;
  models::LoaderOptions lo;
  lo.chunk_bytes = o.quick ? 4 * kMiB : 32 * kMiB;
  lo.pool_bytes = sizes.back() + 2 * lo.chunk_bytes;  // a warm load finds the whole checkpoint in the pool
  lo.pool_backend = device.backend;  // I/O threads, queue depth and request size: the loader's defaults
  p.chunk_size = lo.chunk_bytes;
  models::Loader loader(lo);
  // Every registered mode: the end-to-end loaders (sllm, safetensors, torch) and the paper's ablation
  // steps (figure 2), each a real loader code path.
  const std::vector<std::string> modes = loader_mode_names();
  std::vector<models::Checkpoint> ckpts;
  for (std::uint64_t size : sizes) ckpts.push_back(synth_blob_checkpoint(run.dir + "/ckpt-" + std::to_string(size >> 20) + "MiB", size));
  // cold[size][mode], warm[size][mode]: one time per round.
  std::vector<std::vector<std::vector<double>>> cold(sizes.size(), std::vector<std::vector<double>>(modes.size())), warm = cold;
  auto measure = [&](std::size_t si, std::size_t mi) {
    const models::Checkpoint& ckpt = ckpts[si];
    models::LoadOptions opt;
    opt.device = device;
    opt.mode = modes[mi];
    opt.verify = false;  // the checksum pass is not part of what the paper's loaders do per load
    loader.drop_cache();
    for (std::size_t part = 0; part < ckpt.index.partitions.size(); ++part) evict_from_page_cache(ckpt.partition_path(static_cast<int>(part)));
    models::LoadStats s;
    loader.load(ckpt, opt, &s).reset();
    cold[si][mi].push_back(s.seconds);
    loader.load(ckpt, opt, &s).reset();  // the checkpoint is now in the pool / page cache
    warm[si][mi].push_back(s.seconds);
  };
  for (int r = 0; r < base_rounds; ++r) {
    for (std::size_t mi = 0; mi < modes.size(); ++mi) {
      for (std::size_t si = 0; si < ckpts.size(); ++si) measure(si, mi);
    }
  }
  // A mode is settled when each of its points is; an unsettled mode gets all its sizes measured again.
  auto settled = [&](std::size_t mi) {
    for (std::size_t si = 0; si < ckpts.size(); ++si) {
      if (median_uncertainty(cold[si][mi]) > kLoadUncertainty || median_uncertainty(warm[si][mi]) > kLoadUncertainty) return false;
    }
    return true;
  };
  const auto t_extra = Clock::now();
  int extra_loads = 0;
  for (int r = base_rounds; r < max_rounds; ++r) {
    bool any = false;
    for (std::size_t mi = 0; mi < modes.size(); ++mi) {
      if (settled(mi) || since(t_extra) >= extra_seconds) continue;
      for (std::size_t si = 0; si < ckpts.size(); ++si) measure(si, mi);
      any = true;
      extra_loads += static_cast<int>(ckpts.size());
    }
    if (!any) break;
  }
  if (max_rounds > base_rounds) {
    char line[160];
    std::snprintf(line, sizeof line, "  %d more cold+warm load pairs in %.0f s, for medians within +-%.0f%% (90%% interval)",
                  extra_loads, since(t_extra), 100 * kLoadUncertainty);
    say(o, line);
  }
  // Every round is a row: the laws are fitted to each point's median (measured_points), and the rounds
  // stay in the file to show the spread.
  for (std::size_t si = 0; si < ckpts.size(); ++si) {
    const std::uint64_t size = ckpts[si].index.total_bytes();
    const double bytes = static_cast<double>(size);
    for (std::size_t mi = 0; mi < modes.size(); ++mi) {
      const std::string& mode_name = modes[mi];
      for (double t : cold[si][mi]) out.push_back({LoadOperation{mode_name, Tier::kSsd, size}, t});
      for (double t : warm[si][mi]) out.push_back({LoadOperation{mode_name, Tier::kDram, size}, t});
      auto summary = [&](const std::vector<double>& rounds) {
        const double t = median(rounds), u = median_uncertainty(rounds);
        char text[80];
        std::snprintf(text, sizeof text, "%.4f s (%s", t, gbps(bytes / t).c_str());
        std::string line = text;
        if (std::isfinite(u)) {
          std::snprintf(text, sizeof text, ", +-%.1f%%", 100 * u);
          line += text;
        }
        return line + ")";
      };
      say(o, "  load " + mode_name + " " + std::to_string(static_cast<long long>(bytes / kMiB)) + " MiB: cold " +
                 summary(cold[si][mi]) + ", warm " + summary(warm[si][mi]) + ", " + std::to_string(cold[si][mi].size()) +
                 " rounds");
    }
  }
  for (const models::Checkpoint& ckpt : ckpts) fs::remove_all(ckpt.dir);
}

const char* kind_name(const Operation& op) {
  static constexpr const char* kNames[] = {"load", "prefill", "decode", "recompute", "pause"};
  static_assert(std::size(kNames) == std::variant_size_v<Operation>);
  return kNames[op.index()];
}

void write_measurements(const std::vector<Measurement>& rows, const std::string& path) {
  std::string text = "kind,model,mode,tier,x0,x1,seconds\n";
  char buf[128];
  for (const auto& m : rows) {
    const Cells c = cells_of(m.operation);
    std::snprintf(buf, sizeof buf, "%.17g,%.17g,%.17g", static_cast<double>(c.x0), static_cast<double>(c.x1), m.seconds);
    text += std::string(kind_name(m.operation)) + ',' + c.model + ',' + c.mode + ',' + c.tier + ',' + buf + '\n';
  }
  write_file_atomically(path, text);
}

std::vector<Measurement> read_measurements(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path, "cannot open measurements file");
  std::string line;
  if (!std::getline(in, line) || line != "kind,model,mode,tier,x0,x1,seconds") {
    throw InputError(path + ":1", "expected the header 'kind,model,mode,tier,x0,x1,seconds'");
  }
  std::vector<Measurement> rows;
  int lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    const auto cells = split_csv(line);
    const std::string where = path + ":" + std::to_string(lineno);
    if (cells.size() != 7) throw InputError(where, "expected 7 columns, got " + std::to_string(cells.size()));
    const std::string &kind = cells[0], &model = cells[1], &mode = cells[2], &tier = cells[3];
    static const std::vector<std::string> kinds = {"load", "prefill", "decode", "recompute", "pause"};
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
      throw InputError(where, "unknown kind '" + kind + "' (expected load, prefill, decode, recompute or pause)");
    }
    const bool load = kind == "load";
    if (load && tier != "ssd" && tier != "dram") throw InputError(where, "load tier must be ssd or dram");
    const double x0 = parse_number(cells[4], where, "x0");
    const double x1 = parse_number(cells[5], where, "x1");
    const double seconds = parse_number(cells[6], where, "seconds");
    if (!(seconds > 0)) throw InputError(where, "seconds must be positive");
    const std::uint64_t n0 = to_count(x0, cells[4], where, "x0"), n1 = to_count(x1, cells[5], where, "x1");
    // Each kind fills its own cells and leaves the others empty (a load: mode and tier; the rest: model).
    if (load) {
      if (mode.empty()) throw InputError(where, "column mode: a load names its loader mode");
      if (!model.empty()) throw InputError(where, "column model: a load has no model (got '" + model + "')");
      if (n1 != 0) throw InputError(where, "column x1: a load has none (expected 0, got '" + cells[5] + "')");
      rows.push_back({LoadOperation{mode, tier == "ssd" ? Tier::kSsd : Tier::kDram, n0}, seconds});
      continue;
    }
    if (model.empty()) throw InputError(where, "column model: a " + kind + " row names its model");
    if (!mode.empty()) throw InputError(where, "column mode: only a load has a loader mode (got '" + mode + "')");
    if (!tier.empty()) throw InputError(where, "column tier: only a load has a tier (got '" + tier + "')");
    if (kind == "prefill") rows.push_back({PrefillOperation{model, n0, n1}, seconds});
    if (kind == "decode") rows.push_back({DecodeOperation{model, n0, n1}, seconds});
    if (kind == "recompute") rows.push_back({RecomputeOperation{model, n0, n1}, seconds});
    if (kind == "pause") rows.push_back({PauseOperation{model, n0, n1}, seconds});
  }
  return rows;
}

MigrationProbeSize size_migration_probe(double load_seconds, double step_seconds, double prefill_seconds,
                                        int prompt_tokens, int max_positions, int min_tokens, double max_seconds) {
  MigrationProbeSize size;
  size.migrate_at_token = min_tokens / 4;
  const double step = std::max(step_seconds, 1e-9);
  const double needed = size.migrate_at_token + std::ceil(1.5 * load_seconds / step) +
                        std::ceil(4 * prefill_seconds / step) + 32;
  const double cap = std::min<double>(max_positions - prompt_tokens - 1, std::floor(max_seconds / step));
  size.new_tokens = static_cast<int>(std::max<double>(min_tokens, std::min(needed, cap)));
  size.new_tokens = std::min(size.new_tokens, max_positions - prompt_tokens - 1);  // never past the positions
  size.fits = needed <= cap;
  return size;
}

std::vector<MeasuredPoint> measured_points(const std::vector<Measurement>& rows) {
  std::map<Operation, std::size_t> index;
  std::vector<MeasuredPoint> points;
  for (const Measurement& m : rows) {
    const auto [it, fresh] = index.try_emplace(m.operation, points.size());
    if (fresh) points.push_back({m, {}});
    points[it->second].observations.push_back(m.seconds);
  }
  for (MeasuredPoint& pt : points) pt.median.seconds = median(pt.observations);
  return points;
}

void require_enough_points(const std::vector<MeasuredPoint>& points, const std::string& source) {
  for (const LawPoints& law : points_by_law(points)) {
    const std::size_t n = law.points.size();
    std::size_t needed = 2;
    std::string of = "migration rounds for a n + b";
    if (law.kind == LawKind::kLoad) {
      of = "checkpoint sizes for overhead + bytes / bandwidth";
    } else if (law.kind == LawKind::kPrefill) {
      needed = 3;
      of = "prompt lengths for c0 + c1 L + c2 L^2";
    } else if (law.kind == LawKind::kDecode) {
      // A piece needs more points than coefficients: d0 + d2 C at one batch size, all four over several.
      std::vector<std::uint64_t> batches;
      for (const MeasuredPoint* pt : law.points) batches.push_back(std::get<DecodeOperation>(pt->median.operation).batch);
      std::sort(batches.begin(), batches.end());
      const bool one_batch = std::unique(batches.begin(), batches.end()) - batches.begin() <= 1;
      needed = one_batch ? 3 : 5;
      of = one_batch ? "contexts at its one batch size, more than the 2 coefficients there"
                     : "(batch, context) points over several batch sizes, more than the 4 coefficients";
    }
    if (n < needed) {
      throw InputError(source, "too few points for the " + law.name + " law: " + std::to_string(n) + ", it needs at least " +
                                   std::to_string(needed) + " (" + of + ")");
    }
  }
}

void fit_profile(const std::vector<Measurement>& rows, Profile& p, const std::string& source) {
  const std::vector<MeasuredPoint> points = measured_points(rows);
  require_enough_points(points, source);
  // Group the points of each law.
  struct Columns {  // a law's two regressors and the measured seconds
    std::vector<double> x0, x1, seconds;
    void add(std::uint64_t a, std::uint64_t b, double s) {
      x0.push_back(static_cast<double>(a));
      x1.push_back(static_cast<double>(b));
      seconds.push_back(s);
    }
  };
  std::map<std::pair<std::string, Tier>, Columns> loads;
  std::map<std::string, Columns> prefill, decode, recompute, pause;
  std::vector<std::string> engine_order, migration_order;
  auto first_seen = [](std::vector<std::string>& order, const std::map<std::string, Columns>& a,
                       const std::map<std::string, Columns>& b, const std::string& model) {
    if (!a.count(model) && !b.count(model)) order.push_back(model);
  };
  for (const MeasuredPoint& pt : points) {
    const double s = pt.median.seconds;
    const Operation& op = pt.median.operation;
    if (const auto* l = std::get_if<LoadOperation>(&op)) {
      loads[{l->mode, l->tier}].add(l->bytes, 0, s);
    } else if (const auto* f = std::get_if<PrefillOperation>(&op)) {
      first_seen(engine_order, prefill, decode, f->model);
      prefill[f->model].add(f->tokens, f->sum_squares, s);
    } else if (const auto* d = std::get_if<DecodeOperation>(&op)) {
      first_seen(engine_order, prefill, decode, d->model);
      decode[d->model].add(d->batch, d->context, s);
    } else if (const auto* r = std::get_if<RecomputeOperation>(&op)) {
      first_seen(migration_order, recompute, pause, r->model);
      recompute[r->model].add(r->tokens, r->cached, s);
    } else if (const auto* q = std::get_if<PauseOperation>(&op)) {
      first_seen(migration_order, recompute, pause, q->model);
      pause[q->model].add(q->tokens, q->cached, s);
    }
  }
  p.loader.clear();
  for (const auto& [key, c] : loads) {
    LoaderModeProfile& lm = p.loader[key.first];
    try {
      (key.second == Tier::kSsd ? lm.ssd : lm.dram) = fit_load(c.x0, c.seconds);
    } catch (const std::runtime_error& e) {  // the measurements cannot give this law (time shrinking with size)
      throw InputError(source, "the " + key.first + " " + (key.second == Tier::kSsd ? "ssd" : "dram") + " load law: " + e.what());
    }
  }
  p.engine.clear();
  for (const std::string& model : engine_order) {
    EngineProfile e;
    e.model = model;
    if (const Columns& c = prefill[model]; !c.seconds.empty()) fit_prefill(c.x0, c.x1, c.seconds, e);
    if (const Columns& c = decode[model]; !c.seconds.empty()) fit_decode(c.x0, c.x1, c.seconds, e);
    p.engine.push_back(e);
  }
  p.migration.clear();
  for (const std::string& model : migration_order) {
    MigrationProfile mp;
    mp.model = model;
    const Columns& rounds = recompute[model];  // x0 tokens recomputed, x1 tokens cached
    fit_migration(rounds.x0, rounds.x1, rounds.seconds, mp);
    const Columns& pauses = pause[model];
    fit_pause(pauses.x0, pauses.x1, pauses.seconds, mp);
    p.migration.push_back(mp);
  }
}

Profile run_calibration(const CalibrationOptions& o, std::vector<Measurement>& measurements) {
  const models::Device device = models::Device::parse(o.device, "--device");
  const int devices = models::device_backend(device).device_count();  // says why when the backend cannot load
  if (device.index >= devices) {
    throw InputError("--device", o.device + " is not available (" + std::to_string(devices) + " " + device.backend +
                                     " devices on this host)");
  }
  fs::create_directories(o.scratch);
  Profile p;
  p.machine = describe_machine(o.scratch, o.device);
  say(o, "machine: " + p.machine.cpu + "; GPU " + p.machine.gpu + "; disk " + p.machine.disk);
  say(o, "storage and copy probes");
  probe_storage(o, p);
  say(o, "loader probes (" + o.device + ")");
  LoaderRun run;
  run.dir = o.scratch;
  run.sizes = o.quick ? std::vector<std::uint64_t>{8 * kMiB, 32 * kMiB, 64 * kMiB}
                      : std::vector<std::uint64_t>{256 * kMiB, 1024 * kMiB, 2048 * kMiB, 4096 * kMiB};
  run.base_rounds = o.quick ? 2 : 5;
  run.max_rounds = o.quick ? run.base_rounds : 15;
  run.extra_seconds = o.quick ? 0 : 90;
  probe_loader(o, device, run, p, measurements);
  say(o, "engine probes (" + o.device + ")");
  std::vector<EngineShape> shapes;
  if (!models::device_backend(device).host_memory()) {  // a GPU: the larger models
    const std::vector<int> prompts = o.quick ? std::vector<int>{32, 128, 512} : std::vector<int>{16, 64, 128, 256, 512, 1024, 1536};
    // Dense in batch: the decode law's pieces (kernel regimes) are placed by the data.
    const std::vector<int> batches = o.quick ? std::vector<int>{1, 4, 16} : std::vector<int>{1, 2, 4, 6, 8, 12, 16, 24, 32};
    const std::vector<int> contexts = o.quick ? std::vector<int>{64, 512} : std::vector<int>{64, 256, 512, 1024};
    const std::vector<int> mig = o.quick ? std::vector<int>{64, 512} : std::vector<int>{64, 256, 512, 1024};
    for (const char* model : {"opt-2.7b", "opt-6.7b"}) shapes.push_back({model, prompts, batches, contexts, mig, 96, 15.0});
  } else {
    const std::vector<int> prompts = o.quick ? std::vector<int>{8, 32, 64, 128} : std::vector<int>{8, 16, 32, 64, 128, 256, 384};
    const std::vector<int> batches = o.quick ? std::vector<int>{1, 2, 4} : std::vector<int>{1, 2, 4, 8};
    // Three contexts even with --quick: enough points per batch size for a piecewise decode law.
    const std::vector<int> contexts = o.quick ? std::vector<int>{16, 64, 128} : std::vector<int>{16, 64, 128, 256};
    const std::vector<int> mig = o.quick ? std::vector<int>{16, 64, 128} : std::vector<int>{16, 64, 128, 256};
    for (const char* model : {"tiny-opt", "tiny-llama"}) shapes.push_back({model, prompts, batches, contexts, mig, 64, 5.0});
  }
  for (const auto& s : shapes) {
    try {
      probe_engine(o, device, s, measurements);
    } catch (const std::runtime_error& e) {  // e.g. out of memory, or a build without the CUDA engine
      say(o, "  " + s.model + ": engine probes skipped: " + e.what());
    }
  }
  fit_profile(measurements, p, "the probes of this run");
  for (const EngineProfile& e : p.engine) {
    std::string pieces;
    double worst = 0;
    std::uint32_t lo = 1;
    for (const DecodePiece& d : e.decode) {
      pieces += pieces.empty() ? "" : ", ";
      if (d.max_batch == DecodePiece::kUnbounded) {
        pieces += lo == 1 ? std::string("all") : std::to_string(lo) + "+";
      } else {
        pieces += std::to_string(lo) + (lo == d.max_batch ? "" : "-" + std::to_string(d.max_batch));
        lo = d.max_batch + 1;
      }
      worst = std::max(worst, d.fit.max_relative_error);
    }
    char line[200];
    std::snprintf(line, sizeof line, "  %s decode: %zu piece(s) by batch (%s), max fit error %.2f%%", e.model.c_str(),
                  e.decode.size(), pieces.c_str(), 100 * worst);
    say(o, line);
  }
  return p;
}

}  // namespace sllm::calibrate
