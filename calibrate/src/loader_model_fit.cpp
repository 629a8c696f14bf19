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

std::vector<ComponentCheck> check_loader_model(const Probes& probes, const std::string& storage,
                                               const std::vector<Measurement>& rows) {
  LoaderModel base = fit_loader_model(probes, storage);
  base.loader.tensor_bytes = kProbeTensorBytes;  // the synthesised checkpoints' tensors: all reused
  base.loader.large_tensor_fraction = 0;
  std::vector<LoadPoint> loads;
  for (const MeasuredPoint& p : measured_points(rows)) {
    if (const auto* op = std::get_if<LoadOperation>(&p.median.operation); op && composed(op->mode)) {
      loads.push_back({*op, p.median.seconds, p.observations});
    }
  }
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
    c.model = predict(base, op);
    std::vector<double> b, s, b_out, s_out;
    for (const LoadPoint& q : loads) {
      if (q.op.mode != op.mode || q.op.tier != op.tier) continue;
      b.push_back(static_cast<double>(q.op.bytes));
      s.push_back(q.seconds);
      if (q.op.bytes != op.bytes) {
        b_out.push_back(static_cast<double>(q.op.bytes));
        s_out.push_back(q.seconds);
      }
    }
    auto at = [&](const LoadLaw& law) { return to_seconds(law.overhead) + static_cast<double>(op.bytes) / law.bandwidth; };
    if (b.size() >= 2) c.law_in_sample = at(fit_load(b, s));
    if (b_out.size() >= 2) c.law_leave_size_out = at(fit_load(b_out, s_out));
    out.push_back(c);
  }
  return out;
}

void print_component_checks(const std::vector<ComponentCheck>& checks, std::ostream& out) {
  char line[320];
  auto err = [](double predicted, double measured) {
    if (!(predicted > 0)) return std::string("-");
    char b[32];
    std::snprintf(b, sizeof b, "%+.1f%%", 100 * (predicted / measured - 1));
    return std::string(b);
  };
  out << "storage mode tier MiB measured_s [90% interval] model_s err law_in_sample_s err law_leave_size_out_s err\n";
  for (const ComponentCheck& c : checks) {
    char iv[64] = "[-]";
    if (c.interval) std::snprintf(iv, sizeof iv, "[%.4f, %.4f]", c.interval->low, c.interval->high);
    std::snprintf(line, sizeof line, "%s %s %s %llu %.4f %s %.4f %s %.4f %s %.4f %s\n", c.storage.c_str(), c.mode.c_str(),
                  c.tier == Tier::kSsd ? "cold" : "warm", static_cast<unsigned long long>(c.bytes >> 20), c.measured, iv, c.model,
                  err(c.model, c.measured).c_str(), c.law_in_sample, err(c.law_in_sample, c.measured).c_str(), c.law_leave_size_out,
                  err(c.law_leave_size_out, c.measured).c_str());
    out << line;
  }
  // Per storage, tier and mode: max / mean |error| of each prediction over the sizes.
  out << "\n| storage | tier | mode | points | component model max / mean | measured law in-sample max / mean | "
         "measured law leave-one-size-out max / mean |\n|---|---|---|---|---|---|---|\n";
  struct Key {
    std::string storage;
    Tier tier;
    std::string mode;
    bool operator==(const Key&) const = default;
  };
  std::vector<Key> groups;
  for (const ComponentCheck& c : checks) {
    const Key k{c.storage, c.tier, c.mode};
    if (std::find(groups.begin(), groups.end(), k) == groups.end()) groups.push_back(k);
  }
  auto summary = [&](const std::vector<const ComponentCheck*>& rows, const char* storage, const char* tier, const char* mode) {
    double mx[3] = {0, 0, 0}, sum[3] = {0, 0, 0};
    int n[3] = {0, 0, 0};
    for (const ComponentCheck* c : rows) {
      const double p[3] = {c->model, c->law_in_sample, c->law_leave_size_out};
      for (int i = 0; i < 3; ++i) {
        if (!(p[i] > 0)) continue;
        const double e = rel(p[i], c->measured);
        mx[i] = std::max(mx[i], e);
        sum[i] += e;
        ++n[i];
      }
    }
    std::snprintf(line, sizeof line, "| %s | %s | %s | %zu | %.1f%% / %.1f%% | %.1f%% / %.1f%% | %.1f%% / %.1f%% |\n", storage, tier, mode,
                  rows.size(), 100 * mx[0], n[0] ? 100 * sum[0] / n[0] : 0.0, 100 * mx[1], n[1] ? 100 * sum[1] / n[1] : 0.0, 100 * mx[2],
                  n[2] ? 100 * sum[2] / n[2] : 0.0);
    out << line;
  };
  for (const Key& k : groups) {
    std::vector<const ComponentCheck*> rows;
    for (const ComponentCheck& c : checks) {
      if (c.storage == k.storage && c.tier == k.tier && c.mode == k.mode) rows.push_back(&c);
    }
    summary(rows, k.storage.c_str(), k.tier == Tier::kSsd ? "cold" : "warm", k.mode.c_str());
  }
  std::vector<std::pair<std::string, Tier>> tiers;
  for (const Key& k : groups) {
    if (std::find(tiers.begin(), tiers.end(), std::pair{k.storage, k.tier}) == tiers.end()) tiers.emplace_back(k.storage, k.tier);
  }
  for (const auto& [storage, tier] : tiers) {
    std::vector<const ComponentCheck*> rows;
    for (const ComponentCheck& c : checks) {
      if (c.storage == storage && c.tier == tier) rows.push_back(&c);
    }
    summary(rows, storage.c_str(), tier == Tier::kSsd ? "cold" : "warm", "**all modes**");
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
