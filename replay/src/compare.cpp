// `sllmsim replay compare`: the real run beside a simulation of the same scenario.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <vector>

#include "sllm/core/error.h"
#include "sllm/replay/replay.h"
#include "sllm/sim/simulator.h"

namespace sllm::replay {
namespace {

// A CSV file written by sllmsim (no quoting: names hold no commas), as rows of named columns.
class CsvTable {
 public:
  explicit CsvTable(const std::string& path) : path_(path) {
    std::ifstream in(path);
    if (!in) throw InputError(path, "cannot be read (run `sllmsim replay` into this directory first)");
    std::string line;
    if (!std::getline(in, line)) throw InputError(path, "is empty");
    header_ = split(line);
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      rows_.push_back(split(line));
      if (rows_.back().size() != header_.size()) {
        throw InputError(path + ":" + std::to_string(rows_.size() + 1), "expected " + std::to_string(header_.size()) +
                                                                         " fields");
      }
    }
  }
  std::size_t size() const { return rows_.size(); }
  const std::string& at(std::size_t row, const std::string& column) const {
    const auto it = std::find(header_.begin(), header_.end(), column);
    if (it == header_.end()) throw InputError(path_, "has no column " + column);
    return rows_[row][static_cast<std::size_t>(it - header_.begin())];
  }
  double number(std::size_t row, const std::string& column) const {
    const std::string& v = at(row, column);
    return v.empty() ? std::nan("") : std::stod(v);
  }

 private:
  static std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> out;
    std::stringstream ss(line);
    std::string field;
    while (std::getline(ss, field, ',')) out.push_back(field);
    if (!line.empty() && line.back() == ',') out.emplace_back();
    return out;
  }
  std::string path_;
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

struct RequestResult {
  double ttft = 0, latency = 0;
};

// Completed requests by id, and the run's counts, from a requests.csv.
struct RunRequests {
  std::map<std::uint64_t, RequestResult> completed;
  std::uint64_t cold_starts = 0, arrived = 0;
};

RunRequests read_requests(const std::string& path) {
  const CsvTable t(path);
  RunRequests out;
  out.arrived = t.size();
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t.at(i, "outcome") != "completed") continue;
    out.completed[std::stoull(t.at(i, "id"))] = {t.number(i, "ttft_s"), t.number(i, "latency_s")};
    if (t.at(i, "cold_start") == "1") ++out.cold_starts;
  }
  return out;
}

Distribution distribution(const RunRequests& r, double RequestResult::*field) {
  std::vector<double> v;
  for (const auto& [id, res] : r.completed) v.push_back(res.*field);
  return summarize(v);
}

double relative(double sim, double real) { return real != 0 ? (sim - real) / real : (sim == 0 ? 0 : INFINITY); }

}  // namespace

