// Parameter sweeps: a base scenario plus a grid (cartesian product) and/or a list of overrides, each
// point a full `sllmsim run` with its own seed, run in parallel on worker threads. Points are keyed by
// their override values, so a sweep can be split into shards (run on several machines), merged, and
// resumed (a point whose outputs are complete is skipped). docs/paper.md describes the sweep file.
//
// `repeat: N` runs each parameter point N times (its replicates), each with its own seed: replicate 0 the
// point's seed (as without repeat), replicate r the seed sweep_replicate_seed(point seed, r). Seeds derive
// from the seed_by keys only, so the policies of one point see the same N request streams (common random
// numbers).
//
// Output directory:
//   plan.txt                    sweep fingerprint + every run's key in sweep order (shards compare these)
//   results.csv                 per parameter point: one row per replicate (repeat = 0..N-1, its seed and
//                               metrics), then one row with repeat = "mean": the mean of each numeric
//                               metric over the replicates and its 95% Student-t interval half-width in
//                               <metric>_ci95 (empty with fewer than two finite values; NaN values are
//                               left out); a text metric is kept when every replicate has the same
//                               value. docs/config.md, "Sweep results".
//   points/<key>/point.yaml     what the point ran (base config, overrides, seed, base-config hash, build)
//   points/<key>/summary.json, requests.csv   the run's outputs
//   points/<key>/row.csv        the point's results row; written last, so its presence means complete
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sllm/core/config_node.h"
#include "sllm/core/hash.h"
#include "sllm/sim/outputs.h"

namespace sllm {

struct SweepPoint {
  std::size_t index = 0;  // position in sweep order
  std::string key;        // directory name under points/ (unique within the sweep)
  std::string param_key;  // the parameter point's key (key without ",repeat=r"; equal when repeat is 1)
  std::uint32_t replicate = 0;  // 0..repeat-1
  std::vector<std::pair<std::string, std::string>> params;  // swept key.path -> value (YAML text)
  std::uint64_t seed = 0;
  // All overrides of the point, fixed ones first, as "key.path=value" (the syntax of --set).
  std::vector<std::string> overrides;
};

struct SweepSpec {
  std::string source;                    // the sweep file
  std::string base_config;               // path of the base scenario (resolved against the sweep file)
  std::uint64_t base_config_hash = 0;    // FNV-1a of the base config's text (resume detects edits)
  std::uint64_t seed = 1;                // base seed
  std::vector<std::string> seed_by;      // swept keys the point seeds derive from
  // results.csv parameter columns, in order; "label.NAME" columns only label points (not overrides).
  std::vector<std::string> param_names;
  std::uint32_t repeat = 1;              // runs per parameter point (`repeat:`, quick.repeat)
  std::vector<SweepPoint> points;        // the runs: each parameter point's replicates in a row
  std::uint64_t fingerprint = 0;         // of everything above: shards of one sweep agree on it

