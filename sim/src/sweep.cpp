#include "sllm/sim/sweep.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <boost/math/distributions/students_t.hpp>
#include <yaml-cpp/yaml.h>

#include "sllm/core/build_info.h"
#include "sllm/core/error.h"
#include "sllm/core/files.h"
#include "sllm/core/random.h"
#include "sllm/sim/metrics.h"
#include "sllm/sim/scenario.h"
#include "sllm/sim/simulator.h"

namespace sllm {
namespace fs = std::filesystem;
namespace {

constexpr const char* kPlanMagic = "sllmsim-sweep-plan 1";
constexpr std::size_t kMaxKeyLength = 180;  // + ".tmp", the hash and the replicate stay under NAME_MAX (255)
constexpr const char* kReplicateSuffix = ",repeat=";  // a run's key: its point's key + this + replicate
constexpr std::size_t kRepeatColumn = 2;              // key, seed, repeat, ...
constexpr const char* kMeanRow = "mean";
constexpr std::int64_t kMaxRepeat = 1000;

// "label.NAME" parameters are results columns only (e.g. which panel of a figure a point belongs to).
bool is_label(const std::string& key) { return key.rfind("label.", 0) == 0; }

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// RFC 4180: quote fields holding a comma, quote or line break.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// The grid's values per key, read from a map of key -> non-empty list.
std::vector<std::pair<std::string, std::vector<std::string>>> read_grid(const ConfigNode& grid) {
  std::vector<std::pair<std::string, std::vector<std::string>>> axes;
  for (const std::string& key : grid.keys()) {
    const ConfigNode values = grid.child(key);
    if (!values.is_sequence()) values.fail("expected a list of values for swept key '" + key + "'");
    std::vector<std::string> texts;
    for (const ConfigNode& v : values.elements()) texts.push_back(v.yaml_text());
    if (texts.empty()) values.fail("a grid axis needs at least one value");
    std::set<std::string> unique(texts.begin(), texts.end());
    if (unique.size() != texts.size()) values.fail("a grid axis lists the same value twice");
    axes.emplace_back(key, std::move(texts));
  }
  return axes;
}

std::vector<std::vector<std::pair<std::string, std::string>>> read_points(const ConfigNode& points) {
  std::vector<std::vector<std::pair<std::string, std::string>>> out;
  for (const ConfigNode& p : points.elements()) {
    if (!p.is_map()) p.fail("expected a mapping of key.path -> value");
    std::vector<std::pair<std::string, std::string>> params;
    for (const std::string& key : p.keys()) params.emplace_back(key, p.child(key).yaml_text());
    out.push_back(std::move(params));
  }
  if (out.empty()) points.fail("expected at least one point");
  return out;
}

void read_fixed(const ConfigNode& set, std::map<std::string, std::string>& fixed,
                std::vector<std::string>& order) {
  for (const std::string& key : set.keys()) {
    if (!fixed.count(key)) order.push_back(key);
    fixed[key] = set.child(key).yaml_text();
  }
}

std::string point_yaml(const SweepSpec& spec, const SweepPoint& p) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "key" << YAML::Value << p.key;
  out << YAML::Key << "base" << YAML::Value << spec.base_config;
  out << YAML::Key << "base_hash" << YAML::Value << hex64(spec.base_config_hash);
  out << YAML::Key << "seed" << YAML::Value << p.seed;
  // A point made by another build is not complete: resuming re-runs it (results never mix builds).
  out << YAML::Key << "version" << YAML::Value << version();
  out << YAML::Key << "build" << YAML::Value << build_id();
  out << YAML::Key << "overrides" << YAML::Value << YAML::BeginSeq;
  for (const std::string& o : p.overrides) out << YAML::DoubleQuoted << o;
  out << YAML::EndSeq << YAML::EndMap;
  return "# One point of an sllmsim sweep; the same run alone: sllmsim run -c BASE --seed SEED --set O...\n" +
         std::string(out.c_str()) + "\n";
}

// Reads a point's row.csv: header and row, or empty strings when absent or malformed.
std::pair<std::string, std::string> read_row_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string header, row;
  if (!in || !std::getline(in, header) || !std::getline(in, row)) return {};
  return {header, row};
}

