#include "sllm/sim/profile.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

#include "sllm/core/config_node.h"
#include "sllm/core/error.h"
#include "sllm/core/files.h"
#include "sllm/core/loader_modes.h"
#include "sllm/sim/outputs.h"

namespace sllm {

namespace {

constexpr int kProfileVersion = 1;
constexpr double kHuge = std::numeric_limits<double>::max();

// 17 significant digits: the text parses back to the same double.
std::string exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// YAML double-quoted scalar (machine strings may hold colons, quotes, parentheses). Control characters are
// escaped, so that the profile reads back exactly what was written (a raw line break would be folded).
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// A free-text key (a probe's name) as written: plain when YAML reads it back as the same string (the usual
// identifiers, "h2d_pinned_gpu0"), else double-quoted. Loader modes and models are registered names.
std::string scalar_text(const std::string& s) {
  static const std::set<std::string, std::less<>> kSpecial = {"null", "true", "false", "yes", "no", "on", "off", "y", "n"};
  const auto safe = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '+' || c == '/';
  };
  std::string lower(s);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const bool plain = !s.empty() && (std::isalnum(static_cast<unsigned char>(s[0])) || s[0] == '_') &&
                     std::all_of(s.begin(), s.end(), safe) && !kSpecial.contains(lower);
  return plain ? s : quoted(s);
}

FitQuality read_fit(const ConfigNode& n) {
  FitQuality f;
  f.r2 = n.get_double("r2", f.r2, -kHuge, 1.0);
  f.max_relative_error = n.get_double("max_relative_error", f.max_relative_error, 0.0, kHuge);
  f.points = static_cast<int>(n.get_int("points", f.points, 0, 1 << 30));
  return f;
}

std::string fit_fields(const FitQuality& f) {
  return "r2: " + exact(f.r2) + ", max_relative_error: " + exact(f.max_relative_error) +
         ", points: " + std::to_string(f.points);
}

LoadLaw read_law(const ConfigNode& n) {
  LoadLaw law;
  law.bandwidth = n.get_bandwidth("bandwidth");
  if (law.bandwidth <= 0) n.child("bandwidth").fail("bandwidth must be positive");
  law.overhead = n.get_duration("overhead", law.overhead);
  law.fit = read_fit(n);
  n.finish();
  return law;
}

std::vector<DecodePiece> read_decode(const ConfigNode& dec) {
  if (!dec.is_sequence()) {
    dec.fail("expected a list of decode pieces [{max_batch, d0, d1, d2, d3, ...}, ..., {d0, ...}] (the last "
             "without max_batch); a single decode map is from before piecewise laws: the same law is the "
             "one-element list [{d0, d1, d2, ...}], and `sllmsim calibrate refit` refits it from its measurements");
  }
  const std::vector<ConfigNode> pieces = dec.elements();
  if (pieces.empty()) dec.fail("at least one decode piece is needed (or no decode key)");
  std::vector<DecodePiece> out;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const ConfigNode& piece = pieces[i];
    DecodePiece dp;
    if (i + 1 == pieces.size()) {
      if (piece.has("max_batch")) piece.child("max_batch").fail("the last decode piece serves every larger batch: omit max_batch");
    } else {
      dp.max_batch = static_cast<std::uint32_t>(piece.get_int("max_batch", {}, 1, DecodePiece::kUnbounded - 1));
      if (!out.empty() && dp.max_batch <= out.back().max_batch) {
        piece.child("max_batch").fail("max_batch must increase from piece to piece");
      }
    }
    dp.d0 = piece.get_double("d0", {}, -kHuge, kHuge);
    dp.d1 = piece.get_double("d1", {}, -kHuge, kHuge);
    dp.d2 = piece.get_double("d2", {}, -kHuge, kHuge);
    dp.d3 = piece.get_double("d3", dp.d3, -kHuge, kHuge);  // 0: the law without the per-sequence term
    dp.fit = read_fit(piece);
    piece.finish();
    out.push_back(dp);
  }
  return out;
}