  // Reads a sweep file. `quick` applies its `quick:` section; `extra_overrides` ("key=value", from the
  // command line) are applied to every point after the file's fixed overrides. Bad files throw
  // InputError naming file:line:column and the key.
  static SweepSpec load(const std::string& path, bool quick = false,
                        const std::vector<std::string>& extra_overrides = {});
  // A sweep built in code (e.g. by sllm/sim/capacity.h): each point's swept parameters, in sweep order;
  // keys, seeds (from `seed` and the `seed_by` keys), overrides (`fixed_overrides` first) and the
  // fingerprint are made as load() makes them. An unreadable base config or two points with the same
  // values throw InputError.
  static SweepSpec of_points(const std::string& base_config, std::uint64_t seed, std::vector<std::string> seed_by,
                             const std::vector<std::string>& fixed_overrides,
                             const std::vector<std::vector<std::pair<std::string, std::string>>>& points,
                             std::string source);
};

// Directory-safe key of a point: "name=value" pairs joined by ","; characters outside
// [A-Za-z0-9._=,+-] become '_', and a hash of the exact text is appended when anything was replaced
// or the key is long, so distinct points never share a key.
std::string sweep_point_key(const std::vector<std::pair<std::string, std::string>>& params);
// The point's seed: splitmix64 of the base seed mixed with FNV-1a of "k=v;..." over the seed_by keys
// (documented in docs/paper.md so a point can be re-run alone with `sllmsim run --seed`).
std::uint64_t sweep_point_seed(std::uint64_t base_seed, const std::vector<std::pair<std::string, std::string>>& params,
                               const std::vector<std::string>& seed_by);

// Replicate r's seed from the point's seed (r = 0: the point's seed itself).
std::uint64_t sweep_replicate_seed(std::uint64_t point_seed, std::uint32_t replicate);

// Mean of `samples` and the half-width of its two-sided Student-t interval at `confidence` (NaN
// samples left out; half_width NaN when fewer than two remain).
struct SampleMean {
  double mean = 0;
  double half_width = 0;
  std::size_t n = 0;
};
SampleMean sample_mean(const std::vector<double>& samples, double confidence = 0.95);

// The results.csv header and a run's row (RFC 4180 quoting).
std::string sweep_results_header(const std::vector<std::string>& param_names);
// The metric columns are those of sllm/sim/metrics.h that have a results.csv column.
std::string sweep_results_row(const SweepPoint& point, const RunSummary& summary,
                              const std::vector<std::string>& param_names);
// The "mean" row of a parameter point from its replicates' rows (as sweep_results_row wrote them).
std::string sweep_mean_row(const std::string& header, const std::vector<std::string>& replicate_rows);
// Splits one RFC 4180 line (as the rows above are written) into fields.
std::vector<std::string> csv_fields(const std::string& line);
// A real as the metric table writes it (9 significant digits; "nan", "inf", "-inf"), and back (throws
// std::runtime_error for anything else).
std::string csv_real(double v);
double parse_csv_real(const std::string& text);

// Reads every point's scenario, as run_sweep does before running anything: the first bad one throws an
// InputError naming the point. (Submitting a sweep to a cluster checks it first.)
void check_sweep(const SweepSpec& spec);

// Runs one point into output_dir/points/<key>/ (written as <key>.tmp, renamed when complete) and returns
// its results row; a failure throws (an InputError when the point's scenario is bad). What each worker of
// a distributed sweep does with a point it is handed (sllmsim sweep --mpi).
std::string run_sweep_point(const SweepSpec& spec, const SweepPoint& point, const std::string& output_dir);

// Where a sweep's pending points run. Without one, run_sweep runs them on `jobs` threads of this process;
// `sllmsim sweep --mpi` hands them to the ranks of an MPI job (sim/cli/sweep_mpi.cpp).
class SweepDispatcher {
 public:
  virtual ~SweepDispatcher() = default;
  // Called with (index into spec.points, results row, error): error empty when the point succeeded.
  using Finished = std::function<void(std::size_t, const std::string&, const std::string&)>;
  // Runs every point of `pending` (indices into spec.points) once, here with run_here(index) (which
  // returns the row and throws on failure) or elsewhere with run_sweep_point, and calls `finished` once
  // per point, never twice at the same time. Returns when all have finished.
  virtual void dispatch(const std::vector<std::size_t>& pending, const std::function<std::string(std::size_t)>& run_here,
                        const Finished& finished) = 0;
};

struct SweepOptions {
  std::string output_dir;
  unsigned jobs = 1;
  unsigned shard_index = 0, shard_count = 1;  // run points with index % count == index
  std::ostream* log = nullptr;                // one line per finished point
  SweepDispatcher* dispatcher = nullptr;      // null: `jobs` threads
};

struct SweepOutcome {
  std::size_t planned = 0;  // points of this shard
  std::size_t ran = 0, skipped = 0;
  std::vector<std::string> failures;  // "key: message"
};

// Validates every point of the shard first (an InputError in any point throws before anything runs),
// then runs the missing ones (on `jobs` threads, or through `dispatcher`); writes plan.txt and, when no
// point failed, results.csv (rows of this shard's points in sweep order).
SweepOutcome run_sweep(const SweepSpec& spec, const SweepOptions& options);

// Combines shard directories (same plan fingerprint) into `output_dir`: copies their point directories
// and writes plan.txt and results.csv in sweep order. Missing points are an error unless
// `allow_partial`. Returns the number of points in results.csv.
std::size_t merge_sweeps(const std::vector<std::string>& shard_dirs, const std::string& output_dir,
                         bool allow_partial, std::ostream* log = nullptr);

}  // namespace sllm