struct Plan {
  std::string fingerprint;
  std::vector<std::string> keys;
};

Plan read_plan(const fs::path& dir) {
  const fs::path file = dir / "plan.txt";
  std::ifstream in(file);
  if (!in) throw InputError(file.string(), "not a sweep output directory (no plan.txt)");
  std::string line;
  std::getline(in, line);
  const std::string magic = kPlanMagic;
  if (line.rfind(magic + " fingerprint=", 0) != 0) {
    throw InputError(file.string() + ":1", "expected '" + magic + " fingerprint=...'");
  }
  Plan plan;
  plan.fingerprint = line.substr(magic.size() + 13);
  while (std::getline(in, line)) {
    if (!line.empty()) plan.keys.push_back(line);
  }
  return plan;
}

// The inverse of read_plan().
std::string plan_text(const Plan& plan) {
  std::string text = std::string(kPlanMagic) + " fingerprint=" + plan.fingerprint + "\n";
  for (const std::string& key : plan.keys) text += key + "\n";
  return text;
}

Plan plan_of(const SweepSpec& spec) {
  Plan plan{hex64(spec.fingerprint), {}};
  for (const SweepPoint& p : spec.points) plan.keys.push_back(p.key);
  return plan;
}

// Appends the point with these parameters (key, seed, overrides: fixed, swept, extra). False when its key
// is already in `keys` (the point is appended all the same, for the caller's message).
// Appends the spec.repeat runs of the point with these parameters (keys, seeds, overrides: fixed, swept,
// extra). False when its key is already in `keys` (the runs are appended all the same, for the caller's
// message).
bool add_point(SweepSpec& spec, const std::vector<std::pair<std::string, std::string>>& params,
               const std::vector<std::string>& fixed_overrides, const std::vector<std::string>& extra_overrides,
               std::set<std::string>& keys) {
  SweepPoint p;
  p.params = params;
  p.param_key = sweep_point_key(p.params);
  const bool unique = keys.insert(p.param_key).second;
  const std::uint64_t seed = sweep_point_seed(spec.seed, p.params, spec.seed_by);
  p.overrides = fixed_overrides;
  for (const auto& [k, v] : p.params) {
    if (!is_label(k)) p.overrides.push_back(k + "=" + v);
  }
  p.overrides.insert(p.overrides.end(), extra_overrides.begin(), extra_overrides.end());
  for (std::uint32_t r = 0; r < spec.repeat; ++r) {
    p.index = spec.points.size();
    p.replicate = r;
    p.key = spec.repeat == 1 ? p.param_key : p.param_key + kReplicateSuffix + std::to_string(r);
    p.seed = sweep_replicate_seed(seed, r);
    spec.points.push_back(p);
  }
  return unique;
}

bool numeric(const Metric& m) { return m.kind == Metric::Kind::kCount || m.kind == Metric::Kind::kReal; }
bool in_results(const Metric& m) { return !m.column.empty() && !m.timing; }

// results.csv from the runs' rows in sweep order: each point's replicates (a new point starts at
// replicate 0), then its mean row.
std::string results_csv(const std::string& header, const std::vector<std::string>& rows) {
  std::string csv = header + "\n";
  std::vector<std::string> group;
  const auto flush = [&] {
    if (!group.empty()) csv += sweep_mean_row(header, group) + "\n";
    group.clear();
  };
  for (const std::string& row : rows) {
    const std::vector<std::string> f = csv_fields(row);
    if (f.size() > kRepeatColumn && f[kRepeatColumn] == "0") flush();
    csv += row + "\n";
    group.push_back(row);
  }
  flush();
  return csv;
}

std::uint64_t fingerprint_of(const SweepSpec& spec) {
  std::string all = spec.base_config + "\n" + hex64(spec.base_config_hash) + "\n" + std::to_string(spec.seed) + "\n";
  for (const SweepPoint& p : spec.points) {
    all += p.key + "|" + std::to_string(p.seed);
    for (const std::string& o : p.overrides) all += "|" + o;
    all += "\n";
  }
  return fnv1a64(all);
}