double bandwidth_or(const ConfigNode& n, std::string_view key, double def) {
  const double bw = n.get_bandwidth(key, def);  // 0: not known / no limit, as each field says
  if (bw < 0) n.child(key).fail("bandwidth must not be negative");
  return bw;
}

double seconds_or(const ConfigNode& n, std::string_view key, double def) { return n.get_double(key, def, 0.0, kHuge); }

// `loader_model:` (docs/loader-model.md). Host components default to those of the profile named by
// host_from (relative to this profile), each overridable here.
LoaderModel read_loader_model(const ConfigNode& n, const std::string& profile_name, int depth) {
  LoaderModel m;
  if (n.has("host_from")) {
    m.host_from = n.get_string("host_from");
    std::filesystem::path from(m.host_from);
    if (from.is_relative()) from = std::filesystem::path(profile_name).parent_path() / from;
    if (depth > 4) n.child("host_from").fail("host_from chains more than 4 profiles deep");
    Profile base;
    try {
      base = parse_profile(read_file_limited(from.string(), kMaxMetadataFileBytes, "profile file"), from.string());
    } catch (const InputError& e) {
      n.child("host_from").fail(std::string("cannot read its host components: ") + e.what());
    }
    if (!base.loader_model) n.child("host_from").fail(from.string() + " has no loader_model");
    m.host = base.loader_model->host;
    m.loader = base.loader_model->loader;
  }
  HostModel& h = m.host;
  if (auto host = n.optional_child("host")) {
    h.memcpy_thread = bandwidth_or(*host, "memcpy_thread", h.memcpy_thread);
    h.memcpy_all = bandwidth_or(*host, "memcpy_all", h.memcpy_all);
    h.fresh_pages = bandwidth_or(*host, "fresh_pages", h.fresh_pages);
    h.page_cache_thread = bandwidth_or(*host, "page_cache_thread", h.page_cache_thread);
    h.mmap_thread = bandwidth_or(*host, "mmap_thread", h.mmap_thread);
    h.h2d_pinned = bandwidth_or(*host, "h2d_pinned", h.h2d_pinned);
    h.h2d_pageable = bandwidth_or(*host, "h2d_pageable", h.h2d_pageable);
    h.h2d_shared = bandwidth_or(*host, "h2d_shared", h.h2d_shared);
    h.read_ahead = host->get_bytes("read_ahead", h.read_ahead);
    h.read_ahead_depth = host->get_double("read_ahead_depth", h.read_ahead_depth, 1e-3, 1e6);
    h.per_file = seconds_or(*host, "per_file_seconds", h.per_file);
    h.per_tensor = seconds_or(*host, "per_tensor_seconds", h.per_tensor);
    h.per_copy = seconds_or(*host, "per_copy_seconds", h.per_copy);
    h.device_alloc = seconds_or(*host, "device_alloc_seconds", h.device_alloc);
    h.device_alloc_per_byte = seconds_or(*host, "device_alloc_seconds_per_byte", h.device_alloc_per_byte);
    h.load_fixed = seconds_or(*host, "load_fixed_seconds", h.load_fixed);
    host->finish();
  }
  for (const auto& [v, key] : {std::pair{h.fresh_pages, "fresh_pages"}, std::pair{h.page_cache_thread, "page_cache_thread"},
                               std::pair{h.mmap_thread, "mmap_thread"}, std::pair{h.h2d_pinned, "h2d_pinned"},
                               std::pair{h.h2d_pageable, "h2d_pageable"}}) {
    if (!(v > 0)) n.fail(std::string("loader_model.host.") + key + " is needed (here or in the host_from profile)");
  }
  const ConfigNode st = n.child("storage");
  StorageModel& d = m.storage;
  d.name = st.get_string("name", d.name);
  d.latency = seconds_or(st, "latency_seconds", d.latency);
  d.request_bandwidth = bandwidth_or(st, "request_bandwidth", 0);
  d.bandwidth = bandwidth_or(st, "bandwidth", 0);
  if (!(d.bandwidth > 0)) st.fail("storage.bandwidth is needed");
  d.thread_bandwidth = bandwidth_or(st, "thread_bandwidth", 0);
  d.buffered_bandwidth = bandwidth_or(st, "buffered_bandwidth", 0);
  d.mmap_bandwidth = bandwidth_or(st, "mmap_bandwidth", 0);
  d.memory_backed = st.get_bool("memory_backed", false);
  d.cv = st.get_double("cv", 0.0, 0.0, 10.0);
  st.finish();
  if (auto lo = n.optional_child("loader")) {
    LoaderSettings& l = m.loader;
    l.threads = static_cast<int>(lo->get_int("threads", l.threads, 1, 4096));
    l.queue_depth = static_cast<int>(lo->get_int("queue_depth", l.queue_depth, 1, 4096));
    l.chunk = lo->get_bytes("chunk", l.chunk);
    if (l.chunk == 0) lo->child("chunk").fail("must be positive");
    l.request = lo->get_bytes("request", l.request);
    if (l.request == 0) lo->child("request").fail("must be positive");
    l.tensor_bytes = lo->get_bytes("tensor_bytes", l.tensor_bytes);
    if (l.tensor_bytes == 0) lo->child("tensor_bytes").fail("must be positive");
    l.files = static_cast<int>(lo->get_int("files", l.files, 1, 1 << 20));
    l.large_tensor_fraction = lo->get_double("large_tensor_fraction", l.large_tensor_fraction, 0.0, 1.0);
    lo->finish();
  }
  n.finish();
  return m;
}