bool compare(const Scenario& scenario, const std::string& real_dir, const std::string& sim_dir, std::ostream& out) {
  const RunRequests real = read_requests(real_dir + "/requests.csv");
  const CsvTable loads(real_dir + "/loads.csv");
  const CsvTable decisions(real_dir + "/decisions.csv");

  RunOptions run;
  run.output_dir = sim_dir;
  Simulator simulator(scenario);
  const RunSummary s = simulator.run(run);
  const RunRequests sim = read_requests(sim_dir + "/requests.csv");

  std::uint64_t real_tier[3] = {}, real_keep_alive = 0;
  for (std::size_t i = 0; i < loads.size(); ++i) {
    const std::string& tier = loads.at(i, "tier");
    for (Tier t : {Tier::kRemote, Tier::kSsd, Tier::kDram}) {
      if (tier == to_string(t)) ++real_tier[static_cast<int>(t)];
    }
  }
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    if (decisions.at(i, "event") == "keep_alive_unload") ++real_keep_alive;
  }

  bool all_met = true;
  out << std::fixed;
  out << "quantity                         real       sim     error   target\n";
  const auto row = [&](const std::string& name, double r, double v, double target, bool count) {
    const double err = relative(v, r);
    out << "  " << std::left << std::setw(26) << name << std::right << std::setprecision(count ? 0 : 3)
        << std::setw(10) << r << std::setw(10) << v << std::setprecision(1) << std::setw(8) << 100 * err << "%";
    if (target > 0) {
      const bool met = std::abs(err) <= target + 1e-12;
      all_met = all_met && met;
      out << "   " << (met ? "within " : "MISSES ") << std::setprecision(0) << 100 * target << "%";
    }
    out << "\n";
  };
  const Distribution rt = distribution(real, &RequestResult::ttft), st = distribution(sim, &RequestResult::ttft);
  const Distribution rl = distribution(real, &RequestResult::latency), sl = distribution(sim, &RequestResult::latency);
  out << "requests: real " << real.arrived << " arrived, " << real.completed.size() << " completed; sim "
      << sim.arrived << " arrived, " << sim.completed.size() << " completed\n";
  row("ttft mean (s)", rt.mean, st.mean, 0.10, false);
  row("ttft p50 (s)", rt.p50, st.p50, 0.10, false);
  row("ttft p90 (s)", rt.p90, st.p90, 0, false);
  row("ttft p99 (s)", rt.p99, st.p99, 0.10, false);
  row("latency mean (s)", rl.mean, sl.mean, 0.10, false);
  row("latency p50 (s)", rl.p50, sl.p50, 0.10, false);
  row("latency p90 (s)", rl.p90, sl.p90, 0, false);
  row("latency p99 (s)", rl.p99, sl.p99, 0.10, false);
  row("cold starts", static_cast<double>(real.cold_starts), static_cast<double>(sim.cold_starts), 0.05, true);
  row("loads from dram", static_cast<double>(real_tier[static_cast<int>(Tier::kDram)]),
      static_cast<double>(s.loads_by_tier[static_cast<int>(Tier::kDram)]), 0.05, true);
  row("loads from ssd", static_cast<double>(real_tier[static_cast<int>(Tier::kSsd)]),
      static_cast<double>(s.loads_by_tier[static_cast<int>(Tier::kSsd)]), 0.05, true);
  row("keep-alive unloads", static_cast<double>(real_keep_alive), static_cast<double>(s.keep_alive_unloads), 0, true);

  // Per request: the simulator's relative error on each request completed in both runs.
  std::vector<double> ttft_err, latency_err;
  double ttft_signed = 0, latency_signed = 0;
  for (const auto& [id, r] : real.completed) {
    const auto it = sim.completed.find(id);
    if (it == sim.completed.end()) continue;
    ttft_err.push_back(std::abs(relative(it->second.ttft, r.ttft)));
    latency_err.push_back(std::abs(relative(it->second.latency, r.latency)));
    ttft_signed += relative(it->second.ttft, r.ttft);
    latency_signed += relative(it->second.latency, r.latency);
  }
  const std::size_t matched = ttft_err.size();
  const Distribution te = summarize(ttft_err), le = summarize(latency_err);
  out << "per-request |relative error| of the simulation (" << matched << " requests completed in both):\n"
      << "                       mean signed       p50       p90       p99\n";
  const auto err_row = [&](const char* name, double signed_sum, const Distribution& d) {
    out << "  " << std::left << std::setw(18) << name << std::right << std::setprecision(1) << std::setw(12)
        << (matched > 0 ? 100 * signed_sum / static_cast<double>(matched) : 0.0) << "%" << std::setw(9) << 100 * d.p50
        << "%" << std::setw(9) << 100 * d.p90 << "%" << std::setw(9) << 100 * d.p99 << "%\n";
  };
  err_row("ttft", ttft_signed, te);
  err_row("latency", latency_signed, le);

  // The loads: real time per tier beside the simulator's estimate (the profile's law), and the disk's
  // measured noise (the spread of the SSD loads' bandwidth).
  for (const char* tier : {"ssd", "dram"}) {
    std::vector<double> bw, ratio, init;
    for (std::size_t i = 0; i < loads.size(); ++i) {
      if (loads.at(i, "tier") != tier) continue;
      const double seconds = loads.number(i, "ready_s") - loads.number(i, "start_s");
      bw.push_back(loads.number(i, "bytes") / loads.number(i, "transfer_s"));
      ratio.push_back(loads.number(i, "estimate_s") / seconds);
      init.push_back(loads.number(i, "engine_init_s"));
    }
    if (bw.empty()) continue;
    double mean = 0, var = 0;
    for (double b : bw) mean += b;
    mean /= static_cast<double>(bw.size());
    for (double b : bw) var += (b - mean) * (b - mean);
    const double sd = bw.size() > 1 ? std::sqrt(var / static_cast<double>(bw.size() - 1)) : 0;
    const auto [lo, hi] = std::minmax_element(bw.begin(), bw.end());
    const Distribution rd = summarize(ratio), id = summarize(init);
    out << std::setprecision(2) << tier << " loads (" << bw.size() << "): real transfer " << mean / 1e9 << " GB/s (sd "
        << sd / 1e9 << ", cv " << std::setprecision(1) << (mean > 0 ? 100 * sd / mean : 0.0) << "%, range "
        << std::setprecision(2) << *lo / 1e9 << "-" << *hi / 1e9 << "); engine init mean " << std::setprecision(3)
        << id.mean << " s; simulated/real load time p50 " << rd.p50 << " (p90 " << rd.p90 << ", max " << rd.max
        << ")\n";
  }
  out << (all_met ? "every target met\n" : "some targets missed (see docs/replay.md for the mechanisms)\n");
  return all_met;
}

}  // namespace sllm::replay