// A point's scenario; an InputError names the point.
Scenario load_scenario(const SweepSpec& spec, const SweepPoint& point) {
  try {
    return Scenario::load(spec.base_config, point.overrides, point.seed);
  } catch (const InputError& e) {
    throw InputError("sweep point " + point.key + " (" + spec.source + ")", e.what());
  }
}

// Runs one point from its loaded scenario into points_dir/<key>/ and returns its row (see run_sweep_point).
std::string run_point(const SweepSpec& spec, const SweepPoint& p, const Scenario& scenario, const fs::path& points_dir,
                      const std::string& header) {
  const fs::path final_dir = points_dir / p.key;
  const fs::path tmp_dir = points_dir / (p.key + ".tmp");
  fs::remove_all(tmp_dir);
  Simulator simulator(scenario);
  RunOptions run;
  run.output_dir = tmp_dir.string();
  const RunSummary summary = simulator.run(run);
  const std::string row = sweep_results_row(p, summary, spec.param_names);
  write_file_atomically(tmp_dir.string(), "point.yaml", point_yaml(spec, p));
  write_file_atomically(tmp_dir.string(), "row.csv", header + "\n" + row + "\n");
  fs::remove_all(final_dir);
  fs::rename(tmp_dir, final_dir);
  return row;
}

// The dispatcher of a sweep without one: `jobs` threads take the pending points in order.
void run_on_threads(unsigned jobs, const std::vector<std::size_t>& pending,
                    const std::function<std::string(std::size_t)>& run_here, const SweepDispatcher::Finished& finished) {
  std::mutex mutex;
  std::atomic<std::size_t> next{0};
  const auto worker = [&] {
    for (;;) {
      const std::size_t t = next.fetch_add(1);
      if (t >= pending.size()) return;
      std::string row, error;
      try {
        row = run_here(pending[t]);
      } catch (const std::exception& e) {
        error = e.what();
      }
      const std::lock_guard<std::mutex> lock(mutex);
      finished(pending[t], row, error);
    }
  };
  const unsigned threads = std::max(1u, std::min<unsigned>(jobs, static_cast<unsigned>(pending.size())));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
}

}  // namespace


std::string sweep_point_key(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string exact;
  for (const auto& [k, v] : params) exact += (exact.empty() ? "" : ",") + k + "=" + v;
  if (exact.empty()) exact = "base";
  std::string key;
  bool replaced = false;
  for (char c : exact) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '=' || c == ',' || c == '+' || c == '-';
    key += ok ? c : '_';
    replaced = replaced || !ok;
  }
  if (replaced || key.size() > kMaxKeyLength) {
    key = key.substr(0, std::min(key.size(), kMaxKeyLength)) + "~" + hex64(fnv1a64(exact)).substr(0, 12);
  }
  return key;
}

std::uint64_t sweep_replicate_seed(std::uint64_t point_seed, std::uint32_t replicate) {
  if (replicate == 0) return point_seed;
  std::uint64_t state = point_seed ^ (0x9e3779b97f4a7c15ull * replicate);
  return splitmix64(state) >> 1;  // 63 bits, as sweep_point_seed
}

SampleMean sample_mean(const std::vector<double>& samples, double confidence) {
  SampleMean out;
  double sum = 0;
  for (const double x : samples) {
    if (std::isnan(x)) continue;
    sum += x;
    ++out.n;
  }
  out.mean = out.n == 0 ? std::numeric_limits<double>::quiet_NaN() : sum / static_cast<double>(out.n);
  out.half_width = std::numeric_limits<double>::quiet_NaN();
  if (out.n < 2 || !std::isfinite(out.mean)) return out;
  double ss = 0;
  for (const double x : samples) {
    if (!std::isnan(x)) ss += (x - out.mean) * (x - out.mean);
  }
  const double n = static_cast<double>(out.n);
  const boost::math::students_t dist(n - 1);
  out.half_width = boost::math::quantile(dist, 0.5 + confidence / 2) * std::sqrt(ss / (n - 1)) / std::sqrt(n);
  return out;
}

std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