std::string bw(double v) { return "\"" + exact(v) + " B/s\""; }

}  // namespace

const EngineProfile* Profile::find_engine(const std::string& model, std::uint32_t gpus) const {
  for (const auto& e : engine) {
    if (e.model == model && e.gpus == gpus) return &e;
  }
  return nullptr;
}

const DecodePiece& EngineProfile::decode_piece(std::uint32_t batch) const {
  if (decode.empty()) throw std::logic_error("decode_piece: no decode law for " + model);
  for (const DecodePiece& d : decode) {
    if (batch <= d.max_batch) return d;
  }
  return decode.back();
}

const MigrationProfile* Profile::find_migration(const std::string& model) const {
  for (const auto& m : migration) {
    if (m.model == model) return &m;
  }
  return nullptr;
}

std::optional<LoaderModeProfile> Profile::loader_laws(const std::string& mode) const {
  if (loader_model) {
    LoaderModeProfile lm;
    lm.ssd = loader_model->law(mode, LoadSource::kCold);
    lm.dram = loader_model->law(mode, LoadSource::kWarm);
    return lm;
  }
  const auto it = loader.find(mode);
  if (it == loader.end()) return std::nullopt;
  return it->second;
}

double Profile::loader_efficiency(const std::string& mode) const {
  const auto base = loader_laws("sllm");
  const auto it = loader_laws(mode);
  if (!base || !it || !base->ssd || !it->ssd) return 1.0;
  return it->ssd->bandwidth / base->ssd->bandwidth;
}

