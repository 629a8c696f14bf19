// The extension module sllmsim._sllmsim: runs and sweeps (this file), the policy API and policies written
// in Python (python_policies.cpp), the CSV outputs as NumPy arrays (tables.cpp). The package around it,
// python/sllmsim/__init__.py, is the documented surface (docs/python.md).
#include <algorithm>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "python_policies.h"
#include "sllm/core/build_info.h"
#include "sllm/core/error.h"
#include "sllm/sim/metrics.h"
#include "sllm/sim/scenario.h"
#include "sllm/sim/simulator.h"
#include "sllm/sim/sweep.h"
#include "tables.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace {

// One run, as `sllmsim run` makes it: the config from `path`, or from `text` (named `name`) when the path
// is empty; outputs in `output_dir` (empty: none). Returns summary.json's text.
std::string run_scenario(const std::string& path, const std::string& text, const std::string& name,
                         const std::vector<std::string>& overrides, const std::string& output_dir) {
  const py::gil_scoped_release release;  // Python policies take the lock for each call
  const sllm::Scenario scenario =
      path.empty() ? sllm::Scenario::load_text(text, name, overrides) : sllm::Scenario::load(path, overrides);
  sllm::RunOptions options;
  options.output_dir = output_dir;
  const sllm::RunSummary summary = sllm::Simulator(scenario).run(options);
  sllm::check_requests_arrived(summary, scenario, path.empty() ? name : path);
  return summary.to_json(scenario.output.timing);
}

// A sweep, as `sllmsim sweep` runs it. Returns (points planned, run, skipped as complete, failures).
std::tuple<std::size_t, std::size_t, std::size_t, std::vector<std::string>> run_sweep(
    const std::string& path, bool quick, const std::vector<std::string>& overrides, const std::string& output_dir,
    unsigned jobs) {
  const py::gil_scoped_release release;
  const sllm::SweepSpec spec = sllm::SweepSpec::load(path, quick, overrides);
  sllm::SweepOptions options;
  options.output_dir = output_dir;
  options.jobs = jobs > 0 ? jobs : std::max(1u, std::thread::hardware_concurrency());
  const sllm::SweepOutcome outcome = sllm::run_sweep(spec, options);
  return {outcome.planned, outcome.ran, outcome.skipped, outcome.failures};
}

// results.csv's columns that hold text whatever they look like (a fingerprint may be all digits).
std::vector<std::string> results_text_columns() {
  std::vector<std::string> out{"key"};
  for (const sllm::Metric& m : sllm::metrics()) {
    if (m.kind == sllm::Metric::Kind::kText && !m.column.empty()) out.emplace_back(m.column);
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(_sllmsim, m) {
  m.doc() = "sllmsim's simulator; use the sllmsim package (docs/python.md)";
  static auto& input_error = py::register_exception<sllm::InputError>(m, "InputError", PyExc_ValueError);
  py::register_exception<sllm::python::PolicyError>(m, "PolicyError", PyExc_RuntimeError);
  sllm::python::bind_policy_api(m, input_error);

  m.def("version", [] { return std::string(sllm::version()); });
  m.def("build_id", [] { return sllm::build_id(); }, "FNV-1a 64 of this module's file, as in summary.json");
  m.def("run", &run_scenario, "path"_a, "text"_a, "name"_a, "overrides"_a, "output_dir"_a);
  m.def("sweep", &run_sweep, "path"_a, "quick"_a, "overrides"_a, "output_dir"_a, "jobs"_a);
  m.def(
      "read_table",
      [](const std::string& path, const std::vector<std::string>& text_columns, const std::string& where_column,
         const std::string& where_value, bool where_equal) {
        return sllm::python::read_table(path, text_columns, {where_column, where_value, where_equal});
      },
      "path"_a, "text_columns"_a = std::vector<std::string>(), "where_column"_a = "", "where_value"_a = "",
      "where_equal"_a = true);
  m.attr("RESULTS_TEXT_COLUMNS") = results_text_columns();
}