std::string csv_real(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

double parse_csv_real(const std::string& text) {
  if (text == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (text == "inf") return std::numeric_limits<double>::infinity();
  if (text == "-inf") return -std::numeric_limits<double>::infinity();
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    throw std::runtime_error("not a number in a sweep row: '" + text + "'");
  }
  return v;
}

std::uint64_t sweep_point_seed(std::uint64_t base_seed, const std::vector<std::pair<std::string, std::string>>& params,
                               const std::vector<std::string>& seed_by) {
  std::string text;
  for (const auto& [k, v] : params) {
    if (std::find(seed_by.begin(), seed_by.end(), k) != seed_by.end()) text += k + "=" + v + ";";
  }
  std::uint64_t state = base_seed ^ fnv1a64(text);
  // 63 bits, so the seed can also be written as simulation.seed in a YAML config.
  return splitmix64(state) >> 1;
}

SweepSpec SweepSpec::load(const std::string& path, bool quick, const std::vector<std::string>& extra_overrides) {
  const ConfigNode root = ConfigNode::load_file(path);
  if (!root.is_map()) root.fail("a sweep file is a mapping with keys base, set, grid, points, seed, seed_by, quick");
  SweepSpec spec;
  spec.source = path;
  const ConfigNode base = root.child("base");
  const std::string base_text = base.as_string();
  fs::path base_path(base_text);
  if (base_path.is_relative()) base_path = fs::path(path).parent_path() / base_path;
  spec.base_config = base_path.lexically_normal().string();
  std::string base_yaml;
  try {
    base_yaml = read_text(spec.base_config);
  } catch (const InputError&) {
    base.fail("cannot open base config '" + spec.base_config + "'");
  }
  spec.base_config_hash = fnv1a64(base_yaml);
  spec.seed = static_cast<std::uint64_t>(root.get_int("seed", static_cast<std::int64_t>(spec.seed), 0, INT64_MAX));
  spec.repeat = static_cast<std::uint32_t>(root.get_int("repeat", spec.repeat, 1, kMaxRepeat));

  std::map<std::string, std::string> fixed;
  std::vector<std::string> fixed_order;
  if (auto set = root.optional_child("set")) read_fixed(*set, fixed, fixed_order);
  std::vector<std::pair<std::string, std::vector<std::string>>> grid;
  if (auto g = root.optional_child("grid")) grid = read_grid(*g);
  std::vector<std::vector<std::pair<std::string, std::string>>> listed;
  if (auto p = root.optional_child("points")) listed = read_points(*p);
  const std::optional<ConfigNode> seed_by = root.optional_child("seed_by");

  if (auto q = root.optional_child("quick")) {
    if (quick) {
      spec.repeat = static_cast<std::uint32_t>(q->get_int("repeat", spec.repeat, 1, kMaxRepeat));
      if (auto set = q->optional_child("set")) read_fixed(*set, fixed, fixed_order);
      if (auto g = q->optional_child("grid")) {
        for (auto& replacement : read_grid(*g)) {
          // Not a structured binding: clang 14 cannot capture one in a lambda (C++20 allows it; P1091).
          const std::string& key = replacement.first;
          auto axis = std::find_if(grid.begin(), grid.end(), [&](const auto& a) { return a.first == key; });
          if (axis == grid.end()) g->child(key).fail("quick.grid may only replace axes of grid");
          axis->second = std::move(replacement.second);
        }
      }
      if (auto p = q->optional_child("points")) listed = read_points(*p);
    } else {
      q->keys();  // read (checked when --quick is given)
    }
    q->finish();
  }
  root.finish();

  // Parameter columns: keys of the listed points (first seen first), then the grid's.
  for (const auto& params : listed) {
    for (const auto& [k, v] : params) {
      if (std::find(spec.param_names.begin(), spec.param_names.end(), k) == spec.param_names.end()) {
        spec.param_names.push_back(k);
      }
    }
  }
  for (const auto& [k, values] : grid) {
    if (std::find(spec.param_names.begin(), spec.param_names.end(), k) != spec.param_names.end()) {
      root.child("grid").child(k).fail("'" + k + "' is swept both in points and in grid");
    }
    spec.param_names.push_back(k);
  }
  for (const std::string& k : spec.param_names) {
    if (fixed.count(k)) root.child("set").child(k).fail("'" + k + "' is both fixed (set) and swept");
  }
  for (const std::string& o : extra_overrides) {
    const std::string k = o.substr(0, o.find('='));
    if (std::find(spec.param_names.begin(), spec.param_names.end(), k) != spec.param_names.end()) {
      throw InputError("--set " + o, "'" + k + "' is swept by " + path + "; change the sweep file instead");
    }
  }

  if (seed_by) {
    for (const ConfigNode& e : seed_by->elements()) {
      const std::string k = e.as_string();
      if (std::find(spec.param_names.begin(), spec.param_names.end(), k) == spec.param_names.end()) {
        e.fail("'" + k + "' is not a swept key");
      }
      spec.seed_by.push_back(k);
    }
  } else {
    spec.seed_by = spec.param_names;
  }

  // Points: each listed point (or one empty point) crossed with the grid, the first grid key slowest.
  if (listed.empty()) listed.emplace_back();
  std::vector<std::string> fixed_overrides;
  for (const std::string& k : fixed_order) fixed_overrides.push_back(k + "=" + fixed[k]);
  std::set<std::string> keys;
  for (const auto& base_params : listed) {
    std::vector<std::size_t> digit(grid.size(), 0);
    for (;;) {
      std::vector<std::pair<std::string, std::string>> params = base_params;
      for (std::size_t a = 0; a < grid.size(); ++a) params.emplace_back(grid[a].first, grid[a].second[digit[a]]);
      if (!add_point(spec, params, fixed_overrides, extra_overrides, keys)) {
        root.fail("two points have the same values: " + spec.points.back().param_key);
      }
      // Odometer over the grid's axes, the last one fastest.
      std::size_t a = grid.size();
      while (a > 0 && ++digit[a - 1] == grid[a - 1].second.size()) digit[--a] = 0;
      if (a == 0) break;
    }
  }

  spec.fingerprint = fingerprint_of(spec);
  return spec;
}

SweepSpec SweepSpec::of_points(const std::string& base_config, std::uint64_t seed, std::vector<std::string> seed_by,
                               const std::vector<std::string>& fixed_overrides,
                               const std::vector<std::vector<std::pair<std::string, std::string>>>& points,
                               std::string source) {
  SweepSpec spec;
  spec.source = std::move(source);
  spec.base_config = base_config;
  spec.base_config_hash = fnv1a64(read_text(base_config));
  spec.seed = seed;
  spec.seed_by = std::move(seed_by);
  for (const auto& params : points) {
    for (const auto& [k, v] : params) {
      if (std::find(spec.param_names.begin(), spec.param_names.end(), k) == spec.param_names.end()) {
        spec.param_names.push_back(k);
      }
    }
  }
  std::set<std::string> keys;
  for (const auto& params : points) {
    if (!add_point(spec, params, fixed_overrides, {}, keys)) {
      throw InputError(spec.source, "two points have the same values: " + spec.points.back().param_key);
    }
  }
  spec.fingerprint = fingerprint_of(spec);
  return spec;
}

std::string sweep_results_header(const std::vector<std::string>& param_names) {
  std::string h = "key,seed,repeat";
  for (const std::string& p : param_names) h += "," + csv_field(p);
  for (const Metric& m : metrics()) {
    if (in_results(m)) h += "," + std::string(m.column);
  }
  for (const Metric& m : metrics()) {
    if (in_results(m) && numeric(m)) h += "," + std::string(m.column) + "_ci95";
  }
  return h;
}

std::string sweep_results_row(const SweepPoint& point, const RunSummary& summary,
                              const std::vector<std::string>& param_names) {
  std::string r = csv_field(point.key) + "," + std::to_string(point.seed) + "," + std::to_string(point.replicate);
  for (const std::string& name : param_names) {
    std::string value;
    for (const auto& [k, v] : point.params) {
      if (k == name) value = v;
    }
    r += "," + csv_field(value);
  }
  for (const Metric& m : metrics()) {
    if (in_results(m)) r += "," + metric_text(m, summary);
  }
  for (const Metric& m : metrics()) {
    if (in_results(m) && numeric(m)) r += ",";  // intervals: mean rows only
  }
  return r;
}

std::string sweep_mean_row(const std::string& header, const std::vector<std::string>& replicate_rows) {
  if (replicate_rows.empty()) throw std::logic_error("sweep_mean_row: no rows");
  const std::vector<std::string> columns = csv_fields(header);
  std::vector<std::vector<std::string>> rows;
  for (const std::string& r : replicate_rows) {
    rows.push_back(csv_fields(r));
    if (rows.back().size() != columns.size()) throw std::runtime_error("a sweep row does not match its header: " + r);
  }
  const auto column_of = [&](std::string_view name) {
    return static_cast<std::size_t>(std::find(columns.begin(), columns.end(), name) - columns.begin());
  };
  std::vector<std::string> out = rows[0];
  // The point's key: the replicate's without its suffix; no seed: the row stands for all of them.
  const std::string& key = rows[0][0];
  const std::string first = std::string(kReplicateSuffix) + "0";
  if (key.size() > first.size() && key.compare(key.size() - first.size(), first.size(), first) == 0) {
    out[0] = key.substr(0, key.size() - first.size());
  }
  out[1] = "";
  out[kRepeatColumn] = kMeanRow;
  for (const Metric& m : metrics()) {
    if (!in_results(m)) continue;
    const std::size_t c = column_of(m.column);
    if (numeric(m)) {
      std::vector<double> values;
      for (const auto& r : rows) values.push_back(parse_csv_real(r[c]));
      const SampleMean sm = sample_mean(values);
      out[c] = csv_real(sm.mean);
      out[column_of(std::string(m.column) + "_ci95")] = std::isnan(sm.half_width) ? "" : csv_real(sm.half_width);
    } else {
      bool same = true;
      for (const auto& r : rows) same = same && r[c] == rows[0][c];
      if (!same) out[c] = "";
    }
  }
  std::string line;
  for (std::size_t i = 0; i < out.size(); ++i) line += (i ? "," : "") + csv_field(out[i]);
  return line;
}


void check_sweep(const SweepSpec& spec) {
  for (const SweepPoint& p : spec.points) load_scenario(spec, p);
}

std::string run_sweep_point(const SweepSpec& spec, const SweepPoint& point, const std::string& output_dir) {
  const Scenario scenario = load_scenario(spec, point);
  return run_point(spec, point, scenario, fs::path(output_dir) / "points", sweep_results_header(spec.param_names));
}

SweepOutcome run_sweep(const SweepSpec& spec, const SweepOptions& options) {
  if (options.output_dir.empty()) throw InputError("sweep", "an output directory is required (-o DIR)");
  if (options.shard_count == 0 || options.shard_index >= options.shard_count) {
    throw InputError("--shard", "expected i/n with 0 <= i < n");
  }
  std::vector<const SweepPoint*> mine;
  for (const SweepPoint& p : spec.points) {
    if (p.index % options.shard_count == options.shard_index) mine.push_back(&p);
  }
  // Every point's scenario is read before anything runs: one bad point fails the sweep up front. The
  // scenarios are kept for the runs (the vector is never resized: a Simulator refers to its Scenario).
  std::vector<std::optional<Scenario>> scenarios(mine.size());
  for (std::size_t i = 0; i < mine.size(); ++i) scenarios[i].emplace(load_scenario(spec, *mine[i]));

  const fs::path dir(options.output_dir);
  const fs::path points_dir = dir / "points";
  fs::create_directories(points_dir);
  write_file_atomically(dir.string(), "plan.txt", plan_text(plan_of(spec)));
  const std::string header = sweep_results_header(spec.param_names);

  SweepOutcome outcome;
  outcome.planned = mine.size();
  std::vector<std::string> rows(mine.size());
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    const fs::path pdir = points_dir / mine[i]->key;
    const auto [h, row] = read_row_file(pdir / "row.csv");
    bool complete = !row.empty() && h == header;
    if (complete) {
      try {
        complete = read_text((pdir / "point.yaml").string()) == point_yaml(spec, *mine[i]);
      } catch (const InputError&) {
        complete = false;
      }
    }
    if (complete) {
      rows[i] = row;
      ++outcome.skipped;
    } else {
      todo.push_back(i);
    }
  }

  // Indices into spec.points of the points to run, and back to their place in `mine`.
  std::vector<std::size_t> pending;
  std::map<std::size_t, std::size_t> slot_of;
  for (const std::size_t i : todo) {
    pending.push_back(mine[i]->index);
    slot_of[mine[i]->index] = i;
  }
  std::size_t done = outcome.skipped;
  const auto run_here = [&](std::size_t index) {
    const std::size_t i = slot_of.at(index);
    return run_point(spec, *mine[i], *scenarios[i], points_dir, header);
  };
  const auto finished = [&](std::size_t index, const std::string& row, const std::string& error) {
    const std::size_t i = slot_of.at(index);
    ++done;
    if (error.empty()) {
      rows[i] = row;
      ++outcome.ran;
    } else {
      outcome.failures.push_back(mine[i]->key + ": " + error);
    }
    if (options.log) {
      *options.log << "[" << done << "/" << mine.size() << "] " << mine[i]->key
                   << (error.empty() ? "" : "  FAILED: " + error) << "\n";
      options.log->flush();
    }
  };
  if (options.dispatcher != nullptr) {
    options.dispatcher->dispatch(pending, run_here, finished);
  } else {
    run_on_threads(options.jobs, pending, run_here, finished);
  }

  if (outcome.failures.empty()) write_file_atomically(dir.string(), "results.csv", results_csv(header, rows));
  return outcome;
}