Profile parse_profile(const std::string& text, const std::string& name) {
  const ConfigNode root = ConfigNode::load_string(text, name);
  Profile p;
  p.source = name;
  root.get_int("profile_version", {}, kProfileVersion, kProfileVersion);
  if (auto m = root.optional_child("machine")) {
    p.machine.cpu = m->get_string("cpu", p.machine.cpu);
    p.machine.gpu = m->get_string("gpu", p.machine.gpu);
    p.machine.disk = m->get_string("disk", p.machine.disk);
    p.machine.driver = m->get_string("driver", p.machine.driver);
    p.machine.kernel = m->get_string("kernel", p.machine.kernel);
    p.machine.date = m->get_string("date", p.machine.date);
    p.machine.device = m->get_string("device", p.machine.device);
    m->finish();
  }
  if (auto probes = root.optional_child("probes")) {
    for (const std::string& key : probes->keys()) p.probes[key] = probes->get_double(key, {}, -kHuge, kHuge);
  }
  if (auto loader = root.optional_child("loader")) {
    p.chunk_size = loader->get_bytes("chunk_size", p.chunk_size);
    if (auto modes = loader->optional_child("modes")) {
      for (const std::string& mode : modes->keys()) {
        if (!is_loader_mode(mode)) modes->child(mode).fail(unknown_loader_mode_message(mode));
        const ConfigNode m = modes->child(mode);
        LoaderModeProfile lm;
        if (auto ssd = m.optional_child("ssd")) lm.ssd = read_law(*ssd);
        if (auto dram = m.optional_child("dram")) lm.dram = read_law(*dram);
        m.finish();
        p.loader[mode] = lm;
      }
    }
    loader->finish();
  }
  if (auto lm = root.optional_child("loader_model")) p.loader_model = read_loader_model(*lm, name, 0);
  if (auto engine = root.optional_child("engine")) {
    for (const ConfigNode& e : engine->elements()) {
      EngineProfile ep;
      ep.model = e.get_string("model");
      ModelCatalog::builtin().get(ep.model, e.child("model").location());
      ep.gpus = static_cast<std::uint32_t>(e.get_int("gpus", ep.gpus, 1, 1024));
      const ConfigNode pre = e.child("prefill");
      ep.c0 = pre.get_double("c0", {}, -kHuge, kHuge);
      ep.c1 = pre.get_double("c1", {}, -kHuge, kHuge);
      ep.c2 = pre.get_double("c2", {}, -kHuge, kHuge);
      ep.m0 = pre.get_double("m0", ep.m0, -kHuge, kHuge);  // no line: the curve alone
      ep.m1 = pre.get_double("m1", ep.m1, -kHuge, kHuge);
      ep.prefill_fit = read_fit(pre);
      pre.finish();
      // No decode key: not measured (the fallback cost model decodes this shape).
      if (auto dec = e.optional_child("decode")) ep.decode = read_decode(*dec);
      e.finish();
      p.engine.push_back(ep);
    }
  }
  if (auto migration = root.optional_child("migration")) {
    for (const ConfigNode& m : migration->elements()) {
      MigrationProfile mp;
      mp.model = m.get_string("model");
      ModelCatalog::builtin().get(mp.model, m.child("model").location());
      mp.a = m.get_double("a", {}, -kHuge, kHuge);
      mp.b = m.get_double("b", {}, -kHuge, kHuge);
      mp.c = m.get_double("c", mp.c, -kHuge, kHuge);  // 0: the paper's a n + b
      mp.d = m.get_double("d", mp.d, -kHuge, kHuge);
      mp.fit = read_fit(m);
      mp.handoff = m.get_double("handoff", mp.handoff, 0.0, kHuge);
      if (auto pf = m.optional_child("pause_fit")) {
        mp.pause_fit = read_fit(*pf);
        pf->finish();
      }
      m.finish();
      p.migration.push_back(mp);
    }
  }
  p.measurements = root.get_string("measurements", p.measurements);
  root.finish();
  return p;
}

Profile read_profile(const std::string& path) {
  return parse_profile(read_file_limited(path, kMaxMetadataFileBytes, "profile file"), path);
}

