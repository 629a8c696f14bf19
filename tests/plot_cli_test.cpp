// sllmsim plot: a run directory (with and without a time series) and a sweep directory (one run per point,
// and the repeated format with mean rows and 95% intervals) give valid PNG files of a sensible size; bad
// directories and files exit with status 2 naming what is wrong; a missing interpreter or matplotlib is
// explained (status 1).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli_test_util.h"
#include "sim_test_util.h"

namespace sllm {
namespace {

namespace fs = std::filesystem;
using testing::read_text;
using testing::run_sllmsim;
using testing::temp_dir;

constexpr const char* kConfig = R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  servers:
    - count: 2
      gpus: {type: A40, count: 2}
      dram: {capacity: 64 GB}
      ssd: {capacity: 1 TB, read_bandwidth: 6 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  deployments:
    - {model: opt-2.7b, count: 6}
workload:
  kind: synthetic
  requests: 150
  rps: 1.0
  cv: 2
  lengths: gsm8k
policy:
  name: serverlessllm
  keep_alive: {name: fixed, timeout: 10 s}
simulation:
  request_timeout: 20 s
)";

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::uint32_t big_endian32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

// A PNG file (signature, then the IHDR chunk) of a readable size: a figure of a few hundred to a few
// thousand pixels a side, holding more than a blank canvas.
void expect_png(const std::string& path) {
  SCOPED_TRACE(path);
  ASSERT_TRUE(fs::is_regular_file(path));
  const std::string png = read_text(path);
  ASSERT_GT(png.size(), 24u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  const std::uint32_t width = big_endian32(png, 16), height = big_endian32(png, 20);
  EXPECT_GE(width, 500u);
  EXPECT_LE(width, 4000u);
  EXPECT_GE(height, 300u);
  EXPECT_LE(height, 4000u);
  EXPECT_GT(png.size(), 20000u) << "a figure with axes, curves and labels";
  EXPECT_LT(png.size(), 5000000u);
}

std::string make_run(const std::string& name, const std::string& extra) {
  const std::string dir = temp_dir(name);
  write(fs::path(dir) / "config.yaml", kConfig);
  const testing::CliResult r = run_sllmsim("run -c " + dir + "/config.yaml -o " + dir + "/run " + extra);
  EXPECT_EQ(r.status, 0) << r.output;
  return dir + "/run";
}

TEST(PlotCli, RunDirectoryGivesCdfAndOverTimePngs) {
  // With a time series (and timeouts), in the default output directory DIR/plots; without, elsewhere.
  const std::string series = make_run("plot_run_series", "--set 'output.time_series={interval: 10 s}' --set workload.rps=4");
  const testing::CliResult r = run_sllmsim("plot " + series);
  ASSERT_EQ(r.status, 0) << r.output;
  expect_png(series + "/plots/cdf.png");
  expect_png(series + "/plots/over-time.png");
  const std::string plain = make_run("plot_run_plain", "");
  const std::string out = temp_dir("plot_run_png");
  const testing::CliResult p = run_sllmsim("plot " + plain + " -o " + out);
  ASSERT_EQ(p.status, 0) << p.output;
  expect_png(out + "/cdf.png");
  expect_png(out + "/over-time.png");
}

TEST(PlotCli, SweepDirectoryGivesSweepPng) {
  const std::string dir = temp_dir("plot_sweep");
  write(fs::path(dir) / "base.yaml", kConfig);
  write(fs::path(dir) / "sweep.yaml", R"(base: base.yaml
set: {workload.requests: 40}
grid:
  policy.name: [serverlessllm, serverless]
  workload.rps: [0.5, 2, 8]
)");
  ASSERT_EQ(run_sllmsim("sweep -c " + dir + "/sweep.yaml -o " + dir + "/out -q").status, 0);
  const testing::CliResult r = run_sllmsim("plot " + dir + "/out --metric slo_attainment --metric gpu_busy");
  ASSERT_EQ(r.status, 0) << r.output;
  expect_png(dir + "/out/plots/sweep.png");
  EXPECT_EQ(run_sllmsim("plot " + dir + "/out --metric no_such_metric").status, 2);
  const testing::CliResult slice = run_sllmsim("plot " + dir + "/out -o " + dir + "/slice --where policy.name=serverless");
  ASSERT_EQ(slice.status, 0) << slice.output;
  expect_png(dir + "/slice/sweep.png");
  EXPECT_EQ(run_sllmsim("plot " + dir + "/out --where policy.name=nope").status, 2);
  const testing::CliResult x = run_sllmsim("plot " + dir + "/out --x workload.cv");
  EXPECT_EQ(x.status, 2) << x.output;
  EXPECT_NE(x.output.find("not a swept key"), std::string::npos) << x.output;
}

// A sweep that repeats each point (repeat: N): results.csv holds per-seed rows, then each point's mean
// row with the half-widths of 95% intervals in <metric>_ci95 columns, drawn as error bars.
TEST(PlotCli, RepeatedSweepWithIntervals) {
  const std::string dir = temp_dir("plot_repeat");
  write(fs::path(dir) / "base.yaml", kConfig);
  write(fs::path(dir) / "sweep.yaml", R"(base: base.yaml
repeat: 3
set: {workload.requests: 30}
grid:
  policy.name: [serverlessllm, serverless]
  workload.rps: [0.5, 2]
)");
  ASSERT_EQ(run_sllmsim("sweep -c " + dir + "/sweep.yaml -o " + dir + "/out -q").status, 0);
  const std::string results = read_text(dir + "/out/results.csv");
  ASSERT_NE(results.find(",mean,"), std::string::npos) << results;
  ASSERT_NE(results.find("slo_attainment_ci95"), std::string::npos) << results;
  const testing::CliResult r = run_sllmsim("plot " + dir + "/out -o " + dir + "/png");
  ASSERT_EQ(r.status, 0) << r.output;
  expect_png(dir + "/png/sweep.png");
}

TEST(PlotCli, BadDirectoriesAndFilesExitTwo) {
  const std::string empty = temp_dir("plot_empty");
  fs::create_directories(empty);
  struct Case {
    std::string dir, message;
  };
  const std::string bad_rows = temp_dir("plot_bad_rows");
  write(fs::path(bad_rows) / "results.csv", "key,seed,workload.rps,slo_attainment\na,1,0.5,0.9\nb,2,1\n");
  const std::string bad_number = temp_dir("plot_bad_number");
  write(fs::path(bad_number) / "requests.csv", "id,arrival_s,latency_s,ttft_s,outcome\n0,0.5,2.0,1.0,completed\n"
                                               "1,0.7,fast,1.0,completed\n");
  const std::string no_columns = temp_dir("plot_no_columns");
  write(fs::path(no_columns) / "requests.csv", "id,when\n0,1\n");
  const Case cases[] = {
      {temp_dir("plot_missing"), "no such directory"},
      {empty, "neither a run directory"},
      {bad_rows, "results.csv:3: 3 fields, the header has 4"},
      {bad_number, "requests.csv:3: column latency_s: expected a number, found 'fast'"},
      {no_columns, "requests.csv:1: no column arrival_s, latency_s, ttft_s, outcome"},
  };
  for (const Case& c : cases) {
    const testing::CliResult r = run_sllmsim("plot " + c.dir);
    EXPECT_EQ(r.status, 2) << c.dir << ": " << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(c.dir + "/plots")) << "bad input leaves nothing behind";
  }
  const std::string file = empty + "/file.txt";
  write(file, "x");
  EXPECT_EQ(run_sllmsim("plot " + file).status, 2);
}

TEST(PlotCli, MissingPythonOrMatplotlibIsExplained) {
  const std::string run = make_run("plot_nompl", "");
  const testing::CliResult no_python = run_sllmsim("plot " + run, "SLLM_PYTHON=/nonexistent/python3");
  EXPECT_EQ(no_python.status, 1) << no_python.output;
  EXPECT_NE(no_python.output.find("install python3 and python3-matplotlib"), std::string::npos) << no_python.output;
  // A matplotlib that cannot be imported, first on the module path.
  const std::string fake = temp_dir("plot_fake_mpl");
  write(fs::path(fake) / "matplotlib" / "__init__.py", "raise ImportError('no matplotlib here')\n");
  const testing::CliResult no_mpl = run_sllmsim("plot " + run, "PYTHONPATH=" + fake);
  EXPECT_EQ(no_mpl.status, 1) << no_mpl.output;
  EXPECT_NE(no_mpl.output.find("install python3-matplotlib"), std::string::npos) << no_mpl.output;
  EXPECT_FALSE(fs::exists(run + "/plots"));
}

}  // namespace
}  // namespace sllm