std::size_t merge_sweeps(const std::vector<std::string>& shard_dirs, const std::string& output_dir, bool allow_partial,
                         std::ostream* log) {
  if (shard_dirs.empty()) throw InputError("sweep merge", "expected at least one sweep output directory");
  std::vector<Plan> plans;
  for (const std::string& d : shard_dirs) plans.push_back(read_plan(d));
  for (std::size_t i = 1; i < plans.size(); ++i) {
    if (plans[i].fingerprint != plans[0].fingerprint || plans[i].keys != plans[0].keys) {
      throw InputError(shard_dirs[i], "comes from a different sweep than " + shard_dirs[0] + " (plan fingerprint " +
                                          plans[i].fingerprint + " vs " + plans[0].fingerprint + ")");
    }
  }
  const fs::path out(output_dir);
  fs::create_directories(out / "points");
  std::string header;
  std::vector<std::string> rows;
  std::vector<std::string> missing;
  std::size_t merged = 0;
  for (const std::string& key : plans[0].keys) {
    bool found = false;
    for (const std::string& d : shard_dirs) {
      const fs::path src = fs::path(d) / "points" / key;
      const auto [h, row] = read_row_file(src / "row.csv");
      if (row.empty()) continue;
      if (header.empty()) header = h;
      if (h != header) throw InputError((src / "row.csv").string(), "results columns differ from the other points'");
      const fs::path dst = out / "points" / key;
      if (!fs::exists(dst) || !fs::equivalent(src, dst)) {
        const fs::path tmp = out / "points" / (key + ".tmp");
        fs::remove_all(tmp);
        fs::copy(src, tmp, fs::copy_options::recursive);
        fs::remove_all(dst);
        fs::rename(tmp, dst);
      }
      rows.push_back(row);
      ++merged;
      found = true;
      break;
    }
    if (!found) missing.push_back(key);
  }
  if (!missing.empty()) {
    std::string list;
    for (std::size_t i = 0; i < missing.size() && i < 5; ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > 5) list += ", ...";
    if (!allow_partial) {
      throw std::runtime_error(std::to_string(missing.size()) + " of " + std::to_string(plans[0].keys.size()) +
                               " points are missing from the shards (" + list + "); run the missing shards or "
                               "pass --partial");
    }
    if (log) *log << "warning: " << missing.size() << " points missing (" << list << ")\n";
  }
  write_file_atomically(out.string(), "plan.txt", plan_text(plans[0]));
  if (header.empty()) throw std::runtime_error("no complete point in the given directories");
  write_file_atomically(out.string(), "results.csv", results_csv(header, rows));
  return merged;
}

}  // namespace sllm