std::string profile_to_yaml(const Profile& p, const std::string& header_comment) {
  std::ostringstream o;
  if (!header_comment.empty()) {
    std::istringstream lines(header_comment);
    for (std::string line; std::getline(lines, line);) o << "# " << line << "\n";
  }
  o << "profile_version: " << kProfileVersion << "\n";
  o << "machine:\n"
    << "  cpu: " << quoted(p.machine.cpu) << "\n  gpu: " << quoted(p.machine.gpu) << "\n  disk: "
    << quoted(p.machine.disk) << "\n  driver: " << quoted(p.machine.driver) << "\n  kernel: "
    << quoted(p.machine.kernel) << "\n  date: " << quoted(p.machine.date) << "\n  device: "
    << quoted(p.machine.device) << "\n";
  if (!p.probes.empty()) {
    o << "# Raw probes (bandwidths in bytes/s): the best configuration of each kind; see the measurements file.\n";
    o << "probes:\n";
    for (const auto& [k, v] : p.probes) o << "  " << scalar_text(k) << ": " << exact(v) << "\n";
  }
  if (!p.loader.empty()) {
    o << "# Loads: time = overhead + bytes / bandwidth per loader mode and source tier (least squares over\n"
         "# checkpoint sizes). The simulator uses the chosen mode's laws for its SSD and DRAM tiers.\n";
    o << "loader:\n  chunk_size: \"" << p.chunk_size << " B\"\n  modes:\n";
    for (const auto& [mode, lm] : p.loader) {
      o << "    " << mode << ":\n";
      for (const auto& [tier, law] : {std::pair{"ssd", &lm.ssd}, std::pair{"dram", &lm.dram}}) {
        if (!*law) continue;
        o << "      " << tier << ": {bandwidth: \"" << exact((*law)->bandwidth) << " B/s\", overhead: \""
          << (*law)->overhead << " ns\", " << fit_fields((*law)->fit) << "}\n";
      }
    }
  }
  if (p.loader_model) {
    const LoaderModel& m = *p.loader_model;
    const HostModel& h = m.host;
    const StorageModel& d = m.storage;
    o << "# The loader model (docs/loader-model.md): every loader mode's law composed from these components.\n";
    o << "loader_model:\n";
    if (!m.host_from.empty()) o << "  host_from: " << quoted(m.host_from) << "  # host components below are as read\n";
    o << "  host:\n"
      << "    memcpy_thread: " << bw(h.memcpy_thread) << "\n    memcpy_all: " << bw(h.memcpy_all)
      << "\n    fresh_pages: " << bw(h.fresh_pages) << "\n    page_cache_thread: " << bw(h.page_cache_thread)
      << "\n    mmap_thread: " << bw(h.mmap_thread) << "\n    h2d_pinned: " << bw(h.h2d_pinned)
      << "\n    h2d_pageable: " << bw(h.h2d_pageable) << "\n    h2d_shared: " << bw(h.h2d_shared)
      << "\n    read_ahead: \"" << h.read_ahead << " B\"\n    read_ahead_depth: " << exact(h.read_ahead_depth)
      << "\n    per_file_seconds: " << exact(h.per_file) << "\n    per_tensor_seconds: " << exact(h.per_tensor)
      << "\n    per_copy_seconds: " << exact(h.per_copy) << "\n    device_alloc_seconds: " << exact(h.device_alloc)
      << "\n    device_alloc_seconds_per_byte: " << exact(h.device_alloc_per_byte)
      << "\n    load_fixed_seconds: " << exact(h.load_fixed) << "\n";
    o << "  storage:\n    name: " << quoted(d.name) << "\n    latency_seconds: " << exact(d.latency)
      << "\n    request_bandwidth: " << bw(d.request_bandwidth) << "\n    bandwidth: " << bw(d.bandwidth)
      << "\n    thread_bandwidth: " << bw(d.thread_bandwidth) << "\n    buffered_bandwidth: " << bw(d.buffered_bandwidth)
      << "\n    mmap_bandwidth: " << bw(d.mmap_bandwidth) << "\n    memory_backed: " << (d.memory_backed ? "true" : "false")
      << "\n    cv: " << exact(d.cv) << "\n";
    const LoaderSettings& l = m.loader;
    o << "  loader: {threads: " << l.threads << ", queue_depth: " << l.queue_depth << ", chunk: \"" << l.chunk
      << " B\", request: \"" << l.request << " B\", tensor_bytes: \"" << l.tensor_bytes << " B\", files: " << l.files
      << ", large_tensor_fraction: " << exact(l.large_tensor_fraction) << "}\n";
  }
  if (!p.engine.empty()) {
    o << "# Engine per model shape (seconds): prefill = max(m0 + m1 tokens, c0 + c1 tokens + c2 sum(L^2));\n"
         "# decode step = d0 + d1 batch + d2 C + d3 C / batch (C: the batch's total context), one piece per\n"
         "# batch range (a piece serves batches up to its max_batch; the last one every larger batch).\n";
    o << "engine:\n";
    for (const auto& e : p.engine) {
      o << "  - model: " << e.model << "\n    gpus: " << e.gpus << "\n";
      o << "    prefill: {c0: " << exact(e.c0) << ", c1: " << exact(e.c1) << ", c2: " << exact(e.c2) << ", m0: " << exact(e.m0)
        << ", m1: " << exact(e.m1) << ", " << fit_fields(e.prefill_fit) << "}\n";
      if (e.decode.empty()) continue;
      o << "    decode:\n";
      for (const DecodePiece& d : e.decode) {
        o << "      - {";
        if (d.max_batch != DecodePiece::kUnbounded) o << "max_batch: " << d.max_batch << ", ";
        o << "d0: " << exact(d.d0) << ", d1: " << exact(d.d1) << ", d2: " << exact(d.d2) << ", d3: " << exact(d.d3)
          << ", " << fit_fields(d.fit) << "}\n";
      }
    }
  }
  if (!p.migration.empty()) {
    o << "# Migration recompute of n tokens = a n + b + c sum(end^2 - begin^2) + d sum((end - begin) begin) seconds;\n"
         "# pause = the final round's recompute + handoff.\n";
    o << "migration:\n";
    for (const auto& m : p.migration) {
      o << "  - {model: " << m.model << ", a: " << exact(m.a) << ", b: " << exact(m.b) << ", c: " << exact(m.c) << ", d: " << exact(m.d) << ", "
        << fit_fields(m.fit)
        << ", handoff: " << exact(m.handoff) << ", pause_fit: {" << fit_fields(m.pause_fit) << "}}\n";
    }
  }
  if (!p.measurements.empty()) o << "measurements: " << quoted(p.measurements) << "\n";
  return o.str();
}

