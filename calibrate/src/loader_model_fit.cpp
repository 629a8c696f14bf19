#include "sllm/calibrate/loader_model_fit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <regex>
#include <stdexcept>

#include "sllm/calibrate/fit.h"
#include "sllm/core/error.h"

namespace sllm::calibrate {
namespace {

std::vector<double> logspace(double lo, double hi, int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(lo * std::pow(hi / lo, static_cast<double>(i) / (n - 1)));
  return v;
}

struct GridPoint {
  double request = 0, in_flight = 0, threads = 0, measured = 0;
};

LoadSource source_of(Tier t) { return t == Tier::kDram ? LoadSource::kWarm : LoadSource::kCold; }

double predict(const LoaderModel& m, const LoadOperation& op) {
  const LoadLaw law = m.law(op.mode, source_of(op.tier));
  return to_seconds(law.overhead) + static_cast<double>(op.bytes) / law.bandwidth;
}

bool composed(const std::string& mode) {
  static const LoaderModel probe_model = [] {
    LoaderModel m;
    m.host.fresh_pages = m.host.page_cache_thread = m.host.mmap_thread = m.host.h2d_pinned = m.host.h2d_pageable = 1;
    m.storage.bandwidth = 1;
    return m;
  }();
  try {
    probe_model.law(mode, LoadSource::kCold);
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

struct LoadPoint {
  LoadOperation op;
  double seconds = 0;
  std::vector<double> observations;
};

// The median of measured - predicted (load_fixed = 0), at least 0.
double load_fixed_of(const LoaderModel& model, const std::vector<LoadPoint>& points) {
  LoaderModel m = model;
  m.host.load_fixed = 0;
  std::vector<double> residuals;
  for (const LoadPoint& p : points) residuals.push_back(p.seconds - predict(m, p.op));
  return residuals.empty() ? 0 : std::max(0.0, median(residuals));
}

double rel(double predicted, double measured) { return std::abs(predicted - measured) / measured; }

}  // namespace

double probe(const Probes& probes, const std::string& key) {
  const auto it = probes.find(key);
  if (it == probes.end()) throw InputError("probes", "no probe '" + key + "' (measure with `sllmsim calibrate components`)");
  return it->second;
}

StorageModel fit_storage_model(const Probes& probes, const std::string& name) {
  const std::regex key("^" + name + "_direct_r([0-9]+)KiB_t([0-9]+)_q([0-9]+)$");
  std::vector<GridPoint> grid;
  double best = 0;
  for (const auto& [k, v] : probes) {
    std::smatch m;
    if (!std::regex_match(k, m, key) || !(v > 0)) continue;
    const double threads = std::stod(m[2].str());
    grid.push_back({std::stod(m[1].str()) * 1024, threads * std::stod(m[3].str()), threads, v});
    best = std::max(best, v);
  }
  if (grid.size() < 4) throw InputError("probes", "storage '" + name + "': fewer than 4 O_DIRECT grid probes");
  StorageModel s;
  s.name = name;
  double best_err = INFINITY;
  const std::vector<double> latencies = logspace(1e-6, 1e-2, 49), request_bws = logspace(1e8, 1e12, 49);
  std::vector<double> thread_bws = logspace(1e8, 1e11, 31);
  thread_bws.insert(thread_bws.begin(), 0.0);
  StorageModel c;
  for (double ceiling : {1.0, 1.05, 1.1, 1.2, 1.4}) {
    c.bandwidth = ceiling * best;
    for (double l : latencies) {
      c.latency = l;
      for (double rb : request_bws) {
        c.request_bandwidth = rb;
        for (double tb : thread_bws) {
          c.thread_bandwidth = tb;
          double err = 0;
          for (const GridPoint& g : grid) {
            const double d = std::log(c.throughput(g.request, g.in_flight, g.threads) / g.measured);
            err += d * d;
            if (err >= best_err) break;
          }
          if (err < best_err) {
            best_err = err;
            s.latency = l;
            s.request_bandwidth = rb;
            s.thread_bandwidth = tb;
            s.bandwidth = c.bandwidth;
          }
        }
      }
    }
  }
  std::vector<double> times;  // of a fixed read: 1 / throughput
  for (int i = 0; probes.count(name + "_repeat" + std::to_string(i)); ++i) times.push_back(1.0 / probe(probes, name + "_repeat" + std::to_string(i)));
  if (times.size() >= 2) {
    double mean = 0, var = 0;
    for (double t : times) mean += t / static_cast<double>(times.size());
    for (double t : times) var += (t - mean) * (t - mean) / static_cast<double>(times.size() - 1);
    s.cv = std::sqrt(var) / mean;
  }
  s.memory_backed = probes.count(name + "_memory_backed") && probe(probes, name + "_memory_backed") > 0;
  if (!s.memory_backed) {
    s.buffered_bandwidth = probe(probes, name + "_buffered_cold");
    s.mmap_bandwidth = probe(probes, name + "_mmap_cold");
  }
  return s;
}

HostModel fit_host_model(const Probes& probes) {
  HostModel h;
  h.memcpy_thread = probe(probes, "memcpy_threads1");
  for (const auto& [k, v] : probes) {
    if (k.rfind("memcpy_threads", 0) == 0) h.memcpy_all = std::max(h.memcpy_all, v);
  }
  const double fresh = probe(probes, "fresh_copy_threads1");
  const double touch = 1.0 / fresh - 1.0 / h.memcpy_thread;
  h.fresh_pages = touch > 0 ? 1.0 / touch : 0;
  if (!(h.fresh_pages > 0)) throw InputError("probes", "fresh_copy_threads1 is not slower than memcpy_threads1: no first-touch cost to isolate");
  h.page_cache_thread = probe(probes, "page_cache_read_threads1");
  h.mmap_thread = probe(probes, "mmap_read_threads1");
  // A host destination (--device cpu) has no copy probes: the loader's copy to it is a memcpy.
  const bool gpu = probes.count("h2d_pinned_gpu0") > 0;
  h.h2d_pinned = gpu ? probe(probes, "h2d_pinned_gpu0") : h.memcpy_thread;
  h.h2d_pageable = gpu ? probe(probes, "h2d_pageable_gpu0") : h.memcpy_thread;
  h.h2d_shared = probes.count("h2d_pinned_gpu1") && probes.count("h2d_pinned_concurrent") ? probe(probes, "h2d_pinned_concurrent")
                                                                                           : 2 * h.memcpy_all;
  h.per_file = probe(probes, "per_file_seconds");
  h.per_tensor = probe(probes, "per_tensor_seconds");
  h.per_copy = probe(probes, "per_copy_seconds");
  // The two allocation probes: device_alloc_seconds_<MiB>MiB.
  std::vector<std::pair<double, double>> alloc;
  for (const auto& [k, v] : probes) {
    std::smatch m;
    static const std::regex key("^device_alloc_seconds_([0-9]+)MiB$");
    if (std::regex_match(k, m, key)) alloc.emplace_back(std::stod(m[1].str()) * 1048576.0, v);
  }
  std::sort(alloc.begin(), alloc.end());
  if (alloc.size() >= 2) {
    const auto& [b0, t0] = alloc.front();
    const auto& [b1, t1] = alloc.back();
    h.device_alloc_per_byte = std::max(0.0, (t1 - t0) / (b1 - b0));
    h.device_alloc = std::max(0.0, t0 - h.device_alloc_per_byte * b0);
  } else if (alloc.size() == 1) {
    h.device_alloc = alloc.front().second;
  }
  // Read-ahead: the window of the block device measured (the largest), and the depth that explains its
  // cold buffered read (the read() copy overlaps the device: min(copy, device at the window)).
  std::string disk;
  double window = 0;
  for (const auto& [k, v] : probes) {
    const std::string suffix = "_read_ahead_bytes";
    if (k.size() <= suffix.size() || k.compare(k.size() - suffix.size(), suffix.size(), suffix) != 0 || v <= window) continue;
    const std::string name = k.substr(0, k.size() - suffix.size());
    if (probes.count(name + "_memory_backed") && probe(probes, name + "_memory_backed") > 0) continue;
    window = v;
    disk = name;
  }
  if (!disk.empty()) h.read_ahead = static_cast<std::uint64_t>(window);
  if (!disk.empty()) {
    const StorageModel s = fit_storage_model(probes, disk);
    const double measured = probe(probes, disk + "_buffered_cold");
    if (measured < 0.95 * h.page_cache_thread) {
      const double ra = static_cast<double>(h.read_ahead);
      const double per_request = s.latency + ra / s.request_bandwidth;
      h.read_ahead_depth = std::clamp(measured * per_request / ra, 1.0, 1e3);
    }
  }
  return h;
}

LoaderModel fit_loader_model(const Probes& probes, const std::string& storage) {
  LoaderModel m;
  m.host = fit_host_model(probes);
  m.storage = fit_storage_model(probes, storage);
  return m;
}

double fit_load_fixed(const LoaderModel& model, const std::vector<MeasuredPoint>& loads) {
  std::vector<LoadPoint> points;
  for (const MeasuredPoint& p : loads) {
    if (const auto* op = std::get_if<LoadOperation>(&p.median.operation); op && composed(op->mode)) points.push_back({*op, p.median.seconds, {}});
  }
  return load_fixed_of(model, points);
}

std::vector<ComponentCheck> check_loader_model(const Probes& probes, const std::string& storage,
                                               const std::vector<Measurement>& rows) {
  const LoaderModel base = fit_loader_model(probes, storage);
  std::vector<LoadPoint> loads;
  for (const MeasuredPoint& p : measured_points(rows)) {
    if (const auto* op = std::get_if<LoadOperation>(&p.median.operation); op && composed(op->mode)) {
      loads.push_back({*op, p.median.seconds, p.observations});
    }
  }
  auto with_fixed = [&](auto keep) {
    std::vector<LoadPoint> train;
    for (const LoadPoint& p : loads) {
      if (keep(p.op)) train.push_back(p);
    }
    LoaderModel m = base;
    m.host.load_fixed = load_fixed_of(base, train);
    return m;
  };
  const LoaderModel all = with_fixed([](const LoadOperation&) { return true; });
  std::vector<ComponentCheck> out;
  for (const LoadPoint& p : loads) {
    const LoadOperation& op = p.op;
    ComponentCheck c;
    c.storage = storage;
    c.mode = op.mode;
    c.tier = op.tier;
    c.bytes = op.bytes;
    c.measured = p.seconds;
    c.interval = median_interval(p.observations);
    c.in_sample = predict(all, op);
    c.leave_size_out = predict(with_fixed([&](const LoadOperation& o) { return o.bytes != op.bytes; }), op);
    c.leave_mode_out = predict(with_fixed([&](const LoadOperation& o) { return o.mode != op.mode; }), op);
    std::vector<double> b, s;
    for (const LoadPoint& q : loads) {
      if (q.op.mode == op.mode && q.op.tier == op.tier && q.op.bytes != op.bytes) {
        b.push_back(static_cast<double>(q.op.bytes));
        s.push_back(q.seconds);
      }
    }
    if (b.size() >= 2) {
      const LoadLaw law = fit_load(b, s);
      c.law_leave_size_out = to_seconds(law.overhead) + static_cast<double>(op.bytes) / law.bandwidth;
    }
    out.push_back(c);
  }
  return out;
}

void print_component_checks(const std::vector<ComponentCheck>& checks, std::ostream& out) {
  char line[320];
  out << "storage mode tier MiB measured_s [90% interval] in_sample_s err leave_size_out err leave_mode_out err law_leave_size_out err\n";
  for (const ComponentCheck& c : checks) {
    const std::string iv = c.interval ? "[" + std::to_string(c.interval->low).substr(0, 7) + ", " + std::to_string(c.interval->high).substr(0, 7) + "]" : "[-]";
    std::snprintf(line, sizeof line, "%s %s %s %llu %.4f %s %.4f %+.1f%% %.4f %+.1f%% %.4f %+.1f%% %.4f %s\n", c.storage.c_str(),
                  c.mode.c_str(), to_string(c.tier), static_cast<unsigned long long>(c.bytes >> 20), c.measured, iv.c_str(),
                  c.in_sample, 100 * (c.in_sample / c.measured - 1), c.leave_size_out, 100 * (c.leave_size_out / c.measured - 1),
                  c.leave_mode_out, 100 * (c.leave_mode_out / c.measured - 1), c.law_leave_size_out,
                  c.law_leave_size_out > 0 ? (std::to_string(100 * (c.law_leave_size_out / c.measured - 1)).substr(0, 6) + "%").c_str() : "-");
    out << line;
  }
  // Summary per storage and tier: max / mean |error| of each predictor; points inside their interval.
  out << "\n| storage | tier | points | in-sample max / mean | leave-one-size-out max / mean | leave-one-mode-out max / mean | "
         "measured law, leave-one-size-out max / mean | model inside the 90% interval |\n|---|---|---|---|---|---|---|---|\n";
  std::vector<std::pair<std::string, Tier>> groups;
  for (const ComponentCheck& c : checks) {
    if (std::find(groups.begin(), groups.end(), std::pair{c.storage, c.tier}) == groups.end()) groups.emplace_back(c.storage, c.tier);
  }
  for (const auto& [storage, tier] : groups) {
    double mx[4] = {0, 0, 0, 0}, sum[4] = {0, 0, 0, 0};
    int n = 0, n_law = 0, inside = 0;
    for (const ComponentCheck& c : checks) {
      if (c.storage != storage || c.tier != tier) continue;
      const double e[4] = {rel(c.in_sample, c.measured), rel(c.leave_size_out, c.measured), rel(c.leave_mode_out, c.measured),
                           c.law_leave_size_out > 0 ? rel(c.law_leave_size_out, c.measured) : 0};
      for (int i = 0; i < 4; ++i) {
        mx[i] = std::max(mx[i], e[i]);
        sum[i] += e[i];
      }
      ++n;
      n_law += c.law_leave_size_out > 0;
      inside += c.interval && c.in_sample >= c.interval->low && c.in_sample <= c.interval->high;
    }
    std::snprintf(line, sizeof line, "| %s | %s | %d | %.1f%% / %.1f%% | %.1f%% / %.1f%% | %.1f%% / %.1f%% | %.1f%% / %.1f%% | %d of %d |\n",
                  storage.c_str(), tier == Tier::kSsd ? "cold" : "warm", n, 100 * mx[0], 100 * sum[0] / n, 100 * mx[1], 100 * sum[1] / n,
                  100 * mx[2], 100 * sum[2] / n, 100 * mx[3], n_law ? 100 * sum[3] / n_law : 0.0, inside, n);
    out << line;
  }
}

std::vector<CrossHostRow> cross_host(const Profile& model_profile, const Profile& reference, double bytes) {
  if (!model_profile.loader_model) throw InputError(model_profile.source, "no loader_model to predict from");
  std::vector<CrossHostRow> rows;
  for (const auto& [mode, lm] : reference.loader) {
    const std::optional<LoaderModeProfile> pred = model_profile.loader_laws(mode);
    for (const auto& [tier, measured, predicted] :
         {std::tuple{Tier::kSsd, lm.ssd, pred ? pred->ssd : std::nullopt}, std::tuple{Tier::kDram, lm.dram, pred ? pred->dram : std::nullopt}}) {
      if (!measured || !predicted) continue;
      rows.push_back({mode, tier, to_seconds(measured->overhead) + bytes / measured->bandwidth,
                      to_seconds(predicted->overhead) + bytes / predicted->bandwidth});
    }
  }
  return rows;
}

}  // namespace sllm::calibrate