void write_profile(const Profile& profile, const std::string& path, const std::string& header_comment) {
  write_file_atomically(path, profile_to_yaml(profile, header_comment));
}

ProfileCostModel::ProfileCostModel(std::shared_ptr<const Profile> profile, std::unique_ptr<CostModel> fallback)
    : profile_(std::move(profile)), fallback_(std::move(fallback)) {}

double ProfileCostModel::prefill_seconds(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus,
                                         std::uint64_t tokens, double sum_squares) const {
  const EngineProfile* e = profile_->find_engine(model.name, gpus);
  if (!e) return fallback_->prefill_seconds(model, gpu, gpus, tokens, sum_squares);
  return e->prefill_seconds(static_cast<double>(tokens), sum_squares);
}

StepLaw ProfileCostModel::decode_law(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus,
                                     std::uint32_t batch) const {
  const EngineProfile* e = profile_->find_engine(model.name, gpus);
  if (!e || e->decode.empty()) return fallback_->decode_law(model, gpu, gpus, batch);
  // The batch is fixed for the whole law (the simulator asks again when it changes), so the piece and
  // its per-sequence term reduce to one line in C.
  const DecodePiece& d = e->decode_piece(batch);
  const double b = std::max<std::uint32_t>(batch, 1);
  StepLaw law;
  law.lines = 1;
  law.base[0] = d.d0 + d.d1 * b;
  law.per_context_token[0] = d.d2 + d.d3 / b;
  return law;
}

double ProfileCostModel::recompute_seconds(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus,
                                           std::uint64_t tokens, double sum_squares, double cached_pairs) const {
  if (const MigrationProfile* m = profile_->find_migration(model.name)) {
    return m->recompute_seconds(static_cast<double>(tokens), sum_squares, cached_pairs);
  }
  return CostModel::recompute_seconds(model, gpu, gpus, tokens, sum_squares, cached_pairs);
}

double ProfileCostModel::migration_handoff_seconds(const ModelArch& model, const GpuSpec& gpu, std::uint32_t gpus) const {
  if (const MigrationProfile* m = profile_->find_migration(model.name)) return m->handoff;
  return CostModel::migration_handoff_seconds(model, gpu, gpus);
}

}  // namespace sllm
